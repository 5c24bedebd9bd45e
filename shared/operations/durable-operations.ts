/**
 * OperationsPort in Azure: orchestrations run in the Durable Functions host. A roll uses the gateway's
 * instance id (`roll-<gateway>`), so there is one roll per gateway; a request while it runs joins it by
 * raising an event the roll drains before it completes (one more round, forced for a restart). Provision and delete get fresh instance ids.
 * The operation id returned to callers is the instance id.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { UpstreamError } from '../errors.js';
import type { Operation, OperationStatus, OperationsPort, RollRequest } from '../model/operations-port.js';
import type { GatewayOperationInput, RollInput, RollRequestedEvent, Timing } from './orchestrators.js';
import { ORCHESTRATOR, ROLL_REQUESTED_EVENT, rollInstanceId } from './orchestrators.js';

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

const KIND_OF: Readonly<Record<string, string>> = {
  [ORCHESTRATOR.roll]: 'roll',
  [ORCHESTRATOR.provision]: 'provision',
  [ORCHESTRATOR.delete]: 'delete',
};

/** Maps a Durable Functions instance status to the Azure LRO shape. */
export function operationFromStatus(status: DurableOrchestrationStatus): Operation {
  const runtime = String(status.runtimeStatus);
  const map: Record<string, OperationStatus> = {
    Pending: 'NotStarted',
    Running: 'Running',
    ContinuedAsNew: 'Running',
    Suspended: 'Running',
    Completed: 'Succeeded',
    Failed: 'Failed',
    Canceled: 'Canceled',
    Terminated: 'Canceled',
  };
  const input = (status.input ?? {}) as { gateway?: unknown };
  const output = status.output;
  return {
    id: status.instanceId,
    kind: KIND_OF[status.name] ?? status.name,
    gateway: typeof input.gateway === 'string' ? input.gateway : '',
    status: map[runtime] ?? 'Running',
    ...(runtime === 'Failed'
      ? {
          error: {
            code: `${KIND_OF[status.name] ?? 'operation'}-failed`,
            message: typeof output === 'string' ? output : JSON.stringify(output ?? 'failed'),
          },
        }
      : {}),
    createdAt: new Date(status.createdTime).toISOString(),
    lastUpdatedAt: new Date(status.lastUpdatedTime).toISOString(),
  };
}

export class DurableOperations implements OperationsPort {
  constructor(private readonly options: { readonly client: DurableClient; readonly timing: Timing }) {}

  private async status(id: string): Promise<DurableOrchestrationStatus | undefined> {
    try {
      return await this.options.client.getStatus(id);
    } catch (e: unknown) {
      // durable-functions answers an unknown instance id with an Error naming the extension's HTTP 404;
      // anything else (storage or extension outage) is a failure, not a missing operation.
      if (e instanceof Error && e.message.includes('HTTP 404 response')) return undefined;
      throw new UpstreamError('the Durable Functions extension could not be asked for the operation status', {
        transient: true,
        cause: e,
      });
    }
  }

  async startRoll(request: RollRequest): Promise<string> {
    const id = rollInstanceId(request.gateway);
    const current = await this.status(id);
    if (current && ACTIVE.has(String(current.runtimeStatus))) {
      // Join: the roll drains this event before it completes and rolls once more (forced for a restart).
      // The extension answers 410 (silently accepted by durable-functions) once the instance is no longer
      // running, and a roll that completed may have missed the event: when it is no longer active now,
      // start a new roll instead.
      await this.raiseRollRequested(id, { force: request.force });
      const after = await this.status(id);
      if (after && ACTIVE.has(String(after.runtimeStatus))) return id;
    }
    const input: RollInput = {
      gateway: request.gateway,
      reason: request.reason,
      force: request.force,
      timing: this.options.timing,
    };
    try {
      await this.options.client.startNew(ORCHESTRATOR.roll, { instanceId: id, input });
    } catch (e: unknown) {
      // another request started it between our read and our start: join it
      const raced = await this.status(id);
      if (!raced || !ACTIVE.has(String(raced.runtimeStatus))) throw e;
    }
    return id;
  }

  private async raiseRollRequested(id: string, event: RollRequestedEvent): Promise<void> {
    try {
      await this.options.client.raiseEvent(id, ROLL_REQUESTED_EVENT, event);
    } catch (e: unknown) {
      // 404: the instance is gone; the status read that follows decides. Anything else is an outage.
      if (e instanceof Error && e.message.startsWith('No instance with ID')) return;
      throw new UpstreamError('the Durable Functions extension could not be asked to join the roll', {
        transient: true,
        cause: e,
      });
    }
  }

  startProvision(gateway: string): Promise<string> {
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.options.client.startNew(ORCHESTRATOR.provision, { input });
  }

  startDeletion(gateway: string): Promise<string> {
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.options.client.startNew(ORCHESTRATOR.delete, { input });
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const status = await this.status(id);
    return status ? operationFromStatus(status) : undefined;
  }
}
