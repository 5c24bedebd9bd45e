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

/**
 * Orchestrator names (also their Azure Functions names, which share one namespace with the HTTP
 * functions' operation ids and the timer: `deleteGateway` is taken by the DELETE route).
 */
export const ORCHESTRATOR = Object.freeze({
  roll: 'rollGatewayOrchestrator',
  provision: 'provisionGatewayOrchestrator',
  delete: 'deleteGatewayOrchestrator',
  liveApply: 'liveApplyOrchestrator',
});

export interface Timing {
  readonly pollSeconds: number;
  readonly timeoutSeconds: number;
  /** Attempts of each activity before the orchestration fails. */
  readonly activityAttempts: number;
  /** First retry delay; doubles per attempt. */
  readonly retryDelaySeconds: number;
  /** How long a live change waits for the pod's report (LIVE_APPLY_TIMEOUT_SECONDS); `timeoutSeconds` when unset. */
  readonly liveApplyTimeoutSeconds?: number | undefined;
}

export interface RollInput {
  readonly gateway: string;
  readonly reason: string;
  readonly timing: Timing;
  /**
   * The ledger generation already rolled out when this round was asked for: a restart requested after
   * it makes the round start a new pod even when nothing changed.
   */
  readonly since: number;
  /** Follow-up rolls count up; the first roll is 1. */
  readonly round?: number;
}

export interface RollResult {
  readonly gateway: string;
  /** Unset when the roll found the ledger owned by another roll (it was taken over) and did nothing. */
  readonly configHash?: string | undefined;
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
 * Roll: set the pod template's config hash (and restartedAt when a restart was asked for), poll the
 * rollout on durable timers until complete or the deadline, roll back to the previous template on failure
 * or timeout. The roll owns the gateway's roll ledger (see roll-requests.ts) from its first step to its
 * last: it ends only through `finishRoll`, which releases the ledger in a write that finds no request
 * after the generation this round rolled out; otherwise the roll goes on with another round
 * (continueAsNew), so a request that joins at any point is rolled out by this roll.
 */
export const rollOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<RollInput>();
  const { timing, gateway } = input;
  const instanceId = context.df.instanceId;
  const round = input.round ?? 1;
  if (round === 1 && !(yield* callWithRetry(context, timing, 'enterRoll', { gateway, instanceId })))
    return { gateway, rounds: 0, polls: 0 } satisfies RollResult;
  const nextRound = (since: number, reason: string) =>
    context.df.continueAsNew({ ...input, reason, since, round: round + 1 } satisfies RollInput);
  // Read before the patch, in an activity of its own: its result is in the history, so a retried
  // beginRoll (whose patch may have landed before it failed) cannot take the new template for the old.
  const previousTemplate = yield* callWithRetry(context, timing, 'readTemplate', gateway);
  const started = yield* callWithRetry(context, timing, 'beginRoll', {
    gateway,
    since: input.since,
    restartedAt: context.df.currentUtcDateTime.toISOString(),
  });
  const finish = () =>
    callWithRetry(context, timing, 'finishRoll', { gateway, instanceId, generation: started.generation });
  const deadline = addSeconds(context.df.currentUtcDateTime, timing.timeoutSeconds);
  let polls = 0;
  for (;;) {
    const progress = yield* callWithRetry(context, timing, 'readRoll', gateway);
    polls += 1;
    if (progress.complete) break;
    const timedOut = context.df.currentUtcDateTime >= deadline;
    if (progress.failure !== undefined || timedOut) {
      yield* callWithRetry(context, timing, 'rollBack', { gateway, template: previousTemplate });
      // A request that came during the failed round may be the fix: it gets its round.
      if ((yield* finish()).again) {
        nextRound(started.generation, 'requested during a failed round');
        return undefined;
      }
      const why = progress.failure ?? `not complete after ${timing.timeoutSeconds} s (${progress.summary})`;
      throw new Error(`roll of gateway '${gateway}' failed and was rolled back: ${why}`);
    }
    yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, timing.pollSeconds));
  }
  // A change whose request did not reach the ledger (it failed after writing the state) is still rolled
  // out when the hash moved under this round.
  const desired = yield* callWithRetry(context, timing, 'desiredConfigHash', gateway);
  if (desired !== started.targetHash || (yield* finish()).again) {
    nextRound(started.generation, 'requested during the roll');
    return undefined;
  }
  return { gateway, configHash: started.targetHash, rounds: round, polls } satisfies RollResult;
};

export interface GatewayOperationInput {
  readonly gateway: string;
  readonly timing: Timing;
}

/**
 * Live apply: a port-mapping change was written to the cluster without a roll; wait (durable timers) until
 * the running pod reports the latest set applied. A later change supersedes this one: the wait is for the
 * latest set, which includes it. On timeout the error names what the pod last reported.
 */
export const liveApplyOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const { gateway, timing } = context.df.getInput<GatewayOperationInput>();
  const timeout = timing.liveApplyTimeoutSeconds ?? timing.timeoutSeconds;
  const deadline = addSeconds(context.df.currentUtcDateTime, timeout);
  for (;;) {
    const report = yield* callWithRetry(context, timing, 'readApplied', gateway);
    if (report.applied) return { gateway, applied: true };
    if (context.df.currentUtcDateTime >= deadline)
      throw new Error(
        `gateway '${gateway}' did not report the latest port mappings applied within ${timeout} s; last report: ${report.summary}`,
      );
    yield context.df.createTimer(addSeconds(context.df.currentUtcDateTime, timing.pollSeconds));
  }
};

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
 * Delete (started once the gateway's state carries its deletion mark, so no client can be added any
 * more): read the client names from the state (the secret store's index, kept in the history), delete
 * the gateway's secrets by those names, then the namespace, and wait until it is gone. Secrets first: the
 * state (in the namespace) is the only index of the secrets, so while it exists a deletion that stopped
 * can be run again (a repeated DELETE, the reconciler); deleted after the namespace, secrets left by a
 * deletion that stopped in between could never be found again. A secret written after the secrets pass
 * by a request admitted before the mark is taken back by that request (its next read of the state finds
 * the mark, or no gateway).
 */
export const deleteOrchestrator: OrchestrationHandler = function* (context: OrchestrationContext) {
  const input = context.df.getInput<GatewayOperationInput>();
  const clients = yield* callWithRetry(context, input.timing, 'readClientNames', input.gateway);
  // Gone already: an earlier run deleted the secrets and the namespace.
  if (clients === null) return { gateway: input.gateway, deleted: true };
  yield* callWithRetry(context, input.timing, 'deleteSecrets', { gateway: input.gateway, clients });
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
  return { gateway: input.gateway, deleted: true };
};
