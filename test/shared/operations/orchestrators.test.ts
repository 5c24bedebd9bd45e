import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import { describe, expect, it } from 'vitest';
import type { Activity } from '../../../shared/operations/activities.js';
import type { RollInput, Timing } from '../../../shared/operations/orchestrators.js';
import {
  ACTIVITY,
  deleteOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../../../shared/operations/orchestrators.js';
import { runOrchestration } from '../../support/replay-engine.js';

const timing: Timing = { pollSeconds: 5, timeoutSeconds: 60, activityAttempts: 3, retryDelaySeconds: 2 };

/** A virtual clock: timers fire at once, and time jumps to their due time. */
function virtualClock(start = new Date('2026-11-22T12:00:00Z')) {
  let now = start;
  return {
    now: () => now,
    waitUntil: (fireAt: Date) => {
      if (fireAt > now) now = fireAt;
      return Promise.resolve();
    },
  };
}

/**
 * The roll's activities over a tiny ledger: `requestAt(n)` makes a request (one more generation) just
 * before the n-th activity call, the way a request that joins the running roll writes the ledger.
 */
function rollActivities(o: {
  pollsUntilComplete: number;
  failure?: string;
  changeMidRoll?: boolean;
  owner?: string;
  requestAt?: ReadonlySet<number>;
}) {
  const calls: string[] = [];
  const ledger: { requested: number; running: string | undefined } = {
    requested: 1,
    running: o.owner ?? 'roll-gw',
  };
  let polls = 0;
  let desired = 'h1';
  let changed = false;
  let n = 0;
  const counted =
    (activity: Activity): Activity =>
    (input) => {
      n += 1;
      if (o.requestAt?.has(n)) ledger.requested += 1;
      return activity(input);
    };
  const activities: Record<string, Activity> = {
    [ACTIVITY.enterRoll]: (input) => {
      calls.push('enter');
      return Promise.resolve((input as { instanceId: string }).instanceId === ledger.running);
    },
    [ACTIVITY.readTemplate]: () => {
      calls.push('template');
      return Promise.resolve({ old: true });
    },
    [ACTIVITY.beginRoll]: (input) => {
      calls.push(`begin ${JSON.stringify(input)}`);
      return Promise.resolve({
        targetHash: desired,
        changed: true,
        generation: ledger.requested,
        forced: false,
      });
    },
    [ACTIVITY.readRoll]: () => {
      polls += 1;
      calls.push('read');
      if (o.changeMidRoll && !changed) {
        // a PUT whose request never reached the ledger lands while the pod rolls: the desired hash moves on
        changed = true;
        desired = 'h2';
      }
      return Promise.resolve({
        complete: polls >= o.pollsUntilComplete,
        ...(o.failure && polls >= 2 ? { failure: o.failure } : {}),
        summary: `poll ${polls}`,
      });
    },
    [ACTIVITY.rollBack]: (input) => {
      calls.push(`rollback ${JSON.stringify(input)}`);
      return Promise.resolve(true);
    },
    [ACTIVITY.desiredConfigHash]: () => {
      calls.push('desired');
      return Promise.resolve(desired);
    },
    [ACTIVITY.finishRoll]: (input) => {
      const { instanceId, generation } = input as { instanceId: string; generation: number };
      const again = ledger.running === instanceId && ledger.requested > generation;
      if (ledger.running === instanceId && !again) ledger.running = undefined;
      calls.push(`finish ${generation}${again ? ' again' : ''}`);
      return Promise.resolve({ again });
    },
  };
  return {
    activities: Object.fromEntries(Object.entries(activities).map(([k, a]) => [k, counted(a)])),
    calls,
    ledger,
  };
}

const rollInput: RollInput = { gateway: 'gw', reason: 'config-change', since: 0, timing };

describe('rollOrchestrator and the roll ledger', () => {
  const run = (o: Parameters<typeof rollActivities>[0]) => {
    const { activities, calls, ledger } = rollActivities(o);
    return runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities,
      ...virtualClock(),
    }).then((result) => ({ result, calls, ledger }));
  };

  it('rolls once more whatever activity a request comes before, and releases the ledger only after', async () => {
    // GIVEN the activity calls of a roll nobody joins
    const alone = await run({ pollsUntilComplete: 2 });
    expect(alone.result).toMatchObject({ status: 'Succeeded', generations: 1 });
    const activityCalls = alone.calls.length;
    expect(activityCalls).toBe(7);
    // WHEN a request writes the ledger before each of them in turn
    for (let at = 1; at <= activityCalls; at += 1) {
      const joined = await run({ pollsUntilComplete: 2, requestAt: new Set([at]) });
      // THEN the roll covers it: a second round when it came after the first round's generation was read
      const expectedRounds = at <= 3 ? 1 : 2;
      expect({
        at,
        status: joined.result.status,
        rounds: joined.calls.filter((c) => c.startsWith('begin')).length,
      }).toStrictEqual({
        at,
        status: 'Succeeded',
        rounds: expectedRounds,
      });
      expect(joined.calls.at(-1)).toBe('finish 2');
      expect(joined.ledger.running).toBeUndefined();
    }
  });

  it('does nothing when another roll owns the ledger', async () => {
    const { result, calls } = await run({ pollsUntilComplete: 1, owner: 'roll-gw-other' });
    expect(result).toMatchObject({ status: 'Succeeded', output: { gateway: 'gw', rounds: 0 } });
    expect(calls).toStrictEqual(['enter']);
  });

  it('rolls once more instead of failing when a request came during a round that failed', async () => {
    const { result, calls } = await run({
      pollsUntilComplete: 99,
      failure: 'ProgressDeadlineExceeded',
      requestAt: new Set([4]),
    });
    // the second round fails too, and nobody came after it: the roll fails
    expect(result.status).toBe('Failed');
    expect(calls.filter((c) => c.startsWith('rollback'))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('finish'))).toStrictEqual(['finish 1 again', 'finish 2']);
  });
});

describe('rollOrchestrator through the durable-functions executor', () => {
  it('sets the hash, polls on durable timers until complete, and succeeds', async () => {
    const clock = virtualClock();
    const { activities, calls } = rollActivities({ pollsUntilComplete: 3 });
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities,
      ...clock,
    });
    expect(result).toMatchObject({
      status: 'Succeeded',
      output: { gateway: 'gw', configHash: 'h1', rounds: 1, polls: 3 },
      generations: 1,
    });
    expect(calls).toStrictEqual([
      'enter',
      'template',
      'begin {"gateway":"gw","since":0,"restartedAt":"2026-11-22T12:00:00.000Z"}',
      'read',
      'read',
      'read',
      'desired',
      'finish 1',
    ]);
    // two poll timers of 5 s passed on the orchestration's clock
    expect(clock.now().toISOString()).toBe('2026-11-22T12:00:10.000Z');
  });

  it('rolls back and fails when the rollout reports a failure', async () => {
    const { activities, calls } = rollActivities({
      pollsUntilComplete: 99,
      failure: 'ProgressDeadlineExceeded',
    });
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities,
      ...virtualClock(),
    });
    expect(result.status).toBe('Failed');
    expect(result.error).toContain('rolled back: ProgressDeadlineExceeded');
    expect(calls.slice(-2)).toStrictEqual(['rollback {"gateway":"gw","template":{"old":true}}', 'finish 1']);
  });

  it('rolls back to the template read before the roll, even when beginRoll failed after its patch landed', async () => {
    const { activities, calls } = rollActivities({
      pollsUntilComplete: 99,
      failure: 'ProgressDeadlineExceeded',
    });
    // a tiny "cluster": the Deployment's template, patched by beginRoll
    let template: unknown = { old: true };
    let failures = 1;
    const patchThenFail: Record<string, Activity> = {
      ...activities,
      [ACTIVITY.readTemplate]: () => Promise.resolve(template),
      [ACTIVITY.beginRoll]: (input) => {
        template = { new: true };
        return failures-- > 0
          ? Promise.reject(new Error('connection reset after the patch was applied'))
          : activities[ACTIVITY.beginRoll]!(input);
      },
    };
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities: patchThenFail,
      ...virtualClock(),
    });
    expect(result.status).toBe('Failed');
    expect(calls.slice(-2)).toStrictEqual(['rollback {"gateway":"gw","template":{"old":true}}', 'finish 1']);
  });

  it('rolls back when the deadline passes', async () => {
    const { activities, calls } = rollActivities({ pollsUntilComplete: 99 });
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities,
      ...virtualClock(),
    });
    expect(result.status).toBe('Failed');
    expect(result.error).toMatch(/not complete after 60 s/);
    expect(calls.filter((c) => c === 'read')).toHaveLength(13);
    expect(calls.at(-2)).toMatch(/^rollback/);
  });

  it('retries a failing activity on durable timers, then succeeds', async () => {
    const { activities, calls } = rollActivities({ pollsUntilComplete: 1 });
    let failures = 2;
    const flaky: Record<string, Activity> = {
      ...activities,
      [ACTIVITY.readRoll]: (input) =>
        failures-- > 0 ? Promise.reject(new Error('API server 503')) : activities[ACTIVITY.readRoll]!(input),
    };
    const clock = virtualClock();
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities: flaky,
      ...clock,
    });
    expect(result.status).toBe('Succeeded');
    expect(calls.filter((c) => c === 'read')).toHaveLength(1);
    // retry delays 2 s then 4 s
    expect(clock.now().toISOString()).toBe('2026-11-22T12:00:06.000Z');
  });

  it('fails after the last attempt of an activity', async () => {
    const { activities } = rollActivities({ pollsUntilComplete: 1 });
    const broken = { ...activities, [ACTIVITY.beginRoll]: () => Promise.reject(new Error('forbidden')) };
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities: broken,
      ...virtualClock(),
    });
    expect(result.status).toBe('Failed');
    expect(result.error).toContain('forbidden');
  });

  it('starts a follow-up round when the desired hash changed during the roll', async () => {
    const { activities, calls } = rollActivities({ pollsUntilComplete: 1, changeMidRoll: true });
    const result = await runOrchestration(rollOrchestrator, {
      name: 'roll',
      instanceId: 'roll-gw',
      input: rollInput,
      activities,
      ...virtualClock(),
    });
    expect(result).toMatchObject({
      status: 'Succeeded',
      generations: 2,
      output: { configHash: 'h2', rounds: 2 },
    });
    expect(calls.filter((c) => c.startsWith('begin'))).toHaveLength(2);
  });
});

describe('provision and delete orchestrators', () => {
  it('waits for the load balancer address', async () => {
    let reads = 0;
    const activities: Record<string, Activity> = {
      [ACTIVITY.readAddress]: () => Promise.resolve(++reads >= 3 ? '203.0.113.7' : null),
    };
    const result = await runOrchestration(provisionOrchestrator, {
      name: 'provision',
      instanceId: 'p',
      input: { gateway: 'gw', timing },
      activities,
      ...virtualClock(),
    });
    expect(result).toMatchObject({ status: 'Succeeded', output: { gateway: 'gw', address: '203.0.113.7' } });
  });

  it('reads the client names, deletes the secrets by those names, then the namespace, and waits until it is gone', async () => {
    const calls: unknown[] = [];
    let checks = 0;
    const activities: Record<string, Activity> = {
      [ACTIVITY.readClientNames]: () => Promise.resolve(calls.push('read names') && ['site-a', 'site-b']),
      [ACTIVITY.deleteNamespace]: () => Promise.resolve(calls.push('delete ns')),
      [ACTIVITY.namespaceGone]: () => Promise.resolve(calls.push('gone?') > 0 && ++checks >= 2),
      [ACTIVITY.deleteSecrets]: (input) => Promise.resolve(calls.push(['delete secrets', input])),
    };
    const result = await runOrchestration(deleteOrchestrator, {
      name: 'delete',
      instanceId: 'd',
      input: { gateway: 'gw', timing },
      activities,
      ...virtualClock(),
    });
    expect(result.status).toBe('Succeeded');
    expect(calls).toStrictEqual([
      'read names',
      ['delete secrets', { gateway: 'gw', clients: ['site-a', 'site-b'] }],
      'delete ns',
      'gone?',
      'gone?',
    ]);
  });

  it('ends at once, deleting nothing, when the state is already gone (an earlier run deleted the gateway)', async () => {
    const calls: string[] = [];
    const activities: Record<string, Activity> = {
      [ACTIVITY.readClientNames]: () => Promise.resolve(calls.push('read names') && null),
      [ACTIVITY.deleteNamespace]: () => Promise.resolve(calls.push('delete ns')),
      [ACTIVITY.namespaceGone]: () => Promise.resolve(calls.push('gone?') > 0),
      [ACTIVITY.deleteSecrets]: () => Promise.resolve(calls.push('delete secrets')),
    };
    const result = await runOrchestration(deleteOrchestrator, {
      name: 'delete',
      instanceId: 'd',
      input: { gateway: 'gw', timing },
      activities,
      ...virtualClock(),
    });
    expect(result).toMatchObject({ status: 'Succeeded', output: { gateway: 'gw', deleted: true } });
    expect(calls).toStrictEqual(['read names']);
  });
});

describe('the replay engine', () => {
  it('catches a non-deterministic orchestrator', async () => {
    let flip = false;
    const nondeterministic: OrchestrationHandler = function* (context: OrchestrationContext) {
      flip = !flip;
      yield context.df.callActivity(flip ? 'a' : 'b');
      yield context.df.callActivity('c');
      return 'done';
    };
    const ok = () => Promise.resolve(1);
    const result = await runOrchestration(nondeterministic, {
      name: 'n',
      instanceId: 'n',
      input: null,
      activities: { a: ok, b: ok, c: ok },
      ...virtualClock(),
    });
    expect(result.status).toBe('Failed');
    expect(result.error).toMatch(/non-deterministic/);
  });
});
