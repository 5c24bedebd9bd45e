// How a route of the API table becomes an Azure Functions HTTP trigger: one place, so every function
// gets the same route template, method, auth level and durable-client binding.
import azureFunctions from '@azure/functions';
import df from 'durable-functions';
import { functionsComposition } from '../shared/composition.js';
import { methodsOf } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';

const { app } = azureFunctions;

const SANDBOX_HOST = Symbol.for('aks-vpn-gateways.sandbox-host');

/**
 * Called by the sandbox host before it imports the routes: it serves them itself, so registering them
 * with `app.http` (which only warns outside the Functions host) is skipped.
 */
export function markSandboxHost(): void {
  (globalThis as Record<symbol, unknown>)[SANDBOX_HOST] = true;
}

/** Whether the sandbox host (not the Functions host) loaded the functions. */
export function isSandboxHost(): boolean {
  return (globalThis as Record<symbol, unknown>)[SANDBOX_HOST] === true;
}

/** Registers each route with the Functions host (a no-op with a warning in tests). */
export function registerRoutes(routes: readonly RouteDefinition[]): void {
  if (isSandboxHost()) return;
  for (const { operation, makeHandler } of routes)
    app.http(operation.operationId, {
      route: operation.route,
      methods: methodsOf(operation.method),
      authLevel: operation.authLevel,
      // Routes that touch the domain may start or read long-running operations (Durable Functions client).
      ...(operation.authLevel === 'function' && operation.operationId !== 'getOpenApi'
        ? { extraInputs: [df.input.durableClient()] }
        : {}),
      handler: makeHandler(functionsComposition),
    });
}
