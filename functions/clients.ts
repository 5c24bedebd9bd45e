import { API } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { absoluteUrl, defineRoute, json, operationLocation } from '../shared/http/route.js';

const clientPath = (gateway: string, client: string) =>
  `/api/gateways/${encodeURIComponent(gateway)}/clients/${encodeURIComponent(client)}`;

/** POST /api/gateways/{gateway}/clients: 201 + client + `Location`. */
const issueClientRoute: RouteDefinition = defineRoute(API.issueClient, async ({ params, body }, call) => {
  const client = await call.useCases.issueClient(await call.deps(), params.gateway, body);
  return json(201, client, { location: absoluteUrl(call.request, clientPath(params.gateway, body.name)) });
});

/** GET /api/gateways/{gateway}/clients */
const listClientsRoute: RouteDefinition = defineRoute(API.listClients, async ({ params }, call) =>
  json(200, { value: await call.useCases.listClients(await call.deps(), params.gateway) }),
);

/** GET /api/gateways/{gateway}/clients/{client} */
const getClientRoute: RouteDefinition = defineRoute(API.getClient, async ({ params }, call) =>
  json(200, await call.useCases.getClient(await call.deps(), params.gateway, params.client)),
);

/** GET /api/gateways/{gateway}/clients/{client}/profile: the `.ovpn` (holds the key: never cached). */
const getClientProfileRoute: RouteDefinition = defineRoute(
  API.getClientProfile,
  async ({ params }, call) => ({
    status: 200,
    body: await call.useCases.getClientProfile(await call.deps(), params.gateway, params.client),
    headers: {
      'content-type': 'application/x-openvpn-profile',
      'content-disposition': `attachment; filename="${params.gateway}-${params.client}.ovpn"`,
      'cache-control': 'no-store',
    },
  }),
);

/** DELETE /api/gateways/{gateway}/clients/{client}[?force=true]: 200 + revoked client. */
const revokeClientRoute: RouteDefinition = defineRoute(API.revokeClient, async ({ params, query }, call) => {
  const { operationId, ...client } = await call.useCases.revokeClient(
    await call.deps(),
    params.gateway,
    params.client,
    {
      force: query.force,
    },
  );
  return json(
    200,
    client,
    operationId ? { 'operation-location': operationLocation(call.request, operationId) } : {},
  );
});

/** GET /api/gateways/{gateway}/clients/{client}/subnets */
const getClientSubnetsRoute: RouteDefinition = defineRoute(API.getClientSubnets, async ({ params }, call) =>
  json(200, await call.useCases.getClientSubnets(await call.deps(), params.gateway, params.client)),
);

/** PUT /api/gateways/{gateway}/clients/{client}/subnets: replaces the set; 200 (applied live, no roll). */
const putClientSubnetsRoute: RouteDefinition = defineRoute(
  API.putClientSubnets,
  async ({ params, body }, call) =>
    json(
      200,
      await call.useCases.replaceClientSubnets(
        await call.deps(),
        params.gateway,
        params.client,
        body.subnets,
      ),
    ),
);

export const clientRoutes: readonly RouteDefinition[] = [
  issueClientRoute,
  listClientsRoute,
  getClientRoute,
  getClientProfileRoute,
  revokeClientRoute,
  getClientSubnetsRoute,
  putClientSubnetsRoute,
];
