/**
 * The API table, once: route template, method, required role, parameter and body
 * schemas, responses. The function registrations (`functions/*.ts`), the sandbox host's router and the
 * OpenAPI document (`openapi.ts`) all read it, so a route cannot exist in one and not the others.
 */
import type { z } from 'zod';
import type { Role } from '../auth.js';
import {
  acceptedSchema,
  clientListSchema,
  clientParamsSchema,
  clientSchema,
  clientSubnetsSchema,
  connectionsSchema,
  createEnrollmentBodySchema,
  enrollBodySchema,
  createdEnrollmentSchema,
  enrollmentListSchema,
  enrollmentParamsSchema,
  enrollmentSchema,
  gatewayListSchema,
  gatewayParamsSchema,
  gatewaySchema,
  healthSchema,
  issueClientBodySchema,
  operationParamsSchema,
  operationSchema,
  portMappingsSchema,
  putGatewayBodySchema,
  putClientSubnetsBodySchema,
  putPortMappingsBodySchema,
  revokeQuerySchema,
} from './schemas.js';

export type HttpMethodName = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** One documented response of an operation. */
export interface ApiResponse {
  readonly description: string;
  /** JSON body schema, or a non-JSON media type with a description of its content. */
  readonly body?: z.ZodType | { readonly mediaType: string; readonly format: string } | undefined;
  /** Response headers set on this status (`Location`, `Operation-Location`). */
  readonly headers?: readonly ('Location' | 'Operation-Location')[] | undefined;
}

/** The methods a route answers: its own, and HEAD beside GET (RFC 9110 §9.3.2: HEAD is GET without content). */
export function methodsOf(method: HttpMethodName): (HttpMethodName | 'HEAD')[] {
  return method === 'GET' ? ['GET', 'HEAD'] : [method];
}

export interface ApiOperation {
  /** Also the Azure Functions function name. */
  readonly operationId: string;
  readonly method: HttpMethodName;
  /** Route template below `/api`, in Azure Functions syntax (`gateways/{gateway}`). */
  readonly route: string;
  readonly summary: string;
  readonly tag: 'meta' | 'gateways' | 'clients' | 'enrollments' | 'port-mappings' | 'operations';
  /**
   * `anonymous` only for the liveness probe and the routes whose own credential is an enrollment token;
   * everything else needs a function key.
   */
  readonly authLevel: 'anonymous' | 'function';
  /** The credential of an anonymous route that still needs one: a one-time enrollment token (Bearer). */
  readonly credential?: 'enrollment-token' | undefined;
  /** A request body that is not the JSON of `body`: the media types it may have, read by the route itself. */
  readonly rawBody?:
    | { readonly description: string; readonly mediaTypes: Readonly<Record<string, z.ZodType | 'binary'>> }
    | undefined;
  /** App role required when AUTH_ROLES_ENABLED (undefined: none beyond the function key). */
  readonly role?: Role | undefined;
  readonly params?: z.ZodObject | undefined;
  readonly query?: z.ZodObject | undefined;
  readonly body?: z.ZodType | undefined;
  /** Whether an absent body is allowed (then every field takes its default). */
  readonly bodyOptional?: boolean | undefined;
  readonly responses: Readonly<Record<number, ApiResponse>>;
}

const op = <const T extends ApiOperation>(o: T): T => o;

/** Every route of the API, in the order of the README's API table. */
export const API = {
  healthz: op({
    operationId: 'healthz',
    method: 'GET',
    route: 'healthz',
    summary: 'Liveness',
    tag: 'meta',
    authLevel: 'anonymous',
    responses: { 200: { description: 'Alive', body: healthSchema } },
  }),
  getOpenApi: op({
    operationId: 'getOpenApi',
    method: 'GET',
    route: 'openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'meta',
    authLevel: 'function',
    role: 'Reader',
    responses: { 200: { description: 'OpenAPI document' } },
  }),
  putGateway: op({
    operationId: 'putGateway',
    method: 'PUT',
    route: 'gateways/{gateway}',
    summary: 'Create or update a gateway',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Gateways.Admin',
    params: gatewayParamsSchema,
    body: putGatewayBodySchema,
    bodyOptional: true,
    responses: {
      200: {
        description: 'Updated (or unchanged: no new work, no Operation-Location)',
        body: gatewaySchema,
        headers: ['Operation-Location'],
      },
      201: { description: 'Created', body: gatewaySchema, headers: ['Location', 'Operation-Location'] },
    },
  }),
  listGateways: op({
    operationId: 'listGateways',
    method: 'GET',
    route: 'gateways',
    summary: 'List gateways',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Reader',
    responses: { 200: { description: 'Gateways', body: gatewayListSchema } },
  }),
  getGateway: op({
    operationId: 'getGateway',
    method: 'GET',
    route: 'gateways/{gateway}',
    summary: 'Read a gateway and its status',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: { 200: { description: 'The gateway', body: gatewaySchema } },
  }),
  deleteGateway: op({
    operationId: 'deleteGateway',
    method: 'DELETE',
    route: 'gateways/{gateway}',
    summary: 'Tear a gateway down (namespace and secrets)',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Gateways.Admin',
    params: gatewayParamsSchema,
    responses: {
      202: { description: 'Deletion started', body: acceptedSchema, headers: ['Operation-Location'] },
    },
  }),
  issueClient: op({
    operationId: 'issueClient',
    method: 'POST',
    route: 'gateways/{gateway}/clients',
    summary: 'Issue a client (static tunnel IP, CCD entry, certificate)',
    tag: 'clients',
    authLevel: 'function',
    role: 'Clients.Issue',
    params: gatewayParamsSchema,
    body: issueClientBodySchema,
    responses: { 201: { description: 'Issued', body: clientSchema, headers: ['Location'] } },
  }),
  listClients: op({
    operationId: 'listClients',
    method: 'GET',
    route: 'gateways/{gateway}/clients',
    summary: "List a gateway's clients",
    tag: 'clients',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: { 200: { description: 'Clients', body: clientListSchema } },
  }),
  getClient: op({
    operationId: 'getClient',
    method: 'GET',
    route: 'gateways/{gateway}/clients/{client}',
    summary: 'Read a client',
    tag: 'clients',
    authLevel: 'function',
    role: 'Reader',
    params: clientParamsSchema,
    responses: { 200: { description: 'The client', body: clientSchema } },
  }),
  getClientProfile: op({
    operationId: 'getClientProfile',
    method: 'GET',
    route: 'gateways/{gateway}/clients/{client}/profile',
    summary: "The client's .ovpn profile (active clients only; holds the private key)",
    tag: 'clients',
    authLevel: 'function',
    // The profile contains the client's private key: reading it is issuing, not reading.
    role: 'Clients.Issue',
    params: clientParamsSchema,
    responses: {
      200: {
        description: 'OpenVPN client profile',
        body: { mediaType: 'application/x-openvpn-profile', format: 'text' },
      },
    },
  }),
  revokeClient: op({
    operationId: 'revokeClient',
    method: 'DELETE',
    route: 'gateways/{gateway}/clients/{client}',
    summary: 'Revoke a client (CRL re-signed, CCD removed, live session dropped)',
    tag: 'clients',
    authLevel: 'function',
    role: 'Clients.Issue',
    params: clientParamsSchema,
    query: revokeQuerySchema,
    responses: {
      200: {
        description: 'Revoked (Operation-Location when ?force=true removed port mappings)',
        body: clientSchema,
        headers: ['Operation-Location'],
      },
    },
  }),
  getClientSubnets: op({
    operationId: 'getClientSubnets',
    method: 'GET',
    route: 'gateways/{gateway}/clients/{client}/subnets',
    summary: "Read the client's branch LAN subnets",
    tag: 'clients',
    authLevel: 'function',
    role: 'Reader',
    params: clientParamsSchema,
    responses: { 200: { description: 'The subnets', body: clientSubnetsSchema } },
  }),
  putClientSubnets: op({
    operationId: 'putClientSubnets',
    method: 'PUT',
    route: 'gateways/{gateway}/clients/{client}/subnets',
    summary: "Replace the client's branch LAN subnets (applied live: only this client's session reconnects)",
    tag: 'clients',
    authLevel: 'function',
    role: 'Clients.Issue',
    params: clientParamsSchema,
    body: putClientSubnetsBodySchema,
    responses: {
      200: {
        description:
          "Recorded and written to the client's CCD entry; the pod routes them within its watch interval",
        body: clientSubnetsSchema,
      },
    },
  }),
  createEnrollment: op({
    operationId: 'createEnrollment',
    method: 'POST',
    route: 'gateways/{gateway}/enrollments',
    summary: 'Create a one-time branch enrollment token (reserves the client name and address)',
    tag: 'enrollments',
    authLevel: 'function',
    role: 'Clients.Issue',
    params: gatewayParamsSchema,
    body: createEnrollmentBodySchema,
    responses: {
      201: {
        description: 'Created; the token is in this answer only',
        body: createdEnrollmentSchema,
        headers: ['Location'],
      },
    },
  }),
  listEnrollments: op({
    operationId: 'listEnrollments',
    method: 'GET',
    route: 'gateways/{gateway}/enrollments',
    summary: "List a gateway's enrollments (never a token)",
    tag: 'enrollments',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: { 200: { description: 'Enrollments', body: enrollmentListSchema } },
  }),
  getEnrollment: op({
    operationId: 'getEnrollment',
    method: 'GET',
    route: 'gateways/{gateway}/enrollments/{id}',
    summary: 'Read an enrollment: pending, used (when, from where) or expired',
    tag: 'enrollments',
    authLevel: 'function',
    role: 'Reader',
    params: enrollmentParamsSchema,
    responses: { 200: { description: 'The enrollment', body: enrollmentSchema } },
  }),
  revokeEnrollment: op({
    operationId: 'revokeEnrollment',
    method: 'DELETE',
    route: 'gateways/{gateway}/enrollments/{id}',
    summary: 'Revoke a pending enrollment (its token is refused; name and address are free again)',
    tag: 'enrollments',
    authLevel: 'function',
    role: 'Clients.Issue',
    params: enrollmentParamsSchema,
    responses: { 204: { description: 'Revoked' } },
  }),
  enroll: op({
    operationId: 'enroll',
    method: 'POST',
    route: 'enroll',
    summary: 'A branch enrolls: one-time token (Bearer) and CSR in, profile without key out',
    tag: 'enrollments',
    authLevel: 'anonymous',
    credential: 'enrollment-token',
    rawBody: {
      description:
        'The PKCS#10 request: DER as `application/pkcs10` (RFC 5967), or `{"csr": "<PEM>"}` as `application/json`',
      mediaTypes: { 'application/pkcs10': 'binary', 'application/json': enrollBodySchema },
    },
    responses: {
      200: {
        description: 'Enrolled: the OpenVPN profile, without `<key>` (the key stays with the CSR)',
        body: { mediaType: 'application/x-openvpn-profile', format: 'text' },
      },
    },
  }),
  getCrl: op({
    operationId: 'getCrl',
    method: 'GET',
    route: 'gateways/{gateway}/crl',
    summary: 'Current CRL (DER; PEM with Accept: application/x-pem-file)',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: {
      200: { description: 'The CRL', body: { mediaType: 'application/pkix-crl', format: 'binary' } },
    },
  }),
  listConnections: op({
    operationId: 'listConnections',
    method: 'GET',
    route: 'gateways/{gateway}/connections',
    summary: 'The clients connected now, as the gateway pod last reported them',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: { 200: { description: 'Connections', body: connectionsSchema } },
  }),
  getPortMappings: op({
    operationId: 'getPortMappings',
    method: 'GET',
    route: 'gateways/{gateway}/port-mappings',
    summary: 'Read the port mappings',
    tag: 'port-mappings',
    authLevel: 'function',
    role: 'Reader',
    params: gatewayParamsSchema,
    responses: { 200: { description: 'Port mappings', body: portMappingsSchema } },
  }),
  putPortMappings: op({
    operationId: 'putPortMappings',
    method: 'PUT',
    route: 'gateways/{gateway}/port-mappings',
    summary: 'Replace the port mappings (applied live, no roll)',
    tag: 'port-mappings',
    authLevel: 'function',
    role: 'Gateways.Admin',
    params: gatewayParamsSchema,
    body: putPortMappingsBodySchema,
    responses: {
      202: {
        description: 'Accepted; the operation succeeds once the pod reports the set applied',
        body: portMappingsSchema.extend({ operationId: acceptedSchema.shape.operationId }),
        headers: ['Operation-Location'],
      },
    },
  }),
  restartGateway: op({
    operationId: 'restartGateway',
    method: 'POST',
    route: 'gateways/{gateway}/restart',
    summary: 'Roll the OpenVPN pod',
    tag: 'gateways',
    authLevel: 'function',
    role: 'Gateways.Admin',
    params: gatewayParamsSchema,
    responses: {
      202: { description: 'Roll started', body: acceptedSchema, headers: ['Operation-Location'] },
    },
  }),
  getOperation: op({
    operationId: 'getOperation',
    method: 'GET',
    route: 'operations/{id}',
    summary: 'Status of a long-running operation (Azure LRO shape)',
    tag: 'operations',
    authLevel: 'function',
    role: 'Reader',
    params: operationParamsSchema,
    responses: { 200: { description: 'The operation', body: operationSchema } },
  }),
} as const;

export type ApiOperationId = keyof typeof API;

/** Error statuses every protected operation may answer (problem+json). */
export const ERROR_STATUSES = [400, 401, 403, 404, 409, 413, 415, 500, 502, 503] as const;
