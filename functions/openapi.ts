import { API } from '../shared/gateways/api.js';
import { openApiDocument } from '../shared/gateways/openapi.js';
import type { RouteDefinition } from '../shared/http.js';
import { defineRoute, json } from '../shared/http.js';
import { registerRoutes } from './register.js';

/** GET /api/openapi.json: generated from the schemas the handlers validate with. */
export const getOpenApiRoute: RouteDefinition = defineRoute(API.getOpenApi, () =>
  Promise.resolve(json(200, openApiDocument())),
);

export const openApiRoutes: readonly RouteDefinition[] = [getOpenApiRoute];

registerRoutes(openApiRoutes);
