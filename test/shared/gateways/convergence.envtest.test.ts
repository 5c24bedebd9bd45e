/**
 * Every multi-step client operation converges: an issue or a revocation is stopped at every step
 * boundary (its k-th write to the cluster or the secret store fails, before or after reaching it, and so
 * does every write after it, as when the process dies), then either the caller retries or the reconciler
 * runs without the caller. Afterwards the README's invariants hold, and a retried issue answers with the
 * serial and address it had reserved. Over the sandbox's embedded cluster every case; over the real
 * kube-apiserver (as the RBAC-restricted user) the retried issue and the reconciled revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { ConflictError, NotFoundError } from '../../../shared/errors.js';
import { getClient, issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { findState } from '../../../shared/gateways/gateway-state.js';
import { UNSTARTED_DELETION_MINUTES, deleteGateway, putGateway } from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import { reconcileGateway } from '../../../shared/gateways/reconcile.js';
import type { Logger } from '../../../shared/logging.js';
import type { ClusterPort } from '../../../shared/model/cluster-port.js';
import type { ClientRecord } from '../../../shared/model/gateway.js';
import { MemorySecretStore } from '../../fakes/memory-secret-store.js';
import { RecordingOperations } from '../../fakes/recording-operations.js';
import { InProcessOperations } from '../../../sandbox/in-process-operations.js';
import type { CrashPoint } from '../../fakes/step-faults.js';
import { StepCrash, StepFaults } from '../../fakes/step-faults.js';
import { clientInvariantViolations } from '../../support/client-invariants.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';

const GATEWAY = 'conv';
const POINTS: readonly CrashPoint[] = ['before', 'after'];
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

type Backend = ClusterBackend;

type Case =
  | 'issue-retry'
  | 'issue-reconcile'
  | 'revoke-retry'
  | 'revoke-reconcile'
  | 'read'
  | 'create-retry'
  | 'create-reconcile'
  | 'update-retry'
  | 'delete-retry'
  | 'delete-reconcile';

const BACKENDS: readonly { name: string; cases: readonly Case[]; start: () => Promise<Backend> }[] = [
  {
    name: 'embedded cluster',
    cases: [
      'issue-retry',
      'issue-reconcile',
      'revoke-retry',
      'revoke-reconcile',
      'read',
      'create-retry',
      'create-reconcile',
      'update-retry',
      'delete-retry',
      'delete-reconcile',
    ],
    start: () => startEmbeddedBackend('avg-convergence-'),
  },
  {
    name: 'real kube-apiserver',
    cases: ['issue-retry', 'revoke-reconcile'],
    start: startKubeApiserverBackend,
  },
];

describe.each(BACKENDS)('convergence after a crash at every step ($name)', ({ start, cases }) => {
  let backend: Backend;
  let deps: GatewayDeps;
  let ports: { cluster: ClusterPort; secrets: MemorySecretStore };
  const faults = new StepFaults();
  const operations = new RecordingOperations();
  let round = 0;
  let clockOffsetMs = 0;
  const nextName = (prefix: string) => `${prefix}-${(round += 1)}`;
  /** Registers the case only on the backends that run it (a skipped test counts as a failure). */
  const test =
    (c: Case) =>
    (title: string, fn: () => Promise<void>, timeout?: number): void => {
      if (cases.includes(c)) it(title, fn, timeout);
    };

  beforeAll(async () => {
    backend = await start();
    ports = { cluster: backend.cluster, secrets: new MemorySecretStore() };
    deps = {
      cluster: faults.cluster(ports.cluster),
      secrets: faults.secrets(ports.secrets),
      clusterInfo: { describe: () => Promise.resolve({ notes: [] }) },
      operations,
      config: loadConfig({}),
      clock: () => new Date(Date.now() + clockOffsetMs),
      log: quiet,
    };
    await putGateway(deps, GATEWAY, { routes: ['10.0.0.0/16'], publicHost: '203.0.113.10' });
  }, 300_000);

  afterAll(async () => {
    await backend?.stop();
  });

  const record = async (name: string): Promise<ClientRecord | undefined> =>
    (await findState(ports.cluster, GATEWAY))?.clients.find((c) => c.name === name);

  /** How many writes the operation makes when nothing fails. */
  async function stepsOf(run: () => Promise<unknown>): Promise<number> {
    faults.count();
    await run();
    return faults.writes.length;
  }

  /** Runs `op` with its k-th write crashing; the crash must surface (no half-done success). */
  async function crashAt(k: number, point: CrashPoint, op: () => Promise<unknown>): Promise<void> {
    faults.arm(k, point);
    await expect(op()).rejects.toBeInstanceOf(StepCrash);
    expect(faults.hasCrashed).toBe(true);
    faults.disarm();
  }

  async function expectInvariants(): Promise<void> {
    expect(await clientInvariantViolations(ports, GATEWAY)).toStrictEqual([]);
  }

  /** A client with a port mapping on it, revoked with force: the revocation has every step. */
  async function mappedClient(): Promise<string> {
    const name = nextName('r');
    await issueClient(deps, GATEWAY, { name });
    await replacePortMappings(deps, GATEWAY, [
      { port: 9000 + round, client: name, targetPort: 22, protocol: 'tcp' },
    ]);
    return name;
  }

  test('issue-retry')(
    'completes an interrupted issue on a retry of the same request, with the reserved serial and address',
    async () => {
      const steps = await stepsOf(() => issueClient(deps, GATEWAY, { name: nextName('probe') }));
      expect(steps).toBeGreaterThanOrEqual(4);
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = nextName(`i${point[0]}${k}`);
          await crashAt(k, point, () => issueClient(deps, GATEWAY, { name }));
          const recorded = await record(name);
          if (recorded?.status === 'active') {
            // Only the answer was lost: the name is the caller's complete client (409 says it exists).
            await expect(issueClient(deps, GATEWAY, { name })).rejects.toBeInstanceOf(ConflictError);
          } else {
            const again = await issueClient(deps, GATEWAY, { name });
            expect(again.status).toBe('active');
            if (recorded) expect([again.serial, again.ip]).toStrictEqual([recorded.serial, recorded.ip]);
            else expect([k, point]).toStrictEqual([1, 'before']);
          }
          await expectInvariants();
        }
    },
    300_000,
  );

  test('issue-reconcile')(
    'completes an interrupted issue without the caller when the reconciler runs',
    async () => {
      const steps = await stepsOf(() => issueClient(deps, GATEWAY, { name: nextName('probe') }));
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = nextName(`c${point[0]}${k}`);
          await crashAt(k, point, () => issueClient(deps, GATEWAY, { name }));
          const recorded = await record(name);
          const report = await reconcileGateway(deps, GATEWAY);
          expect(report.errors).toStrictEqual([]);
          const after = await record(name);
          if (recorded)
            expect(after).toMatchObject({ serial: recorded.serial, ip: recorded.ip, status: 'active' });
          else expect(after).toBeUndefined();
          await expectInvariants();
        }
    },
    300_000,
  );

  test('revoke-retry')(
    'completes an interrupted revocation on a repeated DELETE',
    async () => {
      const probe = await mappedClient();
      const steps = await stepsOf(() => revokeClient(deps, GATEWAY, probe, { force: true }));
      expect(steps).toBeGreaterThanOrEqual(6);
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = await mappedClient();
          await crashAt(k, point, () => revokeClient(deps, GATEWAY, name, { force: true }));
          const again = await revokeClient(deps, GATEWAY, name, { force: true });
          expect(again.status).toBe('revoked');
          await expectInvariants();
        }
    },
    300_000,
  );

  test('revoke-reconcile')(
    'completes an interrupted revocation without the caller when the reconciler runs',
    async () => {
      const probe = await mappedClient();
      const steps = await stepsOf(() => revokeClient(deps, GATEWAY, probe, { force: true }));
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = await mappedClient();
          await crashAt(k, point, () => revokeClient(deps, GATEWAY, name, { force: true }));
          const recorded = await record(name);
          const report = await reconcileGateway(deps, GATEWAY);
          expect(report.errors).toStrictEqual([]);
          // Once the intent is recorded the revocation completes; before it, the client stays active.
          expect((await record(name))?.status).toBe(recorded?.status === 'active' ? 'active' : 'revoked');
          await expectInvariants();
        }
    },
    300_000,
  );

  test('read')('completes a half-done issue and a half-done revocation when the client is read', async () => {
    const issued = nextName('g');
    await crashAt(1, 'after', () => issueClient(deps, GATEWAY, { name: issued }));
    const pending = await record(issued);
    expect(pending?.status).toBe('pending');
    expect(await getClient(deps, GATEWAY, issued)).toMatchObject({
      serial: pending?.serial,
      status: 'active',
    });
    const revoked = await mappedClient();
    await crashAt(1, 'after', () => revokeClient(deps, GATEWAY, revoked, { force: true }));
    expect((await record(revoked))?.status).toBe('revoking');
    expect((await getClient(deps, GATEWAY, revoked)).status).toBe('revoked');
    await expectInvariants();
  });

  /** A gateway is whole: its CA, the server PKI signed by that CA, its Deployment; and it issues a client. */
  async function expectWholeGateway(name: string): Promise<void> {
    const ca = await ports.secrets.getCa(name);
    const pki = await ports.cluster.readSecret(`vpn-${name}`, 'server-pki');
    expect(ca?.certPem).toBeDefined();
    expect(pki?.data['ca.crt']).toBe(ca?.certPem);
    await expect(ports.cluster.readRollout(`vpn-${name}`, 'openvpn')).resolves.toBeDefined();
    expect((await issueClient(deps, name, { name: 'first' })).status).toBe('active');
    expect(await clientInvariantViolations(ports, name)).toStrictEqual([]);
  }

  const createSpec = { routes: ['10.0.0.0/16'], publicHost: '203.0.113.10' };

  test('create-retry')(
    'completes an interrupted gateway creation on a repeated PUT',
    async () => {
      const steps = await stepsOf(() => putGateway(deps, nextName('gp'), createSpec));
      expect(steps).toBeGreaterThanOrEqual(4);
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = nextName(`g${point[0]}${k}`);
          await crashAt(k, point, () => putGateway(deps, name, createSpec));
          await putGateway(deps, name, createSpec);
          await expectWholeGateway(name);
        }
    },
    300_000,
  );

  test('update-retry')(
    'rolls out a gateway change interrupted before its roll when the same PUT is repeated',
    async () => {
      const name = nextName('gu');
      await putGateway(deps, name, createSpec);
      const rolls = () =>
        operations.started.filter((o) => o.kind === 'roll' && o.request.gateway === name).length;
      let port = 1200;
      const steps = await stepsOf(() => putGateway(deps, name, { ...createSpec, port: (port += 1) }));
      expect(steps).toBeGreaterThanOrEqual(2);
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const change = { ...createSpec, port: (port += 1) };
          await crashAt(k, point, () => putGateway(deps, name, change));
          const before = rolls();
          // WHEN the caller repeats the PUT that failed
          const again = await putGateway(deps, name, change);
          // THEN the change is recorded and a roll of it is requested
          expect(again.gateway.port).toBe(change.port);
          expect(rolls()).toBe(before + 1);
        }
    },
    300_000,
  );

  test('create-reconcile')(
    'completes an interrupted gateway creation without the caller once it is old enough',
    async () => {
      const steps = await stepsOf(() => putGateway(deps, nextName('gp'), createSpec));
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = nextName(`h${point[0]}${k}`);
          await crashAt(k, point, () => putGateway(deps, name, createSpec));
          const recorded = await findState(ports.cluster, name);
          clockOffsetMs = 11 * 60_000;
          try {
            expect((await reconcileGateway(deps, name)).errors).toStrictEqual([]);
          } finally {
            clockOffsetMs = 0;
          }
          // Without a recorded state there was no gateway yet: the name is free for a PUT.
          if (!recorded) expect((await putGateway(deps, name, createSpec)).created).toBe(true);
          await expectWholeGateway(name);
        }
    },
    300_000,
  );

  /**
   * The deletion's own dependencies: its operation runs for real (the orchestrator and its activities,
   * in process, one attempt per activity), through the same faulted ports as the request.
   */
  const deletion: { ops: InProcessOperations; deps: () => GatewayDeps } = {
    ops: new InProcessOperations({
      deps: () => deletion.deps(),
      timing: { pollSeconds: 0.05, timeoutSeconds: 5, activityAttempts: 1, retryDelaySeconds: 0.05 },
      log: quiet,
    }),
    deps: (): GatewayDeps => ({ ...deps, operations: deletion.ops }),
  };

  /** A gateway with an active and a revoked client: its deletion has every secret to delete. */
  async function doomedGateway(d: GatewayDeps): Promise<string> {
    const name = nextName('d');
    await putGateway(d, name, createSpec);
    await issueClient(d, name, { name: 'kept' });
    await issueClient(d, name, { name: 'gone' });
    await revokeClient(d, name, 'gone');
    return name;
  }

  /** DELETE and wait for its operation; the operation's status, or undefined when the DELETE failed. */
  async function deleteAndWait(d: GatewayDeps, name: string): Promise<string | undefined> {
    const started = await deleteGateway(d, name).catch((e: unknown) => e);
    await deletion.ops.drain();
    if (started instanceof Error) {
      if (!(started instanceof StepCrash)) throw started;
      return undefined;
    }
    return (await deletion.ops.getOperation((started as { operationId: string }).operationId))?.status;
  }

  /** Nothing of the gateway is left: no state, no namespace, no CA, no client material. */
  async function expectGone(name: string): Promise<void> {
    expect(await findState(ports.cluster, name)).toBeUndefined();
    expect(await ports.cluster.namespaceExists(`vpn-${name}`)).toBe(false);
    expect(await ports.secrets.getCa(name)).toBeUndefined();
    expect(await ports.secrets.listClients(name, ['kept', 'gone'])).toStrictEqual([]);
  }

  test('delete-retry')(
    'completes an interrupted gateway deletion on a repeated DELETE, leaving no secret behind',
    async () => {
      const d = deletion.deps();
      const probe = await doomedGateway(d);
      faults.count();
      expect(await deleteAndWait(d, probe)).toBe('Succeeded');
      const steps = faults.writes.length;
      expect(steps).toBeGreaterThanOrEqual(3);
      await expectGone(probe);
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = await doomedGateway(d);
          faults.arm(k, point);
          expect(await deleteAndWait(d, name)).not.toBe('Succeeded');
          expect(faults.hasCrashed).toBe(true);
          faults.disarm();
          // WHEN the caller repeats the DELETE (a 404 once the namespace went with the last write)
          const again = await deleteAndWait(d, name).catch((e: unknown) => e);
          if (again instanceof NotFoundError) expect([k, point]).toStrictEqual([steps, 'after']);
          else expect(again).toBe('Succeeded');
          await expectGone(name);
        }
    },
    300_000,
  );

  test('delete-reconcile')(
    'completes an interrupted gateway deletion without the caller when the reconciler runs',
    async () => {
      const d = deletion.deps();
      const probe = await doomedGateway(d);
      faults.count();
      await deleteAndWait(d, probe);
      const steps = faults.writes.length;
      for (const point of POINTS)
        for (let k = 1; k <= steps; k += 1) {
          const name = await doomedGateway(d);
          faults.arm(k, point);
          await deleteAndWait(d, name);
          faults.disarm();
          const marked = (await findState(ports.cluster, name))?.deleting;
          // An operation that never started is taken for dead only UNSTARTED_DELETION_MINUTES after the mark.
          clockOffsetMs = UNSTARTED_DELETION_MINUTES * 60_000;
          try {
            expect((await reconcileGateway(d, name)).errors).toStrictEqual([]);
          } finally {
            clockOffsetMs = 0;
          }
          await deletion.ops.drain();
          if (k === 1 && point === 'before') {
            // The mark never landed: the DELETE failed and the gateway is whole, not being deleted.
            expect(marked).toBeUndefined();
            const state = await findState(ports.cluster, name);
            expect(state?.clients.map((c) => c.name)).toStrictEqual(['kept', 'gone']);
            expect(state?.deleting).toBeUndefined();
            expect(await ports.secrets.getCa(name)).toBeDefined();
          } else await expectGone(name);
        }
    },
    300_000,
  );
});
