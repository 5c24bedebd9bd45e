import { API } from '../shared/api/routes.js';
import { openApiDocument } from '../shared/api/openapi.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { defineRoute, json } from '../shared/http/route.js';

/** GET /api/openapi.json: generated from the schemas the handlers validate with. */
const getOpenApiRoute: RouteDefinition = defineRoute(API.getOpenApi, () =>
  Promise.resolve(json(200, openApiDocument())),
);

export const openApiRoutes: readonly RouteDefinition[] = [getOpenApiRoute];
