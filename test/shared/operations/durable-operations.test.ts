import type { DurableOrchestrationStatus } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import { operationFromStatus } from '../../../shared/operations/durable-operations.js';

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
