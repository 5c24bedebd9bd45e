/**
 * The API's schemas (zod 4): every request body, route and query parameter the handlers validate, and
 * every response body. `shared/api/openapi.ts` generates the OpenAPI document from these same
 * objects, so the contract and the checks cannot drift apart.
 *
 * These schemas check shape and syntax (types, ranges, CIDR and name syntax, unknown fields). Checks that
 * need the gateway's state or cross-field rules (overlapping CIDRs, reserved or taken addresses, the VPN
 * port, targets that must be active clients, CSR signatures) stay in the use-cases and renderers.
 */
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { DEFAULT_CLIENT_VALIDITY_DAYS } from '../pki/validity.js';
import {
  DEFAULT_KEY_TYPE,
  KEY_TYPES,
  MAX_CLIENT_SUBNETS,
  MAX_GATEWAY_NAME,
  NAME_PATTERN,
} from '../model/gateway.js';

const NAME_MESSAGE =
  'must be a DNS label: 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit';

/** Gateway and client names (they become file names, config lines and Kubernetes names). */
export const nameSchema = z
  .string()
  .max(63, 'must be at most 63 characters')
  .regex(NAME_PATTERN, NAME_MESSAGE)
  .meta({ description: 'DNS label', example: 'branch-berlin' });

/** Gateway names: DNS labels short enough for the names derived from them (namespace, server CN). */
export const gatewayNameSchema = nameSchema
  .max(
    MAX_GATEWAY_NAME,
    `must be at most ${MAX_GATEWAY_NAME} characters (the namespace is vpn-<name>, the server certificate <name>-server)`,
  )
  .meta({ description: `DNS label of at most ${MAX_GATEWAY_NAME} characters`, example: 'branch-vpn' });

/** A dotted-quad IPv4 address (no shorthand forms like `10.1`). */
export const ipv4Schema = z
  .string()
  .max(15)
  .refine((v) => ipaddr.IPv4.isValidFourPartDecimal(v), 'must be an IPv4 address like 10.140.0.10')
  .meta({ example: '10.140.0.10' });

/** An IPv4 CIDR whose host bits are zero (`10.140.0.0/24`, not `10.140.0.5/24`). */
export const cidrSchema = z
  .string()
  .max(18)
  .superRefine((value, ctx) => {
    const [address = '', prefix, ...rest] = value.split('/');
    if (
      rest.length > 0 ||
      prefix === undefined ||
      // One spelling per network: `/08` would be stored as written and differ from `/8`.
      !/^(0|[1-9]\d?)$/.test(prefix) ||
      Number(prefix) > 32 ||
      !ipaddr.IPv4.isValidFourPartDecimal(address)
    ) {
      ctx.addIssue({ code: 'custom', message: 'must be an IPv4 CIDR like 10.140.0.0/24' });
      return;
    }
    const network = ipaddr.IPv4.networkAddressFromCIDR(value).toString();
    if (network !== address)
      ctx.addIssue({
        code: 'custom',
        message: `host bits are set: the network is ${network}/${prefix}`,
      });
  })
  .meta({ example: '10.0.0.0/16' });

/** A TCP/UDP port. */
export const portSchema = z.int().min(1).max(65535);

/** Azure public IP DNS label (`<label>.<region>.cloudapp.azure.com`). */
export const dnsLabelSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/,
    'must be an Azure DNS label: 3-63 lower-case letters, digits or "-", starting with a letter',
  );

/** Host name (RFC 1123) or IPv4 address clients dial. */
export const hostSchema = z
  .string()
  .max(253)
  .refine(
    (v) =>
      ipaddr.IPv4.isValidFourPartDecimal(v) ||
      (/^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i.test(
        v,
      ) &&
        !/^[\d.]+$/.test(v)),
    'must be a host name or an IPv4 address',
  );

/** The key type of a generated client key (the CA stays RSA-2048 whatever the clients use). */
export const keyTypeSchema = z
  .enum(KEY_TYPES, { message: `must be one of ${KEY_TYPES.map((k) => `'${k}'`).join(', ')}` })
  .meta({ description: '`rsa`: RSA-2048; `ec`: ECDSA on P-256' });

/** Client certificate validity bounds (days). "Beyond the CA" is checked when signing. */
export const validityDaysSchema = z.int().min(1).max(3650);

export const GATEWAY_BODY_DEFAULTS = Object.freeze({
  vpnSubnet: '10.140.0.0/24',
  port: 443,
  clientCertValidityDays: DEFAULT_CLIENT_VALIDITY_DAYS,
  keyType: DEFAULT_KEY_TYPE,
});

// ---------------------------------------------------------------------------------------------------
// Route and query parameters

export const gatewayParamsSchema = z.strictObject({ gateway: gatewayNameSchema });
export const clientParamsSchema = z.strictObject({ gateway: gatewayNameSchema, client: nameSchema });
export const operationParamsSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'must be an operation id'),
});

export const enrollmentParamsSchema = z.strictObject({
  gateway: gatewayNameSchema,
  id: z
    .string()
    .regex(/^[0-9a-f]{16}$/, 'must be an enrollment id (16 lower-case hex digits)')
    .meta({ example: '3f9a1c0e5b7d2468' }),
});

export const revokeQuerySchema = z.object({
  force: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .optional()
    .transform((v) => v === 'true'),
});

// ---------------------------------------------------------------------------------------------------
// Request bodies

export const loadBalancerSchema = z.strictObject({
  internal: z.boolean().default(false).meta({ description: 'Internal (VNet) load balancer' }),
  sourceRanges: z
    .array(cidrSchema)
    .max(64)
    .default([])
    .meta({ description: 'CIDRs allowed to reach the load balancer; empty = any' }),
});

/** `PUT /api/gateways/{gateway}`; an absent body means "all defaults". */
export const putGatewayBodySchema = z.strictObject({
  vpnSubnet: cidrSchema.default(GATEWAY_BODY_DEFAULTS.vpnSubnet).meta({
    description:
      'Tunnel network, /16 to /28, outside special-purpose blocks (0/8, 127/8, 169.254/16, 224/4, 240/4)',
  }),
  routes: z.array(cidrSchema).min(1).max(32).optional().meta({
    description:
      "CIDRs pushed to clients; default: the cluster's service and pod CIDRs. Each at most /8 wide, outside special-purpose blocks, never containing the gateway's own address",
  }),
  extraRoutes: z.array(cidrSchema).max(32).optional().meta({
    description: 'CIDRs pushed in addition to `routes` (or to the discovered cluster CIDRs)',
  }),
  port: portSchema.default(GATEWAY_BODY_DEFAULTS.port).meta({ description: 'VPN port (TCP)' }),
  dnsLabel: dnsLabelSchema.optional(),
  publicHost: hostSchema.optional().meta({ description: 'Address written into client profiles' }),
  loadBalancer: loadBalancerSchema.default({ internal: false, sourceRanges: [] }),
  clientCertValidityDays: validityDaysSchema.default(GATEWAY_BODY_DEFAULTS.clientCertValidityDays),
  keyType: keyTypeSchema.default(GATEWAY_BODY_DEFAULTS.keyType).meta({
    description:
      "Key type of client keys generated on this gateway when an issue names none; default `rsa` (what every OpenVPN client build accepts). The gateway's CA and server key stay RSA-2048",
  }),
});

/**
 * A client's LAN subnets: canonical CIDRs, each listed once. Overlaps with the gateway (VPN subnet, pushed
 * routes, cluster CIDRs), special-purpose blocks and other clients' subnets are the use-case's checks.
 */
export const subnetsSchema = z
  .array(cidrSchema)
  .max(MAX_CLIENT_SUBNETS, `at most ${MAX_CLIENT_SUBNETS} subnets per client`)
  .superRefine((list, ctx) => {
    list.forEach((cidr, i) => {
      if (list.indexOf(cidr) !== i)
        ctx.addIssue({ code: 'custom', path: [i], message: `${cidr} is listed twice` });
    });
  })
  .meta({
    description: `The branch LANs behind the client (IPv4 CIDRs, at most ${MAX_CLIENT_SUBNETS}), routed to it by the gateway; they must not overlap the VPN subnet, the pushed routes, the cluster's CIDRs, special-purpose blocks or another client's subnets`,
    example: ['192.168.10.0/24'],
  });

const CSR_PEM =
  /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END (NEW )?CERTIFICATE REQUEST-----\r?\n?$/;

/** `POST /api/gateways/{gateway}/clients` */
export const issueClientBodySchema = z.strictObject({
  name: nameSchema,
  staticIp: ipv4Schema.optional().meta({ description: 'Requested tunnel address; default: next free' }),
  validityDays: validityDaysSchema.optional().meta({ description: "Default: the gateway's setting" }),
  csr: z
    .string()
    .max(16_384)
    .regex(CSR_PEM, 'must be one PEM "CERTIFICATE REQUEST" block')
    .optional()
    .meta({ description: 'PKCS#10 request: the private key then never leaves the branch' }),
  keyType: keyTypeSchema.optional().meta({
    description:
      "Key type of the generated key; default: the gateway's `keyType`. With a `csr` the request's key decides: a `keyType` that differs from it is refused",
  }),
  subnets: subnetsSchema.optional(),
});

/** `PUT /api/gateways/{gateway}/clients/{client}/subnets`: the whole set (empty removes every subnet). */
export const putClientSubnetsBodySchema = z.strictObject({ subnets: subnetsSchema });

/** How long an enrollment token lives unless asked otherwise, and the longest it may (minutes). */
export const ENROLLMENT_MINUTES = Object.freeze({ default: 60, min: 5, max: 7 * 24 * 60 });

/** `POST /api/gateways/{gateway}/enrollments` */
export const createEnrollmentBodySchema = z.strictObject({
  client: nameSchema.meta({ description: 'Name of the client the branch will be issued as (reserved now)' }),
  staticIp: ipv4Schema.optional().meta({ description: 'Tunnel address to reserve; default: next free' }),
  validityDays: validityDaysSchema.optional().meta({
    description: "Validity of the certificate; default: the gateway's setting when the branch enrolls",
  }),
  subnets: subnetsSchema.optional(),
  expiresInMinutes: z
    .int()
    .min(ENROLLMENT_MINUTES.min)
    .max(ENROLLMENT_MINUTES.max)
    .default(ENROLLMENT_MINUTES.default)
    .meta({
      description: `Lifetime of the token in minutes; default ${ENROLLMENT_MINUTES.default}, at most ${ENROLLMENT_MINUTES.max} (7 days)`,
    }),
});

/** `POST /api/enroll` as JSON (the other form is the DER request as `application/pkcs10`). */
export const enrollBodySchema = z.strictObject({
  csr: issueClientBodySchema.shape.csr
    .unwrap()
    .meta({ description: 'PKCS#10 request (PEM) made on the branch' }),
});

export const portMappingSchema = z.strictObject({
  port: portSchema.meta({ description: 'Gateway port (pm-<port> Service in the cluster)' }),
  client: nameSchema,
  targetPort: portSchema,
  targetHost: ipv4Schema.optional().meta({
    description:
      "A host on one of the client's subnets to forward to, through the client; default: the client itself",
  }),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
});

/** `PUT /api/gateways/{gateway}/port-mappings` */
export const putPortMappingsBodySchema = z.strictObject({ mappings: z.array(portMappingSchema).max(256) });

// ---------------------------------------------------------------------------------------------------
// Responses

const isoDate = z.string().meta({ format: 'date-time' });

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  instance: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  requestId: z.string().optional(),
});

export const healthSchema = z.object({ status: z.literal('ok'), version: z.string() });

export const crlInfoSchema = z.object({ number: z.int(), thisUpdate: isoDate, nextUpdate: isoDate });

export const portMappingViewSchema = z.object({
  port: portSchema,
  client: z.string(),
  targetPort: portSchema,
  targetHost: z.string().optional(),
  protocol: z.enum(['tcp', 'udp']),
});

/** What the running pod reports it has applied (its `status` ConfigMap), against the latest state. */
export const appliedSchema = z
  .object({
    portMappings: z.boolean().meta({ description: 'The pod applied the latest port-mapping set' }),
    crl: z.boolean().meta({ description: 'The pod holds a CRL at least as new as the latest' }),
    configHash: z
      .boolean()
      .optional()
      .meta({ description: "The pod runs the Deployment template's config hash" }),
    reportedAt: isoDate.optional(),
    pod: z.string().optional(),
    watcherError: z.string().optional(),
  })
  .meta({ description: 'Absent fields were not reported; no report at all: portMappings and crl false' });

export const gatewayStatusSchema = z.object({
  phase: z.enum(['Provisioning', 'Ready', 'Rolling', 'Degraded', 'Deleting', 'Failed']),
  address: z.string().optional(),
  message: z.string().optional(),
  configHash: z.string().optional(),
  applied: appliedSchema.optional(),
  expiringCertificates: z
    .array(z.object({ kind: z.enum(['server', 'client']), name: z.string(), notAfter: isoDate }))
    .optional(),
});

export const gatewaySchema = z.object({
  name: z.string(),
  vpnSubnet: z.string(),
  routes: z.array(z.string()),
  port: portSchema,
  dnsLabel: z.string().optional(),
  publicHost: z.string().optional(),
  loadBalancer: z.object({ internal: z.boolean(), sourceRanges: z.array(z.string()) }),
  clientCertValidityDays: z.int(),
  keyType: z.enum(KEY_TYPES),
  createdAt: isoDate,
  clients: z.object({ active: z.int(), revoked: z.int(), pending: z.int(), revoking: z.int() }),
  crl: crlInfoSchema,
  portMappings: z.array(portMappingViewSchema),
  status: gatewayStatusSchema,
});

export const gatewayListSchema = z.object({ value: z.array(gatewaySchema) });

export const clientSchema = z.object({
  gateway: z.string(),
  name: z.string(),
  ip: z.string(),
  serial: z.string(),
  issuedAt: isoDate,
  notAfter: isoDate,
  status: z.enum(['pending', 'active', 'revoking', 'revoked']),
  revokedAt: isoDate.optional(),
  keySource: z.enum(['generated', 'csr']),
  keyType: z.enum(KEY_TYPES),
  subnets: z.array(z.string()),
  connected: z
    .boolean()
    .optional()
    .meta({ description: 'Connected now, as the pod last reported (GET of a client or the list)' }),
  connectedSince: isoDate.optional(),
});

export const clientListSchema = z.object({ value: z.array(clientSchema) });

export const enrollmentSchema = z.object({
  id: z.string(),
  gateway: z.string(),
  client: z.string(),
  ip: z.string(),
  status: z.enum(['pending', 'used', 'expired']),
  createdAt: isoDate,
  expiresAt: isoDate,
  validityDays: z.int().optional(),
  subnets: z.array(z.string()).meta({ description: 'LAN subnets reserved for the client' }),
  usedAt: isoDate.optional(),
  usedFrom: z.string().optional().meta({ description: 'Address the enrolling request came from' }),
  keyType: z.enum(KEY_TYPES).meta({
    description:
      "The key type the branch should generate: the gateway's `keyType` (a CSR of either type is accepted)",
  }),
});

/** The 201 of a new enrollment: the only answer that ever holds the token. */
export const createdEnrollmentSchema = enrollmentSchema.extend({
  token: z.string().meta({
    description:
      'One-time token `<gateway>.<id>.<secret>` (secret: 256 bits, base64url). Shown once; only its hash is kept',
  }),
  enrollUrl: z.string().meta({
    format: 'uri',
    description:
      'Where the branch POSTs its CSR with the token (`?keyType=` tells the branch script which key to make)',
  }),
});

export const enrollmentListSchema = z.object({ value: z.array(enrollmentSchema) });

export const portMappingsSchema = z.object({ mappings: z.array(portMappingViewSchema) });

export const connectionSchema = z.object({
  client: z.string().meta({ description: "The certificate's common name" }),
  realAddress: z.string().meta({ description: 'Where the client connects from (address:port)' }),
  tunnelAddress: z.string().optional(),
  connectedSince: isoDate,
  bytesIn: z.int().nonnegative(),
  bytesOut: z.int().nonnegative(),
});

export const connectionsSchema = z.object({
  value: z.array(connectionSchema),
  reportedAt: isoDate
    .optional()
    .meta({ description: 'When the pod wrote the report; absent: no report yet' }),
});

export const clientSubnetsSchema = z.object({ subnets: z.array(z.string()) });

export const operationSchema = z.object({
  id: z.string(),
  status: z.enum(['NotStarted', 'Running', 'Succeeded', 'Failed', 'Canceled']),
  kind: z.string(),
  gateway: z.string(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  createdAt: isoDate,
  lastUpdatedAt: isoDate,
});

/** Body of the 202 answers: the operation to poll (also in `Operation-Location`). */
export const acceptedSchema = z.object({ operationId: z.string() });

// ---------------------------------------------------------------------------------------------------
// Types: derived from the schemas above, never written a second time

/** A schema's type as the domain holds it: read-only all the way down. */
type Frozen<T> = T extends readonly (infer U)[]
  ? readonly Frozen<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Frozen<T[K]> }
    : T;

/** The PUT body as a caller may write it: a field with a default may be left out (putGateway fills it in). */
export type PutGatewayRequest = Frozen<z.input<typeof putGatewayBodySchema>>;
export type IssueClientBody = Frozen<z.output<typeof issueClientBodySchema>>;
export type CreateEnrollmentBody = Frozen<z.output<typeof createEnrollmentBodySchema>>;

/** What the use-cases answer, as the response schemas describe it (and the API tests check it). */
export type GatewayResponse = Frozen<z.output<typeof gatewaySchema>>;
export type ClientResponse = Frozen<z.output<typeof clientSchema>>;
export type EnrollmentResponse = Frozen<z.output<typeof enrollmentSchema>>;
export type CreatedEnrollmentResponse = Frozen<z.output<typeof createdEnrollmentSchema>>;
export type PortMappingsResponse = Frozen<z.output<typeof portMappingsSchema>>;
export type ClientSubnetsResponse = Frozen<z.output<typeof clientSubnetsSchema>>;
export type OperationResponse = Frozen<z.output<typeof operationSchema>>;
