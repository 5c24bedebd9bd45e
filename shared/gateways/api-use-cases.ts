/**
 * The use-case table the HTTP handlers call: `(deps, …input) → result`, throwing the typed errors of
 * `shared/errors.ts`. Its type is the table's own (`typeof`), so a handler sees exactly what each use-case
 * takes and answers; handler tests pass plain fakes of that type.
 */
import { getClient, getClientProfile, issueClient, listClients, revokeClient } from './clients.js';
import { getClientSubnets, replaceClientSubnets } from './client-subnets.js';
import { getCrl } from './crl.js';
import {
  createEnrollment,
  enrollBranch,
  getEnrollment,
  listEnrollments,
  revokeEnrollment,
} from './enrollments.js';
import { deleteGateway, getGateway, listGateways, putGateway, restartGateway } from './gateways.js';
import { listConnections } from './gateway-status.js';
import { getOperation } from './operation-status.js';
import { getPortMappings, replacePortMappings } from './port-mappings.js';

export const USE_CASES = Object.freeze({
  putGateway,
  getGateway,
  listGateways,
  deleteGateway,
  restartGateway,
  issueClient,
  getClient,
  listClients,
  getClientProfile,
  revokeClient,
  getClientSubnets,
  replaceClientSubnets,
  getCrl,
  createEnrollment,
  listEnrollments,
  getEnrollment,
  revokeEnrollment,
  enrollBranch,
  listConnections,
  getPortMappings,
  replacePortMappings,
  getOperation,
});

export type GatewayUseCases = typeof USE_CASES;
