import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { absoluteUrl, defineRoute, json, operationLocation } from '../shared/http/route.js';

/** PUT /api/gateways/{gateway}: 201 (created) or 200, `Operation-Location` when work started. */
const putGatewayRoute: RouteDefinition = defineRoute(API.putGateway, async ({ params, body }, call) => {
  const result = await call.useCases.putGateway(await call.deps(), params.gateway, body);
  const headers: Record<string, string> = {};
  if (result.created)
    headers.location = absoluteUrl(call.request, `/api/gateways/${encodeURIComponent(params.gateway)}`);
  if (result.operationId) headers['operation-location'] = operationLocation(call.request, result.operationId);
  return json(result.created ? 201 : 200, result.gateway, headers);
});

/** GET /api/gateways */
const listGatewaysRoute: RouteDefinition = defineRoute(API.listGateways, async (_input, call) =>
  json(200, { value: await call.useCases.listGateways(await call.deps()) }),
);

/** GET /api/gateways/{gateway} */
const getGatewayRoute: RouteDefinition = defineRoute(API.getGateway, async ({ params }, call) =>
  json(200, await call.useCases.getGateway(await call.deps(), params.gateway)),
);

/** DELETE /api/gateways/{gateway}: 202 + `Operation-Location`. */
const deleteGatewayRoute: RouteDefinition = defineRoute(API.deleteGateway, async ({ params }, call) => {
  const { operationId } = await call.useCases.deleteGateway(await call.deps(), params.gateway);
  return json(202, { operationId }, { 'operation-location': operationLocation(call.request, operationId) });
});

/** POST /api/gateways/{gateway}/restart: 202 + `Operation-Location`. */
const restartGatewayRoute: RouteDefinition = defineRoute(API.restartGateway, async ({ params }, call) => {
  const { operationId } = await call.useCases.restartGateway(await call.deps(), params.gateway);
  return json(202, { operationId }, { 'operation-location': operationLocation(call.request, operationId) });
});

export const gatewayRoutes: readonly RouteDefinition[] = [
  putGatewayRoute,
  listGatewaysRoute,
  getGatewayRoute,
  deleteGatewayRoute,
  restartGatewayRoute,
];
