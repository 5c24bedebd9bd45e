/**
 * Runs a Durable Functions orchestrator in-process, the way the host does: every episode replays the
 * whole history through durable-functions' own orchestration executor, then the new actions are carried
 * out (activities called, timers waited for) and recorded as history events for the next episode.
 * Supports what our orchestrators use: activities, timers, external events, continueAsNew. It also checks determinism:
 * a replay that asks for different actions than the history recorded fails the orchestration.
 *
 * The executor is reached through durable-functions' internal testing entry point, which is why the
 * package version is pinned exactly.
 */
import { createRequire } from 'node:module';
import type { OrchestrationHandler } from 'durable-functions';
import type { Activity } from '../../shared/operations/activities.js';

const require = createRequire(import.meta.url);

interface OrchestratorState {
  isDone: boolean;
  actions: unknown[][];
  output?: unknown;
  error?: string;
}

interface TestingUtils {
  createOrchestrator(
    fn: OrchestrationHandler,
  ): (trigger: unknown, context: unknown) => Promise<OrchestratorState>;
  DurableOrchestrationInput: new (instanceId: string, history: unknown[], input: unknown) => unknown;
  DummyOrchestrationContext: new (
    functionName?: string,
    invocationId?: string,
    log?: (...args: unknown[]) => void,
  ) => unknown;
}

const testing = require('durable-functions/lib/src/util/testingUtils.js') as TestingUtils;

/** Event and action type numbers of durable-functions (HistoryEventType.js, ActionType.js). */
const EVENT = {
  ExecutionStarted: 0,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  EventRaised: 15,
} as const;
const ACTION = { CallActivity: 0, ContinueAsNew: 4, CreateTimer: 5, WaitForExternalEvent: 6 } as const;

/** An external event raised on the running instance (as `DurableClient.raiseEvent` does). */
export interface RaisedEvent {
  readonly name: string;
  readonly input: unknown;
}

interface Action {
  actionType: number;
  functionName?: string;
  input?: unknown;
  fireAt?: Date | string;
}

export interface EngineOptions {
  readonly name: string;
  readonly instanceId: string;
  readonly input: unknown;
  readonly activities: Readonly<Record<string, Activity>>;
  /** The host's clock (default: real time). */
  readonly now?: () => Date;
  /** Waits until a timer is due (default: setTimeout). Tests pass a virtual clock. */
  readonly waitUntil?: (fireAt: Date) => Promise<void>;
  /** Called after each episode (progress for operation records). */
  readonly onEpisode?: (episode: number) => void;
  /**
   * Awaited after each episode has replayed, before its new actions are carried out or its end is
   * reported: tests make requests there, at every step, including after the final episode and before
   * the instance is seen to have completed.
   */
  readonly afterEpisode?: (episode: number) => Promise<void>;
  /** Stop on continueAsNew loops gone wild. */
  readonly maxGenerations?: number;
  /**
   * Events raised on the instance before episode `episode` (1-based, across generations) replays; the
   * executor buffers an event nobody waits for yet, as the host does.
   */
  readonly raisedBefore?: (episode: number) => readonly RaisedEvent[];
}

export interface EngineResult {
  readonly status: 'Succeeded' | 'Failed';
  readonly output?: unknown;
  readonly error?: string;
  /** Episodes (replays) executed, across generations. */
  readonly episodes: number;
  /** 1 + the number of continueAsNew. */
  readonly generations: number;
}

const realWait = (fireAt: Date) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, fireAt.getTime() - Date.now())));

/** Separator durable-functions puts between a failed orchestration's message and its state. */
const OUT_OF_PROC_LABEL = '\n\n$OutOfProcData$:';

/** The executor reports a failed orchestration as an error whose message carries the state (and its error). */
function failureMessage(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const [head, stateJson] = message.split(OUT_OF_PROC_LABEL);
  try {
    const state = JSON.parse(stateJson ?? '') as { error?: unknown };
    if (typeof state.error === 'string') return state.error;
  } catch {
    // not the executor's format: use the message as it is
  }
  return head ?? message;
}

/** durable-functions sends a string input JSON-encoded (Utils.processInput); the host hands activities the value. */
function activityInput(input: unknown): unknown {
  return typeof input === 'string' ? JSON.parse(input) : input;
}

const signature = (a: Action) => `${a.actionType}:${a.functionName ?? ''}`;

export async function runOrchestration(
  handler: OrchestrationHandler,
  options: EngineOptions,
): Promise<EngineResult> {
  const now = options.now ?? (() => new Date());
  const waitUntil = options.waitUntil ?? realWait;
  const orchestrator = testing.createOrchestrator(handler);
  let input = options.input;
  let episodes = 0;
  for (let generation = 1; generation <= (options.maxGenerations ?? 100); generation += 1) {
    const history: Record<string, unknown>[] = [];
    const recorded: string[] = [];
    // Task ids: activities and timers are numbered in order; waiting for an event takes no number.
    let sequence = 0;
    const record = (EventType: number, fields: Record<string, unknown>, EventId = -1) =>
      history.push({ EventType, EventId, IsPlayed: false, Timestamp: now(), ...fields });
    const failed = (error: string, episode = episodes): EngineResult => ({
      status: 'Failed',
      error,
      episodes: episode,
      generations: generation,
    });
    for (;;) {
      const Timestamp = now();
      record(EVENT.OrchestratorStarted, { Timestamp });
      if (history.length === 1)
        record(EVENT.ExecutionStarted, { Timestamp, Name: options.name, Input: JSON.stringify(input) });
      for (const event of options.raisedBefore?.(episodes + 1) ?? [])
        record(EVENT.EventRaised, {
          Timestamp,
          Name: event.name,
          Input: JSON.stringify(event.input ?? null),
        });
      let state: OrchestratorState;
      try {
        state = await orchestrator(
          new testing.DurableOrchestrationInput(options.instanceId, history, input),
          new testing.DummyOrchestrationContext(
            options.name,
            `${options.instanceId}:${episodes}`,
            () => undefined,
          ),
        );
      } catch (e: unknown) {
        return failed(failureMessage(e), episodes + 1);
      }
      episodes += 1;
      options.onEpisode?.(episodes);
      await options.afterEpisode?.(episodes);
      for (const event of history) event['IsPlayed'] = true;
      const actions = (state.actions ?? []).flat() as Action[];
      const replayed = actions.slice(0, recorded.length).map(signature);
      if (replayed.join('|') !== recorded.join('|'))
        return failed(
          `non-deterministic orchestrator: replay asked for [${replayed.join(', ')}] where history has [${recorded.join(', ')}]`,
        );
      if (state.error !== undefined) return failed(state.error);
      const fresh = actions.slice(recorded.length);
      const continueAsNew = fresh.find((a) => a.actionType === ACTION.ContinueAsNew);
      if (continueAsNew) {
        input = continueAsNew.input;
        break;
      }
      if (state.isDone)
        return { status: 'Succeeded', output: state.output, episodes, generations: generation };
      if (fresh.length === 0)
        return failed('orchestrator is waiting for something this runner cannot provide');
      for (const action of fresh) {
        recorded.push(signature(action));
        // Nothing to carry out: a raised event (raisedBefore) completes the wait at a later replay.
        if (action.actionType === ACTION.WaitForExternalEvent) continue;
        const id = sequence;
        sequence += 1;
        if (action.actionType === ACTION.CallActivity) {
          const name = action.functionName ?? '';
          record(EVENT.TaskScheduled, { Name: name, Input: JSON.stringify(action.input ?? null) }, id);
          const activity = options.activities[name];
          try {
            if (!activity) throw new Error(`no activity named '${name}'`);
            const result = await activity(activityInput(action.input));
            record(EVENT.TaskCompleted, { TaskScheduledId: id, Result: JSON.stringify(result ?? null) });
          } catch (e: unknown) {
            const Reason = e instanceof Error ? e.message : String(e);
            record(EVENT.TaskFailed, { TaskScheduledId: id, Reason, Details: `${name} failed` });
          }
        } else if (action.actionType === ACTION.CreateTimer) {
          const fireAt = new Date(action.fireAt ?? now());
          record(EVENT.TimerCreated, { FireAt: fireAt }, id);
          await waitUntil(fireAt);
          record(EVENT.TimerFired, { TimerId: id, FireAt: fireAt });
        } else return failed(`action type ${action.actionType} is not supported in-process`);
      }
    }
  }
  return {
    status: 'Failed',
    error: 'too many continueAsNew generations',
    episodes,
    generations: options.maxGenerations ?? 100,
  };
}
