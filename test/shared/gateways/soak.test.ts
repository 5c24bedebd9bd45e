/**
 * The soak: at least 500 random operations through the use-cases (create, update and delete gateways,
 * issue with generated keys and CSRs, revoke, force-revoke mapped clients, replace port mappings, restart,
 * profile reads), a few at a time, over the real embedded cluster and the real directory secret store
 * wrapped in fault injectors (409, 429, 500, connection reset, timeout; before a call or after its
 * effect), with the in-process operations runner carrying out provisioning, rolls and deletions through
 * the same faulty ports. A failed operation is repeated as a caller would (a few times while faults go
 * on, then until answered once they stop); then every invariant of test/support/invariants.ts must hold
 * and no acknowledged operation may be lost. Seeded (`SOAK_SEED` replays, `SOAK_OPERATIONS` sets the
 * count, default 500).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import type { Logger } from '../../../shared/logging.js';
import { DirectorySecretStore } from '../../../shared/secrets/directory-store.js';
import { EmbeddedCluster } from '../../../sandbox/embedded-cluster.js';
import { InProcessOperations } from '../../../sandbox/in-process-operations.js';
import { SANDBOX_CIDRS } from '../../../sandbox/main.js';
import {
  FAULT_KINDS,
  FaultInjector,
  FaultyCluster,
  FaultySecretStore,
} from '../../support/fault-injection.js';
import type { InvariantName } from '../../support/invariants.js';
import { INVARIANTS, checkInvariants, countByInvariant } from '../../support/invariants.js';
import type { SeededRandom } from '../../support/seeded-random.js';
import { opensslCsr } from '../../support/openssl-csr.js';
import { runSoak } from '../../support/soak-driver.js';
import { seedFrom, seededRandom } from '../../support/seeded-random.js';

const OPERATIONS = Number(process.env['SOAK_OPERATIONS'] ?? 500);
const SEED = seedFrom(process.env['SOAK_SEED']);
/** Probability that a port call fails. */
const FAULT_RATE = 0.04;
/** Every invariant is enforced (the list is printed with the figures). */
const ENFORCED: ReadonlySet<InvariantName> = new Set(INVARIANTS);

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir = '';
let csrPem = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'avg-soak-'));
  csrPem = opensslCsr(dir, 'branch', 'ec').csrPem;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('use-cases under injected faults at the cluster and secret-store ports', () => {
  it('keeps every invariant and every acknowledged operation after 500 random operations', async () => {
    const started = Date.now();
    const rng: SeededRandom = seededRandom(SEED);
    const faults = new FaultInjector(seededRandom(SEED + 1), FAULT_RATE);
    const config = loadConfig({});
    const clusterDir = join(dir, 'cluster');
    const secretsDir = join(dir, 'secrets');
    const embedded = await EmbeddedCluster.open({
      dataDir: clusterDir,
      delayMs: 20,
    });
    const operations = new InProcessOperations({
      // Called once operations run, after `deps` below exists.
      deps: () => deps,
      timing: { pollSeconds: 0.05, timeoutSeconds: 30, activityAttempts: 6, retryDelaySeconds: 0.02 },
      log: silent,
    });
    const deps: GatewayDeps = {
      cluster: new FaultyCluster(embedded, faults),
      secrets: new FaultySecretStore(new DirectorySecretStore({ directory: secretsDir }), faults),
      clusterInfo: { describe: () => Promise.resolve({ ...SANDBOX_CIDRS, notes: [] }) },
      operations,
      config,
      clock: () => new Date(),
      log: silent,
    };
    console.log(`soak: seed ${SEED} (SOAK_SEED=${SEED} replays it), ${OPERATIONS} operations`);

    const { ledger, planned, calls, failedAttempts, unexpected, unanswered } = await runSoak({
      deps,
      faults,
      rng,
      operations: OPERATIONS,
      csrPem,
      runner: operations,
    });
    await operations.drain();

    const violations = await checkInvariants({
      cluster: embedded,
      labelDomain: config.LABEL_DOMAIN,
      secretsDir,
      tmpDirs: [clusterDir],
      acknowledged: ledger,
    });
    await embedded.close();
    console.log(
      [
        `soak figures (seed ${SEED}): ${planned} operations planned, ${calls} use-case calls ` +
          `(${failedAttempts} failed attempts), ${ledger.count} acknowledged writes, ` +
          `${faults.total} faults injected (${FAULT_KINDS.map((k) => `${k}: ${faults.counts[k]}`).join(', ')}; ` +
          `${faults.afterEffect} after the call's effect), ${violations.length} violations, ` +
          `${((Date.now() - started) / 1000).toFixed(0)} s`,
        `violations by invariant: ${JSON.stringify(countByInvariant(violations))} (enforced: ${[...ENFORCED].join(', ')})`,
        ...violations.map((v) => `  [${v.invariant}] ${v.gateway}: ${v.detail}`),
        `answers other than success: ${unexpected.length}`,
        ...unexpected.map((u) => `  ${u}`),
      ].join('\n'),
    );
    expect(unanswered).toStrictEqual([]);
    expect(planned).toBeGreaterThanOrEqual(OPERATIONS);
    expect(faults.total).toBeGreaterThan(0);
    expect(violations.filter((v) => ENFORCED.has(v.invariant))).toStrictEqual([]);
  }, 600_000);
});
