import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { defineRoute, json } from '../shared/http/route.js';

/** GET /api/operations/{id}: a long-running operation in the Azure LRO shape. */
const getOperationRoute: RouteDefinition = defineRoute(API.getOperation, async ({ params }, call) =>
  json(200, await call.useCases.getOperation(await call.deps(), params.id)),
);

export const operationRoutes: readonly RouteDefinition[] = [getOperationRoute];
