// The Durable Functions side of the app as plain data (index.ts registers it): the orchestrators (pure
// sequencing) by name, and the activity handler, which gets the same dependencies as the HTTP handlers
// from the composition root.
import type { ActivityHandler, OrchestrationHandler } from 'durable-functions';
import type { Composition } from '../shared/composition.js';
import {
  ORCHESTRATOR,
  deleteOrchestrator,
  liveApplyOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../shared/operations/orchestrators.js';

export const ORCHESTRATIONS: readonly (readonly [name: string, handler: OrchestrationHandler])[] = [
  [ORCHESTRATOR.roll, rollOrchestrator],
  [ORCHESTRATOR.provision, provisionOrchestrator],
  [ORCHESTRATOR.delete, deleteOrchestrator],
  [ORCHESTRATOR.liveApply, liveApplyOrchestrator],
];

/**
 * The handler of the activity named `name`, over the invocation's dependencies. The activities (and the
 * use-cases they call) are loaded on the first activity run, not when the host starts.
 */
export function makeActivityHandler(name: string, composition: Pick<Composition, 'deps'>): ActivityHandler {
  return async (input: unknown, context) => {
    const [{ makeActivities }, deps] = await Promise.all([
      import('../shared/operations/activities.js'),
      composition.deps(context),
    ]);
    const activity = makeActivities(deps)[name];
    if (!activity) throw new Error(`no activity ${name}`);
    return activity(input);
  };
}
