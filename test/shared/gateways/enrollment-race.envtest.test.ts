/**
 * One enrollment token, used at the same time: through the real use-cases and the real Kubernetes adapter
 * on a real kube-apiserver, and over the sandbox's embedded cluster. Every round exactly one use enrolls,
 * the others get the one 401, and the gateway holds exactly one client of the reserved name; a use racing
 * the enrollment's revocation ends as one of the two serial orders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, UnauthenticatedError } from '../../../shared/errors.js';
import { issueClient, listClients } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import {
  createEnrollment,
  enrollBranch,
  getEnrollment,
  invalidEnrollmentToken,
  revokeEnrollment,
} from '../../../shared/gateways/enrollments.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { depsOver, startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';
import { opensslCsr } from '../../support/openssl-csr.js';

const ROUNDS = 12;
const USES = 4;

const BACKENDS: readonly { name: string; start: () => Promise<ClusterBackend> }[] = [
  { name: 'real kube-apiserver', start: startKubeApiserverBackend },
  { name: 'embedded cluster', start: () => startEmbeddedBackend('avg-enroll-race-') },
];

const dir = mkdtempSync(join(tmpdir(), 'enroll-race-'));
const csrs = Array.from(
  { length: USES },
  (_, i) => opensslCsr(dir, `branch-${i}`, i % 2 ? 'ec' : 'rsa').csrPem,
);

type Outcome = 'enrolled' | 'unauthenticated' | 'revoked' | 'conflict';

async function outcome(run: Promise<unknown>, ok: Outcome): Promise<Outcome> {
  try {
    await run;
    return ok;
  } catch (e: unknown) {
    if (e instanceof UnauthenticatedError) {
      expect(e).toStrictEqual(invalidEnrollmentToken());
      return 'unauthenticated';
    }
    if (e instanceof ConflictError) return 'conflict';
    throw e;
  }
}

describe.each(BACKENDS)('one token, concurrent uses ($name)', ({ start }) => {
  let backend: ClusterBackend;
  let deps: GatewayDeps;

  beforeAll(async () => {
    backend = await start();
    deps = depsOver(backend.cluster);
    await putGateway(deps, 'race', { routes: ['10.0.0.0/16'], publicHost: 'vpn.example.net' });
  }, 300_000);

  afterAll(async () => {
    await backend?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`lets exactly one of ${USES} concurrent uses enroll, every round, and a POST of the name never wins`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const name = `branch-${round}`;
      const { enrollment, token } = await createEnrollment(deps, 'race', {
        client: name,
        expiresInMinutes: 60,
      });
      const outcomes = await Promise.all([
        ...csrs.map((csr) =>
          outcome(enrollBranch(deps, { token, csr: () => Promise.resolve(csr) }), 'enrolled'),
        ),
        outcome(issueClient(deps, 'race', { name }), 'enrolled'),
      ]);
      expect([round, outcomes.slice(0, USES).filter((o) => o === 'enrolled').length]).toStrictEqual([
        round,
        1,
      ]);
      expect(outcomes.slice(0, USES).filter((o) => o !== 'enrolled')).toStrictEqual(
        Array(USES - 1).fill('unauthenticated'),
      );
      // The name was reserved, then taken by the enrolled client: a POST of it is refused either way.
      expect(outcomes[USES]).toBe('conflict');
      const clients = (await listClients(deps, 'race')).filter((c) => c.name === name);
      expect(clients.map((c) => [c.status, c.ip])).toStrictEqual([['active', enrollment.ip]]);
      expect((await getEnrollment(deps, 'race', enrollment.id)).status).toBe('used');
    }
  });

  it('ends a use racing the revocation of its enrollment as one of the two serial orders, every round', async () => {
    const orders = new Set<string>();
    for (let round = 0; round < ROUNDS; round += 1) {
      const name = `revoked-${round}`;
      const { enrollment, token } = await createEnrollment(deps, 'race', {
        client: name,
        expiresInMinutes: 60,
      });
      // The revocation starts once the use has read its CSR, a little later each round (0-22 ms), so its
      // write lands before, during or after the use's signing and write.
      let csrRead: () => void = () => undefined;
      const useReadCsr = new Promise<void>((resolve) => (csrRead = resolve));
      const [enrolled, revoked] = await Promise.all([
        outcome(
          enrollBranch(deps, {
            token,
            csr: () => {
              csrRead();
              return Promise.resolve(csrs[0]!);
            },
          }),
          'enrolled',
        ),
        outcome(
          useReadCsr
            .then(() => new Promise((resolve) => setTimeout(resolve, round * 2)))
            .then(() => revokeEnrollment(deps, 'race', enrollment.id)),
          'revoked',
        ),
      ]);
      const clients = (await listClients(deps, 'race')).filter((c) => c.name === name);
      if (enrolled === 'enrolled') {
        // the use came first: the revocation is refused (the client exists and is revoked on its own)
        expect([revoked, clients.length]).toStrictEqual(['conflict', 1]);
        orders.add('enroll, then revoke');
      } else {
        // the revocation came first: the token is refused and nothing was issued
        expect([enrolled, revoked, clients.length]).toStrictEqual(['unauthenticated', 'revoked', 0]);
        orders.add('revoke, then enroll');
      }
    }
    console.log(`serial orders seen: ${[...orders].join(' | ')}`);
    expect(orders.size).toBeGreaterThan(0);
  });
});
