import { NotFoundError } from '../shared/errors.js';
import { API } from '../shared/gateways/api.js';
import type { RouteDefinition } from '../shared/http.js';
import { defineRoute, json } from '../shared/http.js';
import { registerRoutes } from './register.js';

/** GET /api/operations/{id}: a long-running operation in the Azure LRO shape. */
export const getOperationRoute: RouteDefinition = defineRoute(API.getOperation, async ({ params }, call) => {
  const { operations } = await call.deps();
  const operation = await operations.getOperation(params.id);
  if (!operation) throw new NotFoundError(`operation '${params.id}' does not exist`);
  return json(200, operation);
});

export const operationRoutes: readonly RouteDefinition[] = [getOperationRoute];

registerRoutes(operationRoutes);
