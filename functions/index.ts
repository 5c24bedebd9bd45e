// Entry point the Functions host loads (package.json "main") and the one place that registers with it. The
// modules beside it export plain data (route lists, orchestrators, handler factories) and register nothing
// when imported, so the sandbox serves the same route lists without touching the Functions host.
import azureFunctions from '@azure/functions';
import df from 'durable-functions';
import { methodsOf } from '../shared/api/routes.js';
import { createComposition } from '../shared/composition.js';
import { ACTIVITY } from '../shared/operations/orchestrators.js';
import { startApp } from './app-start.js';
import { CRL_TIMER, crlTimerSchedule, makeCrlTimerHandler } from './crl-timer.js';
import { ORCHESTRATIONS, makeActivityHandler } from './orchestrations.js';
import { ALL_ROUTES } from './routes.js';

const { app } = azureFunctions;
const composition = createComposition();

// The configuration is checked first, when the host starts the app.
app.hook.appStart(() => {
  startApp(process.env);
});

for (const { operation, makeHandler } of ALL_ROUTES)
  app.http(operation.operationId, {
    route: operation.route,
    methods: methodsOf(operation.method),
    authLevel: operation.authLevel,
    // Routes that touch the domain may start or read long-running operations (Durable Functions client).
    ...((operation.authLevel === 'function' || operation.credential !== undefined) &&
    operation.operationId !== 'getOpenApi'
      ? { extraInputs: [df.input.durableClient()] }
      : {}),
    handler: makeHandler(composition),
  });

for (const [name, handler] of ORCHESTRATIONS) df.app.orchestration(name, handler);
for (const name of Object.values(ACTIVITY))
  df.app.activity(name, { handler: makeActivityHandler(name, composition) });

app.timer(CRL_TIMER, {
  schedule: crlTimerSchedule(process.env),
  runOnStartup: false,
  handler: makeCrlTimerHandler(composition),
});
