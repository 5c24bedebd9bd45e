import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { defineRoute, json, operationLocation } from '../shared/http/route.js';

/** GET /api/gateways/{gateway}/port-mappings */
const getPortMappingsRoute: RouteDefinition = defineRoute(API.getPortMappings, async ({ params }, call) =>
  json(200, await call.useCases.getPortMappings(await call.deps(), params.gateway)),
);

/** GET /api/gateways/{gateway}/connections */
const listConnectionsRoute: RouteDefinition = defineRoute(API.listConnections, async ({ params }, call) =>
  json(200, await call.useCases.listConnections(await call.deps(), params.gateway)),
);

/**
 * PUT /api/gateways/{gateway}/port-mappings: replaces the set; 202 + `Operation-Location` (the live apply,
 * done when the pod reports the set applied).
 */
const putPortMappingsRoute: RouteDefinition = defineRoute(
  API.putPortMappings,
  async ({ params, body }, call) => {
    const result = await call.useCases.replacePortMappings(await call.deps(), params.gateway, body.mappings);
    return json(202, result, { 'operation-location': operationLocation(call.request, result.operationId) });
  },
);

export const portMappingRoutes: readonly RouteDefinition[] = [
  listConnectionsRoute,
  getPortMappingsRoute,
  putPortMappingsRoute,
];
