/**
 * OperationsPort in Azure: orchestrations run in the Durable Functions host. A roll request goes through
 * the gateway's roll ledger (roll-requests.ts): it joins the roll that owns the ledger, or claims it and
 * starts a roll under a fresh instance id; Durable answers whether an owner is alive. Provision gets a
 * fresh instance id, a deletion the one its use-case recorded in the gateway's deletion mark. The operation id returned to callers is the instance id.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';
import { UpstreamError } from '../errors.js';
import type { Operation, OperationStatus, OperationsPort, RollRequest } from '../model/operations-port.js';
import type { GatewayOperationInput, RollInput, Timing } from './orchestrators.js';
import { ORCHESTRATOR } from './orchestrators.js';
import type { LedgerStore } from './roll-ledger.js';
import type { RollInstanceState, RollRuntime } from './roll-requests.js';
import { requestRoll, resumeRoll } from './roll-requests.js';

const ACTIVE = new Set(['Pending', 'Running', 'ContinuedAsNew', 'Suspended']);

const KIND_OF: Readonly<Record<string, string>> = {
  [ORCHESTRATOR.roll]: 'roll',
  [ORCHESTRATOR.provision]: 'provision',
  [ORCHESTRATOR.delete]: 'delete',
  [ORCHESTRATOR.liveApply]: 'live-apply',
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

export interface DurableOperationsOptions {
  readonly client: DurableClient;
  readonly timing: Timing;
  /** Where the gateways' roll ledgers are. */
  readonly ledger: LedgerStore;
}

export class DurableOperations implements OperationsPort {
  constructor(private readonly options: DurableOperationsOptions) {}

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

  private async state(id: string): Promise<RollInstanceState> {
    const status = await this.status(id);
    if (!status) return 'missing';
    return ACTIVE.has(String(status.runtimeStatus)) ? 'active' : 'ended';
  }

  private readonly rolls: RollRuntime = {
    state: (id) => this.state(id),
    start: async (id, input: RollInput) => {
      try {
        await this.options.client.startNew(ORCHESTRATOR.roll, { instanceId: id, input });
      } catch (e: unknown) {
        // another request started the same instance first (the extension refuses an active id): fine
        if ((await this.state(id)) !== 'active') throw e;
      }
    },
  };

  startRoll(request: RollRequest): Promise<string> {
    return requestRoll(this.options.ledger, this.rolls, request, this.options.timing);
  }

  resumeRoll(gateway: string): Promise<string | undefined> {
    return resumeRoll(this.options.ledger, this.rolls, gateway, this.options.timing);
  }

  startLiveApply(gateway: string): Promise<string> {
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.options.client.startNew(ORCHESTRATOR.liveApply, { input });
  }

  startProvision(gateway: string): Promise<string> {
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.options.client.startNew(ORCHESTRATOR.provision, { input });
  }

  startDeletion(gateway: string, instanceId: string): Promise<string> {
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.options.client.startNew(ORCHESTRATOR.delete, { instanceId, input });
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const status = await this.status(id);
    return status ? operationFromStatus(status) : undefined;
  }
}
