import azureFunctions from '@azure/functions';
import type { DurableOrchestrationStatus } from 'durable-functions';
import df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../shared/errors.js';
import { DurableOperations, operationFromStatus } from '../../../shared/operations/durable-operations.js';
import { readLedger, updateLedger } from '../../../shared/operations/roll-ledger.js';
import { DurableExtensionServer } from '../../fakes/durable-extension-server.js';
import { MemoryCluster } from '../../fakes/memory-cluster.js';

const { InvocationContext } = azureFunctions;

const status = (runtimeStatus: string, name: string, output: unknown = null) =>
  ({
    name,
    instanceId: 'roll-gw',
    createdTime: new Date('2026-11-22T12:00:00Z'),
    lastUpdatedTime: new Date('2026-11-22T12:01:00Z'),
    input: { gateway: 'gw' },
    output,
    runtimeStatus,
  }) as unknown as DurableOrchestrationStatus;

describe('operationFromStatus (Durable instance → Azure LRO shape)', () => {
  it.each([
    ['Pending', 'NotStarted'],
    ['Running', 'Running'],
    ['ContinuedAsNew', 'Running'],
    ['Completed', 'Succeeded'],
    ['Canceled', 'Canceled'],
    ['Terminated', 'Canceled'],
  ])('maps %s to %s', (runtime, lro) => {
    expect(operationFromStatus(status(runtime, 'rollGatewayOrchestrator'))).toStrictEqual({
      id: 'roll-gw',
      kind: 'roll',
      gateway: 'gw',
      status: lro,
      createdAt: '2026-11-22T12:00:00.000Z',
      lastUpdatedAt: '2026-11-22T12:01:00.000Z',
    });
  });

  it('carries the failure message', () => {
    expect(
      operationFromStatus(status('Failed', 'provisionGatewayOrchestrator', 'no address within 600 s')),
    ).toMatchObject({
      kind: 'provision',
      status: 'Failed',
      error: { code: 'provision-failed', message: 'no address within 600 s' },
    });
  });
});

describe('DurableOperations through the real durable-functions client and the extension HTTP API', () => {
  const extension = new DurableExtensionServer();
  const timing = { pollSeconds: 5, timeoutSeconds: 600, activityAttempts: 5, retryDelaySeconds: 2 };
  const cluster = new MemoryCluster();
  const store = { cluster, labelDomain: 'vpn.aks-gateways.io' };
  let operations: DurableOperations;

  beforeAll(async () => {
    await extension.start();
    const binding = df.input.durableClient();
    const context = new InvocationContext({
      functionName: 'restartGateway',
      options: { extraInputs: [binding] },
    });
    context.extraInputs.set(binding, extension.clientData());
    operations = new DurableOperations({ client: df.getClient(context), timing, ledger: store });
  });
  afterAll(() => extension.stop());

  const ledgerOf = async (gateway: string) => (await readLedger(store, gateway)).ledger;

  it('claims an idle ledger for a new roll, joins that roll while it is active, and claims again once it released', async () => {
    const request = { gateway: 'gw', reason: 'restart', force: true };
    const first = await operations.startRoll(request);
    expect(first).toMatch(/^roll-gw-[0-9a-f]{12}$/);
    expect(extension.instances.get(first)).toMatchObject({
      name: 'rollGatewayOrchestrator',
      runtimeStatus: 'Pending',
      input: { gateway: 'gw', reason: 'restart', since: 0, timing },
    });
    expect(await ledgerOf('gw')).toStrictEqual({
      requested: 1,
      rolled: 0,
      forced: 1,
      running: first,
      entered: 0,
    });

    extension.instances.get(first)!.runtimeStatus = 'Running';
    extension.requests.length = 0;
    expect(await operations.startRoll({ ...request, reason: 'port-mappings', force: false })).toBe(first);
    // joined: recorded in the ledger the roll finishes on, and nothing started
    expect(extension.requests).toStrictEqual([`GET instances/${first}`]);
    expect(await ledgerOf('gw')).toMatchObject({ requested: 2, forced: 1, running: first });

    // the roll's finish releases the ledger once it rolled generation 2
    await updateLedger(store, 'gw', ({ running: _done, ...l }) => ({ ...l, rolled: 2 }));
    extension.instances.get(first)!.runtimeStatus = 'Completed';
    const next = await operations.startRoll({ ...request, reason: 'config-change', force: false });
    expect(next).not.toBe(first);
    expect(extension.instances.get(next)).toMatchObject({ runtimeStatus: 'Pending', input: { since: 2 } });
    expect(await ledgerOf('gw')).toStrictEqual({
      requested: 3,
      rolled: 2,
      forced: 1,
      running: next,
      entered: 0,
    });
  });

  it('starts the roll a request claimed but died before starting, under the id it claimed', async () => {
    await updateLedger(store, 'lost', (l) => ({
      ...l,
      requested: 4,
      rolled: 3,
      running: 'roll-lost-claimed',
    }));
    extension.requests.length = 0;
    expect(await operations.startRoll({ gateway: 'lost', reason: 'restart', force: true })).toBe(
      'roll-lost-claimed',
    );
    expect(extension.requests).toStrictEqual([
      'GET instances/roll-lost-claimed',
      'POST orchestrators/rollGatewayOrchestrator/roll-lost-claimed',
    ]);
    expect(extension.instances.get('roll-lost-claimed')).toMatchObject({ input: { since: 3 } });
    expect(await ledgerOf('lost')).toMatchObject({ requested: 5, forced: 5, running: 'roll-lost-claimed' });
  });

  it('takes over the ledger of a roll that ended without releasing it', async () => {
    const now = new Date().toISOString();
    await updateLedger(store, 'dead', (l) => ({
      ...l,
      requested: 2,
      rolled: 1,
      running: 'roll-dead-failed',
    }));
    extension.instances.set('roll-dead-failed', {
      name: 'rollGatewayOrchestrator',
      instanceId: 'roll-dead-failed',
      runtimeStatus: 'Failed',
      input: { gateway: 'dead' },
      output: 'rollRead failed after 5 attempts',
      createdTime: now,
      lastUpdatedTime: now,
    });
    const id = await operations.startRoll({ gateway: 'dead', reason: 'config-change', force: false });
    expect(id).toMatch(/^roll-dead-[0-9a-f]{12}$/);
    expect(extension.instances.get(id)).toMatchObject({ runtimeStatus: 'Pending', input: { since: 1 } });
    expect(await ledgerOf('dead')).toMatchObject({ requested: 3, running: id });
  });

  it('joins an owner that entered its roll between the status read and the takeover', async () => {
    const now = new Date().toISOString();
    await updateLedger(store, 'late', (l) => ({ ...l, requested: 1, running: 'roll-late-owner' }));
    extension.instances.set('roll-late-owner', {
      name: 'rollGatewayOrchestrator',
      instanceId: 'roll-late-owner',
      runtimeStatus: 'Failed',
      input: { gateway: 'late' },
      output: null,
      createdTime: now,
      lastUpdatedTime: now,
    });
    // GIVEN the owner, read as ended, is started again and enters (writes) the ledger just before the takeover
    const replace = cluster.replaceConfigMap.bind(cluster);
    cluster.replaceConfigMap = async (...args) => {
      cluster.replaceConfigMap = replace;
      extension.instances.get('roll-late-owner')!.runtimeStatus = 'Running';
      await updateLedger(store, 'late', (l) => ({ ...l, entered: l.entered + 1 }));
      return replace(...args);
    };
    // WHEN a request comes THEN its takeover loses, and it joins the owner
    expect(await operations.startRoll({ gateway: 'late', reason: 'config-change', force: false })).toBe(
      'roll-late-owner',
    );
    expect(cluster.replaceConfigMap).toBe(replace);
    expect(await ledgerOf('late')).toMatchObject({ requested: 2, running: 'roll-late-owner', entered: 1 });
    expect([...extension.instances.keys()].filter((k) => k.startsWith('roll-late'))).toStrictEqual([
      'roll-late-owner',
    ]);
  });

  it('joins the instance another request started under the claimed id first (409)', async () => {
    await updateLedger(store, 'race', (l) => ({ ...l, requested: 1, running: 'roll-race-claimed' }));
    // the claiming request's start reaches the extension between our status read and our start
    extension.faults.push({
      method: 'POST',
      pathPrefix: 'orchestrators/rollGatewayOrchestrator/roll-race-claimed',
      status: 409,
      then: () => {
        const t = new Date().toISOString();
        extension.instances.set('roll-race-claimed', {
          name: 'rollGatewayOrchestrator',
          instanceId: 'roll-race-claimed',
          runtimeStatus: 'Running',
          input: { gateway: 'race' },
          output: null,
          createdTime: t,
          lastUpdatedTime: t,
        });
      },
    });
    extension.requests.length = 0;
    expect(await operations.startRoll({ gateway: 'race', reason: 'restart', force: true })).toBe(
      'roll-race-claimed',
    );
    expect(extension.requests).toStrictEqual([
      'GET instances/roll-race-claimed',
      'POST orchestrators/rollGatewayOrchestrator/roll-race-claimed',
      'GET instances/roll-race-claimed',
    ]);
  });

  it('resumes, without recording a request, the roll a gateway is owed after a crash', async () => {
    const now = new Date().toISOString();
    const instance = (instanceId: string, runtimeStatus: string) =>
      extension.instances.set(instanceId, {
        name: 'rollGatewayOrchestrator',
        instanceId,
        runtimeStatus,
        input: { gateway: 'owed' },
        output: null,
        createdTime: now,
        lastUpdatedTime: now,
      });
    // nothing owed: an idle ledger (or none) asks Durable nothing
    extension.requests.length = 0;
    expect(await operations.resumeRoll('owed')).toBeUndefined();
    await updateLedger(store, 'owed', (l) => ({ ...l, requested: 3, rolled: 3 }));
    expect(await operations.resumeRoll('owed')).toBeUndefined();
    expect(extension.requests).toStrictEqual([]);
    // a claimed roll that never started is started under its id
    await updateLedger(store, 'owed', (l) => ({ ...l, requested: 4, running: 'roll-owed-claimed' }));
    expect(await operations.resumeRoll('owed')).toBe('roll-owed-claimed');
    expect(extension.instances.get('roll-owed-claimed')).toMatchObject({
      runtimeStatus: 'Pending',
      input: { gateway: 'owed', reason: 'resumed', since: 3 },
    });
    // a live owner is left alone
    extension.requests.length = 0;
    expect(await operations.resumeRoll('owed')).toBe('roll-owed-claimed');
    expect(extension.requests).toStrictEqual(['GET instances/roll-owed-claimed']);
    // an owner that ended without finishing is replaced
    instance('roll-owed-claimed', 'Terminated');
    const taken = await operations.resumeRoll('owed');
    expect(taken).toMatch(/^roll-owed-[0-9a-f]{12}$/);
    expect(taken).not.toBe('roll-owed-claimed');
    expect(extension.instances.get(taken!)).toMatchObject({ runtimeStatus: 'Pending' });
    expect(await ledgerOf('owed')).toMatchObject({ requested: 4, rolled: 3, running: taken });
  });

  it('starts provisioning as a new instance and deletion under the id of its mark, reported in the LRO shape', async () => {
    const provision = await operations.startProvision('gw');
    const deletion = await operations.startDeletion('gw', 'delete-gw-1');
    expect(deletion).toBe('delete-gw-1');
    expect(provision).not.toBe(deletion);
    expect(extension.instances.get(provision)?.name).toBe('provisionGatewayOrchestrator');
    expect(extension.instances.get(deletion)?.name).toBe('deleteGatewayOrchestrator');
    extension.instances.get(deletion)!.runtimeStatus = 'Failed';
    extension.instances.get(deletion)!.output = 'namespace still exists after 600 s';
    expect(await operations.getOperation(deletion)).toMatchObject({
      id: deletion,
      kind: 'delete',
      gateway: 'gw',
      status: 'Failed',
      error: { code: 'delete-failed', message: 'namespace still exists after 600 s' },
    });
  });

  it('answers an unknown operation with undefined, and an extension failure with a transient UpstreamError', async () => {
    expect(await operations.getOperation('no-such-instance')).toBeUndefined();
    extension.faults.push({ method: 'GET', pathPrefix: 'instances/roll-gw', status: 500 });
    const failure = await operations.getOperation('roll-gw').catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UpstreamError);
    expect((failure as UpstreamError).transient).toBe(true);
  });
});
