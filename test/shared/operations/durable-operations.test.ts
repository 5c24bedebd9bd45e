import azureFunctions from '@azure/functions';
import type { DurableOrchestrationStatus } from 'durable-functions';
import df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../shared/errors.js';
import { DurableOperations, operationFromStatus } from '../../../shared/operations/durable-operations.js';
import { DurableExtensionServer } from '../../fakes/durable-extension-server.js';

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
  let operations: DurableOperations;

  beforeAll(async () => {
    await extension.start();
    const binding = df.input.durableClient();
    const context = new InvocationContext({
      functionName: 'restartGateway',
      options: { extraInputs: [binding] },
    });
    context.extraInputs.set(binding, extension.clientData());
    operations = new DurableOperations({ client: df.getClient(context), timing });
  });
  afterAll(() => extension.stop());

  it('starts a roll under the instance id roll-<gateway>, joins it while active, starts it again once done', async () => {
    const request = { gateway: 'gw', reason: 'restart', force: true };
    expect(await operations.startRoll(request)).toBe('roll-gw');
    const instance = extension.instances.get('roll-gw');
    expect(instance).toMatchObject({
      name: 'rollGatewayOrchestrator',
      runtimeStatus: 'Pending',
      input: { gateway: 'gw', reason: 'restart', force: true, timing },
    });
    instance!.runtimeStatus = 'Running';
    extension.requests.length = 0;
    expect(await operations.startRoll({ ...request, reason: 'port-mappings', force: false })).toBe('roll-gw');
    // joined: the roll is told, so it drains the request before it completes
    expect(extension.requests).toStrictEqual([
      'GET instances/roll-gw',
      'POST instances/roll-gw/raiseEvent/rollRequested',
      'GET instances/roll-gw',
    ]);
    expect(extension.events.at(-1)).toStrictEqual({
      instanceId: 'roll-gw',
      name: 'rollRequested',
      input: { force: false },
    });
    expect(await operations.getOperation('roll-gw')).toMatchObject({
      kind: 'roll',
      gateway: 'gw',
      status: 'Running',
    });

    instance!.runtimeStatus = 'Completed';
    expect(await operations.startRoll({ ...request, reason: 'config-change' })).toBe('roll-gw');
    expect(extension.instances.get('roll-gw')).toMatchObject({
      runtimeStatus: 'Pending',
      input: { reason: 'config-change' },
    });
  });

  it('starts a new roll when the one it joined completed before taking its request', async () => {
    const now = new Date().toISOString();
    extension.instances.set('roll-late', {
      name: 'rollGatewayOrchestrator',
      instanceId: 'roll-late',
      runtimeStatus: 'Running',
      input: { gateway: 'late' },
      output: null,
      createdTime: now,
      lastUpdatedTime: now,
    });
    // the roll completes between the status read and the event: the extension answers 410 Gone
    extension.faults.push({
      method: 'POST',
      pathPrefix: 'instances/roll-late/raiseEvent',
      status: 410,
      then: () => (extension.instances.get('roll-late')!.runtimeStatus = 'Completed'),
    });
    extension.requests.length = 0;
    expect(await operations.startRoll({ gateway: 'late', reason: 'restart', force: true })).toBe('roll-late');
    expect(extension.requests).toStrictEqual([
      'GET instances/roll-late',
      'POST instances/roll-late/raiseEvent/rollRequested',
      'GET instances/roll-late',
      'POST orchestrators/rollGatewayOrchestrator/roll-late',
    ]);
    expect(extension.instances.get('roll-late')).toMatchObject({
      runtimeStatus: 'Pending',
      input: { reason: 'restart', force: true },
    });
  });

  it('joins a roll another request started between its status read and its start (409)', async () => {
    const now = new Date().toISOString();
    extension.instances.set('roll-race', {
      name: 'rollGatewayOrchestrator',
      instanceId: 'roll-race',
      runtimeStatus: 'Completed',
      input: { gateway: 'race' },
      output: null,
      createdTime: now,
      lastUpdatedTime: now,
    });
    // the other request's instance starts just before ours reaches the extension
    extension.faults.push({
      method: 'POST',
      pathPrefix: 'orchestrators/rollGatewayOrchestrator/roll-race',
      status: 409,
      then: () => (extension.instances.get('roll-race')!.runtimeStatus = 'Running'),
    });
    extension.requests.length = 0;
    expect(await operations.startRoll({ gateway: 'race', reason: 'restart', force: true })).toBe('roll-race');
    expect(extension.requests).toStrictEqual([
      'GET instances/roll-race',
      'POST orchestrators/rollGatewayOrchestrator/roll-race',
      'GET instances/roll-race',
    ]);
  });

  it('starts provisioning and deletion as new instances, reported in the LRO shape', async () => {
    const provision = await operations.startProvision('gw');
    const deletion = await operations.startDeletion('gw');
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
