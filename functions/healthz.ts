import azureFunctions from '@azure/functions';
import type { HttpHandler } from '@azure/functions';
import { VERSION } from '../shared/version.js';

const { app } = azureFunctions;

/** Liveness: answers without touching any dependency. */
export function makeHealthzHandler(): HttpHandler {
  return () => Promise.resolve({ status: 200, jsonBody: { status: 'ok', version: VERSION } });
}

app.http('healthz', {
  route: 'healthz',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: makeHealthzHandler(),
});
