/**
 * Runs one of the product's orchestrators in-process, straight through: each task it yields is carried
 * out at once (an activity called, a timer waited for), its result handed back as the host hands it (JSON,
 * a failure thrown into the orchestrator), and continueAsNew starts the next generation. The host replays
 * instead: the product's tests replay these orchestrators with durable-functions' own executor
 * (test/support/replay-engine.ts). The orchestrators use only what the context below gives.
 */
import type { OrchestrationContext, OrchestrationHandler } from 'durable-functions';
import type { Activity } from '../shared/operations/activities.js';

interface Yielded {
  readonly activity?: string;
  readonly input?: unknown;
  readonly fireAt?: Date;
}

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value ?? null));

async function carryOut(task: Yielded, activities: Readonly<Record<string, Activity>>): Promise<unknown> {
  if (task.fireAt) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, task.fireAt!.getTime() - Date.now())));
    return undefined;
  }
  const activity = activities[task.activity ?? ''];
  if (!activity) throw new Error(`no activity named '${task.activity}'`);
  return json(await activity(json(task.input)));
}

/** Runs `handler` as instance `instanceId` until it returns its output or throws. */
export async function runOrchestration(
  handler: OrchestrationHandler,
  instanceId: string,
  input: unknown,
  activities: Readonly<Record<string, Activity>>,
): Promise<unknown> {
  for (let generationInput = json(input); ;) {
    let continued: { input: unknown } | undefined;
    const df = {
      instanceId,
      currentUtcDateTime: new Date(),
      getInput: () => generationInput,
      callActivity: (activity: string, activityInput: unknown): Yielded => ({
        activity,
        input: activityInput,
      }),
      createTimer: (fireAt: Date): Yielded => ({ fireAt }),
      continueAsNew: (next: unknown) => (continued = { input: json(next) }),
    };
    const steps = handler({ df } as unknown as OrchestrationContext) as Generator<Yielded, unknown, unknown>;
    let step = steps.next();
    while (!step.done) {
      const outcome = await carryOut(step.value, activities).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      df.currentUtcDateTime = new Date();
      step = 'error' in outcome ? steps.throw(outcome.error) : steps.next(outcome.value);
    }
    if (!continued) return step.value;
    generationInput = continued.input;
  }
}
