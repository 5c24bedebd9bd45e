// Every route of the API table with its handler factory, as plain data: functions/index.ts registers this
// list with the Functions host, and the sandbox host serves the same list itself.
import type { RouteDefinition } from '../shared/http/route.js';
import { clientRoutes } from './clients.js';
import { crlRoutes } from './crl.js';
import { enrollmentRoutes } from './enrollments.js';
import { gatewayRoutes } from './gateways.js';
import { healthzRoutes } from './healthz.js';
import { openApiRoutes } from './openapi.js';
import { operationRoutes } from './operations.js';
import { portMappingRoutes } from './port-mappings.js';

export const ALL_ROUTES: readonly RouteDefinition[] = [
  ...healthzRoutes,
  ...openApiRoutes,
  ...gatewayRoutes,
  ...clientRoutes,
  ...enrollmentRoutes,
  ...crlRoutes,
  ...portMappingRoutes,
  ...operationRoutes,
];
