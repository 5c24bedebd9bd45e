/**
 * OperationsPort for the sandbox and tests: runs the same orchestrators in-process through the replay
 * engine, with real activities and real timers, and records each operation in the Azure LRO shape.
 * Records are saved under a data directory (atomic writes) so they survive a restart; an operation that
 * was still running when the host stopped is reported Failed ("interrupted"), never left Running forever.
 *
 * One roll per gateway: while a roll runs, another request for the same gateway joins it (same operation
 * id). The roll re-reads the desired configuration before it finishes and rolls again if it moved; and
 * a request that joined after that last read (between it and the end of the orchestration) makes the
 * runner start one more round under the same operation, decided and released in one synchronous step,
 * so no joined change is ever lost.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OrchestrationHandler } from 'durable-functions';
import type { GatewayDeps } from '../shared/gateways/deps.js';
import type { Logger } from '../shared/logging.js';
import { makeActivities } from '../shared/operations/activities.js';
import type { Operation, OperationsPort, RollRequest } from '../shared/model/operations-port.js';
import type { GatewayOperationInput, RollInput, Timing } from '../shared/operations/orchestrators.js';
import {
  deleteOrchestrator,
  provisionOrchestrator,
  rollInstanceId,
  rollOrchestrator,
} from '../shared/operations/orchestrators.js';
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
  /**
   * The running roll of each gateway, how many requests joined it since its last round began, and
   * whether one of them was a restart (the next round is then forced).
   */
  private readonly rolls = new Map<string, { id: string; joins: number; force: boolean }>();
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

  private save(): void {
    const dir = this.options.dataDir;
    if (!dir) return;
    const snapshot = JSON.stringify([...this.records.values()].slice(-MAX_RECORDS));
    this.saving = this.saving
      .then(async () => {
        await mkdir(dir, { recursive: true });
        const temp = join(dir, `${FILE}.${randomUUID()}.tmp`);
        await writeFile(temp, snapshot);
        await rename(temp, join(dir, FILE));
      })
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

  /**
   * Runs `handler` as operation `id`. `again`, called synchronously as each run ends, may return the
   * input of another run under the same operation (the roll's joined requests).
   */
  private launch(
    kind: string,
    gateway: string,
    handler: OrchestrationHandler,
    instanceId: string,
    input: unknown,
    again: (succeeded: boolean) => unknown = () => undefined,
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
      let result: { status: 'Succeeded' | 'Failed'; error?: string | undefined };
      for (let next: unknown = input; ;) {
        result = await runOrchestration(handler, {
          name: kind,
          instanceId,
          input: next,
          activities: makeActivities(this.options.deps()),
        }).catch((e: unknown) => ({
          status: 'Failed' as const,
          error: e instanceof Error ? e.message : String(e),
        }));
        next = again(result.status === 'Succeeded');
        if (next === undefined) break;
      }
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
    const tracked = work.finally(() => {
      this.running.delete(tracked);
      if (this.rolls.get(gateway)?.id === id) this.rolls.delete(gateway);
    });
    this.running.add(tracked);
    return id;
  }

  async startRoll(request: RollRequest): Promise<string> {
    await this.load();
    const { gateway } = request;
    const joined = this.rolls.get(gateway);
    if (joined) {
      joined.joins += 1;
      // A restart that joins must still end with a pod started after it was asked for.
      joined.force ||= request.force;
      return joined.id;
    }
    const input: RollInput = {
      gateway,
      reason: request.reason,
      force: request.force,
      timing: this.options.timing,
    };
    const roll = { id: randomUUID(), joins: 0, force: false };
    this.rolls.set(gateway, roll);
    const again = (succeeded: boolean): RollInput | undefined => {
      if (!succeeded || roll.joins === 0) {
        // released in the same synchronous step that found no joiner: a later request starts a new roll
        this.rolls.delete(gateway);
        return undefined;
      }
      const force = roll.force;
      roll.joins = 0;
      roll.force = false;
      return { ...input, reason: force ? 'restart (joined)' : 'joined', force };
    };
    this.launch('roll', gateway, rollOrchestrator, rollInstanceId(gateway), input, again, roll.id);
    return roll.id;
  }

  async startProvision(gateway: string): Promise<string> {
    await this.load();
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.launch('provision', gateway, provisionOrchestrator, `provision-${gateway}`, input);
  }

  async startDeletion(gateway: string): Promise<string> {
    await this.load();
    const input: GatewayOperationInput = { gateway, timing: this.options.timing };
    return this.launch('delete', gateway, deleteOrchestrator, `delete-${gateway}`, input);
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
