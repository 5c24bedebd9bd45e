/**
 * The use-cases as the HTTP handlers call them: `(deps, …input) → result`, throwing the typed errors of
 * `shared/errors.ts`. The composition root wires the real functions (`gateways.ts`, `clients.ts`,
 * `crl.ts`, `port-mappings.ts`); handler tests may pass plain fakes. Views are opaque here: handlers only
 * serialise them (their shape is the response schemas in `schemas.ts`, checked by the API tests).
 */
import type { GatewayDeps } from './deps.js';
import type { PortMapping } from '../model/gateway.js';
import type { IssueClientBody, PutGatewayBody } from '../api/schemas.js';

/** A view the handler returns as JSON as is. */
export type View = object;

export interface GatewayUseCases {
  putGateway(
    deps: GatewayDeps,
    name: string,
    input: PutGatewayBody,
  ): Promise<{
    readonly gateway: View;
    readonly created: boolean;
    readonly operationId?: string | undefined;
  }>;
  getGateway(deps: GatewayDeps, name: string): Promise<View>;
  listGateways(deps: GatewayDeps): Promise<readonly View[]>;
  deleteGateway(deps: GatewayDeps, name: string): Promise<{ readonly operationId: string }>;
  restartGateway(deps: GatewayDeps, name: string): Promise<{ readonly operationId: string }>;
  issueClient(deps: GatewayDeps, gateway: string, input: IssueClientBody): Promise<View>;
  getClient(deps: GatewayDeps, gateway: string, name: string): Promise<View>;
  listClients(deps: GatewayDeps, gateway: string): Promise<readonly View[]>;
  getClientProfile(deps: GatewayDeps, gateway: string, name: string): Promise<string>;
  revokeClient(
    deps: GatewayDeps,
    gateway: string,
    name: string,
    options: { force: boolean },
  ): Promise<View & { readonly operationId?: string | undefined }>;
  getCrl(deps: GatewayDeps, gateway: string): Promise<string>;
  getPortMappings(deps: GatewayDeps, gateway: string): Promise<View>;
  getOperation(deps: GatewayDeps, id: string): Promise<View>;
  replacePortMappings(
    deps: GatewayDeps,
    gateway: string,
    mappings: readonly PortMapping[],
  ): Promise<View & { readonly operationId: string }>;
}
