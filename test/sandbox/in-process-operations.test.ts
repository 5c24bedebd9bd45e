import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import { deleteGateway, getGateway, putGateway, restartGateway } from '../../shared/gateways/gateways.js';
import { issueClient } from '../../shared/gateways/clients.js';
import { replacePortMappings } from '../../shared/gateways/port-mappings.js';
import type { Logger } from '../../shared/logging.js';
import { rolloutComplete } from '../../shared/model/cluster-port.js';
import { makeActivities } from '../../shared/operations/activities.js';
import { InProcessOperations } from '../../sandbox/in-process-operations.js';
import { ACTIVITY } from '../../shared/operations/orchestrators.js';
import { readLedger, updateLedger } from '../../shared/operations/roll-ledger.js';
import type { Operation } from '../../shared/model/operations-port.js';
import type { LedgerStore } from '../../shared/operations/roll-ledger.js';
import { EmbeddedCluster } from '../../sandbox/embedded-cluster.js';
import { DirectorySecretStore } from '../../shared/secrets/directory-store.js';
import { eventually } from '../shared/kube/cluster-contract.js';

const timing = { pollSeconds: 0.1, timeoutSeconds: 3, activityAttempts: 3, retryDelaySeconds: 0.05 };
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let cluster: EmbeddedCluster;
let dir: string;
let deps: GatewayDeps;
let operations: InProcessOperations;
let ledgerStore: LedgerStore;

async function settled(id: string): Promise<Operation> {
  await operations.drain();
  const op = await operations.getOperation(id);
  if (!op) throw new Error(`no operation ${id}`);
  return op;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ops-'));
  cluster = await EmbeddedCluster.open({
    dataDir: join(dir, 'cluster'),
    delayMs: 100,
  });
  const config = loadConfig({});
  const base = {
    cluster,
    secrets: new DirectorySecretStore({ directory: join(dir, 'secrets') }),
    clusterInfo: {
      describe: () => Promise.resolve({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16', notes: [] }),
    },
    config,
    clock: () => new Date(),
    log: quiet,
  };
  operations = new InProcessOperations({ deps: () => deps, timing, dataDir: join(dir, 'ops'), log: quiet });
  deps = { ...base, operations };
  ledgerStore = { cluster, labelDomain: config.LABEL_DOMAIN };
});
afterAll(async () => {
  await operations?.drain();
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('InProcessOperations with the real orchestrators and activities over the embedded cluster', () => {
  it('provisions a gateway until its load balancer has an address', async () => {
    const { operationId } = await putGateway(deps, 'ops-gw', {});
    const op = await settled(operationId!);
    expect(op).toMatchObject({ kind: 'provision', gateway: 'ops-gw', status: 'Succeeded' });
    expect((await getGateway(deps, 'ops-gw')).status.address).toMatch(/^203\.0\.113\./);
    // the first rollout completes on the sandbox's own schedule: wait for it, bounded
    const view = await eventually(
      () => getGateway(deps, 'ops-gw'),
      (g) => g.status.phase === 'Ready',
    );
    expect(view.status.phase).toBe('Ready');
  });

  it('applies new port mappings without a roll; the LRO succeeds once the (simulated) pod reports the set', async () => {
    await issueClient(deps, 'ops-gw', { name: 'branch-a' });
    const before = await deps.cluster.readRollout('vpn-ops-gw', 'openvpn');
    const { operationId } = await replacePortMappings(deps, 'ops-gw', [
      { port: 8081, client: 'branch-a', targetPort: 80, protocol: 'tcp' },
    ]);
    const op = await settled(operationId);
    expect(op).toMatchObject({ status: 'Succeeded', kind: 'live-apply' });
    const after = await deps.cluster.readRollout('vpn-ops-gw', 'openvpn');
    expect(after.generation).toBe(before.generation);
    expect(after.templateAnnotations).toStrictEqual(before.templateAnnotations);
  });

  it('joins a second request for the same gateway into the running roll', async () => {
    const first = await restartGateway(deps, 'ops-gw');
    const second = await restartGateway(deps, 'ops-gw');
    expect(second.operationId).toBe(first.operationId);
    expect((await settled(first.operationId)).status).toBe('Succeeded');
  });

  it('rolls out a change that joined after the roll read the desired configuration for the last time', async () => {
    // The roll's activities see the cluster through a wrapper: the second read of the `state` ConfigMap
    // is the roll's last desired-configuration read; a spec change (a pushed route more) lands right after it.
    let stateReads = 0;
    let injected: Promise<unknown> | undefined;
    const rollCluster = Object.create(deps.cluster) as GatewayDeps['cluster'];
    rollCluster.readConfigMap = async (ns, name) => {
      const read = await deps.cluster.readConfigMap(ns, name);
      if (name === 'state' && ++stateReads === 2)
        await (injected = putGateway(local, 'ops-gw', { extraRoutes: ['10.77.0.0/16'] }));
      return read;
    };
    const ops = new InProcessOperations({
      deps: () => ({ ...local, cluster: rollCluster }),
      timing,
      log: quiet,
    });
    const local: GatewayDeps = { ...deps, operations: ops };

    const { operationId } = await restartGateway(local, 'ops-gw');
    await ops.drain();
    expect(await injected).toMatchObject({ operationId });
    expect((await ops.getOperation(operationId))?.status).toBe('Succeeded');
    const desired = await makeActivities(local)[ACTIVITY.desiredConfigHash]!('ops-gw');
    const deployed = await deps.cluster.readRollout('vpn-ops-gw', 'openvpn');
    expect(deployed.templateAnnotations['vpn.aks-gateways.io/config-hash']).toBe(desired);
    expect(rolloutComplete(deployed)).toBe(true);
  });

  it('a restart that joins a running roll still ends with a pod started after it was asked for', async () => {
    const restartedAt = async () =>
      (await deps.cluster.readRollout('vpn-ops-gw', 'openvpn')).templateAnnotations[
        'kubectl.kubernetes.io/restartedAt'
      ];
    const before = await restartedAt();
    const first = await restartGateway(deps, 'ops-gw');
    // GIVEN the first roll has patched its pod template and is waiting for the rollout
    const firstStamp = await eventually(restartedAt, (v) => v !== before);
    const askedAt = Date.now();
    // WHEN a second restart arrives while it runs
    const second = await restartGateway(deps, 'ops-gw');
    expect(second.operationId).toBe(first.operationId);
    expect((await settled(first.operationId)).status).toBe('Succeeded');
    // THEN the pod template was restarted again, at or after the second request
    const finalStamp = await restartedAt();
    expect(finalStamp).not.toBe(firstStamp);
    expect(Date.parse(finalStamp ?? '')).toBeGreaterThanOrEqual(askedAt);
  });

  it('takes over the roll ledger of a roll the host was running when it stopped', async () => {
    // GIVEN a roll that owned the ledger when the host stopped (its record says Running on disk)
    const first = await restartGateway(deps, 'ops-gw');
    const owned = await readLedger(ledgerStore, 'ops-gw');
    expect(owned.ledger.running).toBe(first.operationId);
    await operations.drain();
    await updateLedger(ledgerStore, 'ops-gw', (l) => ({ ...l, running: first.operationId }));
    const records = JSON.parse(readFileSync(join(dir, 'ops', 'operations.json'), 'utf8')) as Operation[];
    writeFileSync(
      join(dir, 'ops', 'operations.json'),
      JSON.stringify(records.map((r) => (r.id === first.operationId ? { ...r, status: 'Running' } : r))),
    );
    // WHEN the host starts again and a request comes
    const restarted = new InProcessOperations({
      deps: () => local,
      timing,
      dataDir: join(dir, 'ops'),
      log: quiet,
    });
    const local: GatewayDeps = { ...deps, operations: restarted };
    expect(await restarted.getOperation(first.operationId)).toMatchObject({
      status: 'Failed',
      error: { code: 'interrupted' },
    });
    const second = await restartGateway(local, 'ops-gw');
    // THEN it takes the ledger over with a roll of its own, which rolls and releases it
    expect(second.operationId).not.toBe(first.operationId);
    await restarted.drain();
    expect(await restarted.getOperation(second.operationId)).toMatchObject({ status: 'Succeeded' });
    const released = (await readLedger(ledgerStore, 'ops-gw')).ledger;
    expect(released.running).toBeUndefined();
    expect(released.rolled).toBe(released.requested);
  });

  it('resumes a roll interrupted by a restart without waiting for another request', async () => {
    // GIVEN a ledger owned by a roll the host was running when it stopped, with a request not rolled out
    await updateLedger(ledgerStore, 'ops-gw', (l) => ({
      ...l,
      requested: l.requested + 1,
      running: 'roll-ops-gw-interrupted',
    }));
    const records = JSON.parse(readFileSync(join(dir, 'ops', 'operations.json'), 'utf8')) as Operation[];
    const now = new Date().toISOString();
    writeFileSync(
      join(dir, 'ops', 'operations.json'),
      JSON.stringify([
        ...records,
        {
          id: 'roll-ops-gw-interrupted',
          kind: 'roll',
          gateway: 'ops-gw',
          status: 'Running',
          createdAt: now,
          lastUpdatedAt: now,
        },
      ]),
    );
    // WHEN the host starts again and the timer runs (the sandbox runs it at start)
    const restarted = new InProcessOperations({
      deps: () => local,
      timing,
      dataDir: join(dir, 'ops'),
      log: quiet,
    });
    const local: GatewayDeps = { ...deps, operations: restarted };
    const resumed = await restarted.resumeRoll('ops-gw');
    // THEN a roll of its own takes the ledger over and rolls everything requested
    expect(resumed).toMatch(/^roll-ops-gw-[0-9a-f]{12}$/);
    await restarted.drain();
    expect(await restarted.getOperation(resumed!)).toMatchObject({ status: 'Succeeded' });
    const released = (await readLedger(ledgerStore, 'ops-gw')).ledger;
    expect(released.running).toBeUndefined();
    expect(released.rolled).toBe(released.requested);
    // and nothing more is owed
    expect(await restarted.resumeRoll('ops-gw')).toBeUndefined();
  });

  it('rolls back and reports Failed when the new pod never becomes ready', async () => {
    const before = await deps.cluster.readRollout('vpn-ops-gw', 'openvpn');
    cluster.failNewPods();
    try {
      const { operationId } = await restartGateway(deps, 'ops-gw');
      const op = await settled(operationId);
      expect(op.status).toBe('Failed');
      expect(op.error?.message).toMatch(/rolled back/);
    } finally {
      cluster.failNewPods(false);
    }
    const restored = await deps.cluster.readRollout('vpn-ops-gw', 'openvpn');
    expect(restored.templateAnnotations).toStrictEqual(before.templateAnnotations);
  });

  it('deletes the namespace and then the secrets', async () => {
    const { operationId } = await deleteGateway(deps, 'ops-gw');
    expect((await settled(operationId)).status).toBe('Succeeded');
    expect(await deps.cluster.namespaceExists('vpn-ops-gw')).toBe(false);
    expect(await deps.secrets.getCa('ops-gw')).toBeUndefined();
  });

  it('keeps records across a restart', async () => {
    const { operationId } = await putGateway(deps, 'ops-gw2', {});
    await settled(operationId!);
    const reopened = new InProcessOperations({
      deps: () => deps,
      timing,
      dataDir: join(dir, 'ops'),
      log: quiet,
    });
    expect(await reopened.getOperation(operationId!)).toMatchObject({ id: operationId, status: 'Succeeded' });
  });

  it('has an operation on disk before it answers its id, so a kill right after the answer keeps it', async () => {
    // GIVEN a gateway; WHEN a restart is asked for (its id is what the 202 answers)
    await putGateway(deps, 'ops-gw3', {});
    await operations.drain();
    const id = await operations.startRoll({ gateway: 'ops-gw3', reason: 'restart', force: true });
    // THEN the record is already in the file a new process reads (no waiting for background saves)
    const saved = JSON.parse(readFileSync(join(dir, 'ops', 'operations.json'), 'utf8')) as Operation[];
    expect(saved.map((o) => o.id)).toContain(id);
    await operations.drain();
  });
});
