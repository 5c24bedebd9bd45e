/**
 * The durable orchestrations: roll, provision and delete a gateway. Orchestrators only sequence: no I/O,
 * no clock but `context.df.currentUtcDateTime`, no environment. Work happens in activities, which throw
 * on failure; failed activities are retried by the orchestrator on durable timers, so the same code runs
 * unchanged in the Durable Functions host and in the sandbox's in-process runner (its replay engine).
 */
import type { OrchestrationContext, OrchestrationHandler, Task } from 'durable-functions';
import type { ActivityInput, ActivityKey, ActivityResults } from './activity-contract.js';
import { ACTIVITY } from './activity-contract.js';

export { ACTIVITY } from './activity-contract.js';
export type { DeleteSecretsInput } from './activity-contract.js';

/**
 * Orchestrator names (also their Azure Functions names, which share one namespace with the HTTP
 * functions' operation ids and the timer: `deleteGateway` is taken by the DELETE route).
 */
export const ORCHESTRATOR = Object.freeze({
  roll: 'rollGatewayOrchestrator',
  provision: 'provisionGatewayOrchestrator',
  delete: 'deleteGatewayOrchestrator',
});

/**
 * External event a request raises on the running roll it joins (payload RollRequestedEvent): the roll
 * drains it before it completes and rolls once more, forced when the request was a restart.
 */
export const ROLL_REQUESTED_EVENT = 'rollRequested';

export interface RollRequestedEvent {
  readonly force: boolean;
}

/** Instance id of a gateway's roll: one roll per gateway at a time. */
export const rollInstanceId = (gateway: string) => `roll-${gateway}`;

export interface Timing {
  readonly pollSeconds: number;
  readonly timeoutSeconds: number;
  /** Attempts of each activity before the orchestration fails. */
  readonly activityAttempts: number;
  /** First retry delay; doubles per attempt. */
  readonly retryDelaySeconds: number;
}

export interface RollInput {
  readonly gateway: string;
  readonly reason: string;
  readonly force: boolean;
  readonly timing: Timing;
  /** Follow-up rolls count up; the first roll is 1. */
  readonly round?: number;
}

export interface RollResult {
  readonly gateway: string;
  readonly configHash: string;
  readonly rounds: number;
  readonly polls: number;
}

const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

/** Calls an activity, retrying a failure on a durable timer with exponential backoff. */
function* callWithRetry<K extends ActivityKey>(
  context: OrchestrationContext,
  timing: Timing,
  key: K,
  input: ActivityInput<K>,
): Generator<Task, ActivityResults[K], unknown> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      // The host hands back what the activity returned, as typed by the activity table.
      return (yield context.df.callActivity(ACTIVITY[key], input)) as ActivityResults[K];
    } catch (e: unknown) {
      if (attempt >= timing.activityAttempts) throw e;
      const delay = timing.retryDelaySeconds * 2 ** (attempt - 1);
      yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, delay));
    }
  }
}

/**
 * Roll: set the pod template's config hash (and restartedAt when forced), poll the rollout on durable
 * timers until complete or the deadline, roll back to the previous template on failure or timeout.
 * Before finishing it asks for the desired hash again: a change that landed during the roll starts a
 * follow-up round (continueAsNew), so it is never lost.
 */
export const rollOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RollInput>();
  const { timing } = input;
  const round = input.round ?? 1;
  // Read before the patch, in an activity of its own: its result is in the history, so a retried
  // beginRoll (whose patch may have landed before it failed) cannot take the new template for the old.
  const previousTemplate = yield* callWithRetry(context, timing, 'readTemplate', input.gateway);
  const started = yield* callWithRetry(context, timing, 'beginRoll', {
    gateway: input.gateway,
    force: input.force,
    restartedAt: context.df.currentUtcDateTime.toISOString(),
  });
  const deadline = addSeconds(context.df.currentUtcDateTime, timing.timeoutSeconds);
  let polls = 0;
  for (;;) {
    const progress = yield* callWithRetry(context, timing, 'readRoll', input.gateway);
    polls += 1;
    if (progress.complete) break;
    const timedOut = context.df.currentUtcDateTime >= deadline;
    if (progress.failure !== undefined || timedOut) {
      yield* callWithRetry(context, timing, 'rollBack', {
        gateway: input.gateway,
        template: previousTemplate,
      });
      const why = progress.failure ?? `not complete after ${timing.timeoutSeconds} s (${progress.summary})`;
      throw new Error(`roll of gateway '${input.gateway}' failed and was rolled back: ${why}`);
    }
    yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, timing.pollSeconds));
  }
  const desired = yield* callWithRetry(context, timing, 'desiredConfigHash', input.gateway);
  if (desired !== started.targetHash) {
    context.df.continueAsNew({
      ...input,
      reason: 'follow-up',
      force: false,
      round: round + 1,
    } satisfies RollInput);
    return undefined;
  }
  // A request that joined this roll raised an event; events raised while the roll ran are buffered by
  // the executor and win against a timer due now. One more round covers every request drained here,
  // including a change that landed after the desired-hash check above.
  const joined = context.df.waitForExternalEvent(ROLL_REQUESTED_EVENT);
  const now = context.df.createTimer(context.df.currentUtcDateTime);
  const first = (yield context.df.Task.any([joined, now])) as Task;
  if (first === joined) {
    now.cancel();
    const request = joined.result as RollRequestedEvent | undefined;
    context.df.continueAsNew({
      ...input,
      reason: 'joined',
      force: request?.force === true,
      round: round + 1,
    } satisfies RollInput);
    return undefined;
  }
  return {
    gateway: input.gateway,
    configHash: started.targetHash,
    rounds: round,
    polls,
  } satisfies RollResult;
};

export interface GatewayOperationInput {
  readonly gateway: string;
  readonly timing: Timing;
}

/** Provision: wait (durable timers) until the gateway's LoadBalancer has an address. */
export const provisionOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<GatewayOperationInput>();
  const deadline = addSeconds(context.df.currentUtcDateTime, input.timing.timeoutSeconds);
  for (;;) {
    const address = yield* callWithRetry(context, input.timing, 'readAddress', input.gateway);
    if (address) return { gateway: input.gateway, address };
    if (context.df.currentUtcDateTime >= deadline)
      throw new Error(
        `gateway '${input.gateway}' got no load balancer address within ${input.timing.timeoutSeconds} s`,
      );
    yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, input.timing.pollSeconds));
  }
};

/**
 * Delete: read the client names from the state (the secret store's index, kept in the history), delete
 * the namespace, wait until it is gone, then delete the gateway's secrets by those names.
 */
export const deleteOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<GatewayOperationInput>();
  const clients = yield* callWithRetry(context, input.timing, 'readClientNames', input.gateway);
  yield* callWithRetry(context, input.timing, 'deleteNamespace', input.gateway);
  const deadline = addSeconds(context.df.currentUtcDateTime, input.timing.timeoutSeconds);
  for (;;) {
    const gone = yield* callWithRetry(context, input.timing, 'namespaceGone', input.gateway);
    if (gone) break;
    if (context.df.currentUtcDateTime >= deadline)
      throw new Error(
        `namespace of gateway '${input.gateway}' still exists after ${input.timing.timeoutSeconds} s`,
      );
    yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, input.timing.pollSeconds));
  }
  yield* callWithRetry(context, input.timing, 'deleteSecrets', {
    gateway: input.gateway,
    clients,
  });
  return { gateway: input.gateway, deleted: true };
};
