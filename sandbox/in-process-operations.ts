/**
 * OperationsPort for the sandbox and tests: runs the same orchestrators in-process through the replay
 * engine, with real activities and real timers, and records each operation in the Azure LRO shape.
 * Records are saved under a data directory, a new one durably before its id is answered, so they survive
 * a restart or a kill; an operation that was still running when the host stopped is reported Failed
 * ("interrupted"), never left Running forever.
 *
 * Rolls follow the same rule as in Azure (shared/operations/roll-requests.ts): a request records itself in
 * the gateway's roll ledger in the cluster and joins the roll that owns it (same operation id), or claims
 * it and starts one; the roll's last step releases the ledger only when no request came after the
 * generation it rolled out. A roll recorded as interrupted by a restart has ended, so the next request
 * takes its ledger over.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrchestrationHandler } from 'durable-functions';
import type { GatewayDeps } from '../shared/gateways/deps.js';
import type { Logger } from '../shared/logging.js';
import { makeActivities } from '../shared/operations/activities.js';
import type { Operation, OperationsPort, RollRequest } from '../shared/model/operations-port.js';
import type { GatewayOperationInput, Timing } from '../shared/operations/orchestrators.js';
import {
  deleteOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../shared/operations/orchestrators.js';
import type { RollRuntime } from '../shared/operations/roll-requests.js';
import type { LedgerStore } from '../shared/operations/roll-ledger.js';
import { requestRoll, resumeRoll } from '../shared/operations/roll-requests.js';
import { writeDurably } from './durable-files.js';
import { runOrchestration } from './replay-engine.js';

export interface InProcessOperationsOptions {
  /** The dependencies the activities use (built lazily: they include this port). */
  readonly deps: () => GatewayDeps;
  readonly timing: Timing;
  /** Where operation records are kept (memory only when omitted). */
  readonly dataDir?: string | undefined;
  readonly log: Logger;
  readonly clock?: () => Date;
}

const FILE = 'operations.json';
/** Records kept (oldest finished ones are dropped beyond this). */
const MAX_RECORDS = 1000;

export class InProcessOperations implements OperationsPort {
  private readonly records = new Map<string, Operation>();
  private readonly running = new Set<Promise<void>>();
  private loaded: Promise<void> | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: InProcessOperationsOptions) {}

  private now(): string {
    return (this.options.clock?.() ?? new Date()).toISOString();
  }

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.options.dataDir) return;
      try {
        const saved = JSON.parse(await readFile(join(this.options.dataDir, FILE), 'utf8')) as Operation[];
        for (const op of saved) {
          const interrupted = op.status === 'Running' || op.status === 'NotStarted';
          this.records.set(
            op.id,
            interrupted
              ? {
                  ...op,
                  status: 'Failed',
                  error: {
                    code: 'interrupted',
                    message: 'the host stopped while this operation ran; repeat the request',
                  },
                  lastUpdatedAt: this.now(),
                }
              : op,
          );
        }
      } catch (e: unknown) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          this.options.log.warn('operation records unreadable', { error: String(e) });
      }
    })();
    return this.loaded;
  }

  /** Queues a durable save of every record (`saving` settles once this snapshot is on disk). */
  private save(): void {
    const dir = this.options.dataDir;
    if (!dir) return;
    const snapshot = JSON.stringify([...this.records.values()].slice(-MAX_RECORDS));
    this.saving = this.saving
      .then(() => writeDurably(join(dir, FILE), snapshot))
      .catch((e: unknown) =>
        this.options.log.error('could not save operation records', { error: String(e) }),
      );
  }

  private update(id: string, change: Partial<Operation>): void {
    const current = this.records.get(id);
    if (!current) return;
    this.records.set(id, { ...current, ...change, lastUpdatedAt: this.now() });
    this.save();
  }

  /** Runs `handler` as operation `id` (also its instance id). */
  private launch(
    kind: string,
    gateway: string,
    handler: OrchestrationHandler,
    input: unknown,
    id: string = randomUUID(),
  ): string {
    const created = this.now();
    this.records.set(id, {
      id,
      kind,
      gateway,
      status: 'NotStarted',
      createdAt: created,
      lastUpdatedAt: created,
    });
    this.save();
    const work = (async () => {
      this.update(id, { status: 'Running' });
      const result = await runOrchestration(handler, {
        name: kind,
        instanceId: id,
        input,
        activities: makeActivities(this.options.deps()),
      }).catch((e: unknown) => ({
        status: 'Failed' as const,
        error: e instanceof Error ? e.message : String(e),
      }));
      if (result.status === 'Succeeded') this.update(id, { status: 'Succeeded' });
      else
        this.update(id, {
          status: 'Failed',
          error: { code: `${kind}-failed`, message: result.error ?? 'failed' },
        });
      this.options.log[result.status === 'Succeeded' ? 'info' : 'warn'](
        `operation ${kind} ${result.status}`,
        {
          operationId: id,
          gateway,
          ...(result.status === 'Failed' ? { error: result.error } : {}),
        },
      );
    })();
    const tracked = work.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    return id;
  }

  private active(id: string): boolean {
    const status = this.records.get(id)?.status;
    return status === 'NotStarted' || status === 'Running';
  }

  private readonly rolls: RollRuntime = {
    state: (id) => Promise.resolve(this.active(id) ? 'active' : this.records.has(id) ? 'ended' : 'missing'),
    start: async (id, input) => {
      if (!this.active(id)) this.launch('roll', input.gateway, rollOrchestrator, input, id);
      // The id is answered (202) only once its record is on disk: a crash right after keeps it.
      await this.saving;
    },
  };

  private ledger(): LedgerStore {
    const deps = this.options.deps();
    return { cluster: deps.cluster, labelDomain: deps.config.LABEL_DOMAIN };
  }

  async startRoll(request: RollRequest): Promise<string> {
    await this.load();
    return requestRoll(this.ledger(), this.rolls, request, this.options.timing);
  }

  async resumeRoll(gateway: string): Promise<string | undefined> {
    await this.load();
    return resumeRoll(this.ledger(), this.rolls, gateway, this.options.timing);
  }

  async startProvision(gateway: string): Promise<string> {
    await this.load();
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    const id = this.launch('provision', gateway, provisionOrchestrator, input);
    await this.saving;
    return id;
  }

  async startDeletion(gateway: string): Promise<string> {
    await this.load();
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    const id = this.launch('delete', gateway, deleteOrchestrator, input);
    await this.saving;
    return id;
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    await this.load();
    return this.records.get(id);
  }

  /** Waits for every running operation (tests, and a graceful shutdown). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    await this.saving;
  }
}
