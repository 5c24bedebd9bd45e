// Durable Functions registrations: the orchestrators (pure sequencing) and their activities, which get
// the same dependencies as the HTTP handlers from the composition root.
import df from 'durable-functions';
import { functionsComposition } from '../shared/composition.js';
import { makeActivities } from '../shared/operations/activities.js';
import {
  ACTIVITY,
  ORCHESTRATOR,
  deleteOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../shared/operations/orchestrators.js';
import { isSandboxHost } from './register.js';

if (!isSandboxHost()) {
  df.app.orchestration(ORCHESTRATOR.roll, rollOrchestrator);
  df.app.orchestration(ORCHESTRATOR.provision, provisionOrchestrator);
  df.app.orchestration(ORCHESTRATOR.delete, deleteOrchestrator);
  for (const name of Object.values(ACTIVITY))
    df.app.activity(name, {
      handler: async (input: unknown, context) => {
        const activity = makeActivities(await functionsComposition.deps(context))[name];
        if (!activity) throw new Error(`no activity ${name}`);
        return activity(input);
      },
    });
}
