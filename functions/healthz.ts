import type { HttpHandler } from '@azure/functions';
import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { VERSION } from '../shared/version.js';

/** Liveness: answers without touching any dependency. */
export function makeHealthzHandler(): HttpHandler {
  return () => Promise.resolve({ status: 200, jsonBody: { status: 'ok', version: VERSION } });
}

export const healthzRoutes: readonly RouteDefinition[] = [
  { operation: API.healthz, makeHandler: () => makeHealthzHandler() },
];
