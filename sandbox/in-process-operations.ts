/**
 * OperationsPort for the sandbox and tests: the product's orchestrators run in-process
 * (run-orchestration.ts) with real activities and timers, each operation recorded in the Azure LRO shape
 * and saved under a data directory, a new one durably before its id is answered. An operation still
 * running when the host stopped is reported Failed ("interrupted"); an interrupted roll has so ended, and
 * the next request takes its roll ledger over (shared/operations/roll-requests.ts, the rule Azure follows).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrchestrationHandler } from 'durable-functions';
import type { GatewayDeps } from '../shared/gateways/deps.js';
import type { Logger } from '../shared/logging.js';
import type { Operation, OperationsPort, RollRequest } from '../shared/model/operations-port.js';
import { makeActivities } from '../shared/operations/activities.js';
import type { GatewayOperationInput, RollInput, Timing } from '../shared/operations/orchestrators.js';
import {
  deleteOrchestrator,
  liveApplyOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../shared/operations/orchestrators.js';
import type { LedgerStore } from '../shared/operations/roll-ledger.js';
import type { RollRuntime } from '../shared/operations/roll-requests.js';
import { requestRoll, resumeRoll } from '../shared/operations/roll-requests.js';
import { writeDurably } from '../shared/secrets/durable-files.js';
import { runOrchestration } from './run-orchestration.js';

export interface InProcessOperationsOptions {
  /** The dependencies the activities use (built lazily: they include this port). */
  readonly deps: () => GatewayDeps;
  readonly timing: Timing;
  /** Where operation records are kept (memory only when omitted). */
  readonly dataDir?: string | undefined;
  readonly log: Logger;
}

const FILE = 'operations.json';
/** Records kept (oldest finished ones are dropped beyond this). */
const MAX_RECORDS = 1000;
const INTERRUPTED = {
  code: 'interrupted',
  message: 'the host stopped while this operation ran; repeat the request',
};

export class InProcessOperations implements OperationsPort {
  private readonly records = new Map<string, Operation>();
  private readonly running = new Set<Promise<void>>();
  private loaded: Promise<void> | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: InProcessOperationsOptions) {}

  /** Reads the saved records once, before the first use. */
  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.options.dataDir) return;
      const saved = await readFile(join(this.options.dataDir, FILE), 'utf8').catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          this.options.log.warn('operation records unreadable', { error: String(e) });
        return '[]';
      });
      for (const op of JSON.parse(saved) as Operation[])
        this.records.set(op.id, this.active(op) ? { ...op, status: 'Failed', error: INTERRUPTED } : op);
    })();
    return this.loaded;
  }

  /** Records a change, and queues a durable save of every record (`saving` settles once it is on disk). */
  private update(op: Operation): void {
    this.records.set(op.id, { ...op, lastUpdatedAt: new Date().toISOString() });
    const dir = this.options.dataDir;
    if (!dir) return;
    const snapshot = JSON.stringify([...this.records.values()].slice(-MAX_RECORDS));
    this.saving = this.saving
      .then(() => writeDurably(join(dir, FILE), snapshot))
      .catch((e: unknown) =>
        this.options.log.error('could not save operation records', { error: String(e) }),
      );
  }

  /** Runs `handler` as operation `id` (also its instance id); resolves once its record is on disk. */
  private async launch(
    kind: string,
    handler: OrchestrationHandler,
    input: GatewayOperationInput | RollInput,
    id: string = randomUUID(),
  ): Promise<string> {
    await this.load();
    const { gateway } = input;
    const createdAt = new Date().toISOString();
    const op: Operation = { id, kind, gateway, status: 'Running', createdAt, lastUpdatedAt: createdAt };
    this.update(op);
    const activities = makeActivities(this.options.deps());
    const work = runOrchestration(handler, id, input, activities).then(
      () => {
        this.update({ ...op, status: 'Succeeded' });
        this.options.log.info(`operation ${kind} Succeeded`, { operationId: id, gateway });
      },
      (e: unknown) => {
        const message = e instanceof Error ? e.message : String(e);
        this.update({ ...op, status: 'Failed', error: { code: `${kind}-failed`, message } });
        this.options.log.warn(`operation ${kind} Failed`, { operationId: id, gateway, error: message });
      },
    );
    const tracked = work.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    // The id is answered (202) only once its record is on disk: a crash right after keeps it.
    await this.saving;
    return id;
  }

  private active(op: Operation | undefined): boolean {
    return op?.status === 'NotStarted' || op?.status === 'Running';
  }

  private readonly rolls: RollRuntime = {
    state: (id) => {
      const op = this.records.get(id);
      return Promise.resolve(this.active(op) ? 'active' : op ? 'ended' : 'missing');
    },
    start: async (id, input) => {
      if (!this.active(this.records.get(id))) await this.launch('roll', rollOrchestrator, input, id);
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

  startLiveApply(gateway: string): Promise<string> {
    return this.launch('live-apply', liveApplyOrchestrator, { gateway, timing: this.options.timing });
  }

  startProvision(gateway: string): Promise<string> {
    return this.launch('provision', provisionOrchestrator, { gateway, timing: this.options.timing });
  }

  startDeletion(gateway: string, operationId: string): Promise<string> {
    return this.launch('delete', deleteOrchestrator, { gateway, timing: this.options.timing }, operationId);
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
