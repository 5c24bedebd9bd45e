/**
 * The codec of a gateway's record of truth, the `state` ConfigMap: the GatewayState as the ConfigMap's
 * data and back, checked on the way in. Clients are stored as compact tuples so a gateway holds well
 * over 5,000 clients under the 1 MiB limit of a ConfigMap.
 */
import { z } from 'zod';
import { InternalError } from '../errors.js';
import type { GatewayState } from './gateway.js';
import { KEY_TYPES, NAME_PATTERN } from './gateway.js';

const iso = z.iso.datetime();
const cidr = z.string().min(1);
const specSchema = z.strictObject({
  name: z.string().regex(NAME_PATTERN),
  vpnSubnet: cidr,
  routes: z.array(cidr),
  port: z.int().min(1).max(65535),
  dnsLabel: z.string().optional(),
  publicHost: z.string().optional(),
  loadBalancer: z.strictObject({ internal: z.boolean(), sourceRanges: z.array(cidr) }),
  clientCertValidityDays: z.int().positive(),
  // Absent from the state of a gateway made before key types existed (DEFAULT_KEY_TYPE).
  keyType: z.enum(KEY_TYPES).optional(),
});
const metaSchema = z.strictObject({
  version: z.literal(1),
  createdAt: iso,
  server: z.strictObject({ serial: z.string(), notAfter: iso }),
  crl: z.strictObject({ number: z.int().nonnegative(), thisUpdate: iso, nextUpdate: iso }),
  portMappings: z.array(
    z.strictObject({
      port: z.int().min(1).max(65535),
      client: z.string().regex(NAME_PATTERN),
      targetPort: z.int().min(1).max(65535),
      protocol: z.enum(['tcp', 'udp']),
    }),
  ),
});
/**
 * [name, ip, serial, issuedAt (epoch ms), notAfter (epoch ms), revokedAt (epoch ms, 0 = active), 'g' | 'c',
 * 'e' for an EC key]: an RSA client leaves the last element out, as every client recorded before key types
 * existed does.
 */
const clientTuple = z.tuple([
  z.string().regex(NAME_PATTERN),
  z.string(),
  z.string().regex(/^[0-9a-f]+$/),
  z.int(),
  z.int(),
  z.int().nonnegative(),
  z.enum(['g', 'c']),
  z.literal('e').optional(),
]);

const toEpoch = (isoDate: string) => Date.parse(isoDate);
const fromEpoch = (ms: number) => new Date(ms).toISOString();

export function stateConfigMapData(state: GatewayState): Record<string, string> {
  const meta: z.input<typeof metaSchema> = {
    version: 1,
    createdAt: state.createdAt,
    server: state.server,
    crl: state.crl,
    portMappings: state.portMappings.map((m) => ({ ...m })),
  };
  const clients = state.clients.map((c) => [
    c.name,
    c.ip,
    c.serial,
    toEpoch(c.issuedAt),
    toEpoch(c.notAfter),
    c.status === 'revoked' ? toEpoch(c.revokedAt ?? c.issuedAt) : 0,
    c.keySource === 'csr' ? 'c' : 'g',
    ...(c.keyType === 'ec' ? ['e'] : []),
  ]);
  return {
    'spec.json': JSON.stringify(state.spec),
    'meta.json': JSON.stringify(meta),
    'clients.json': JSON.stringify(clients),
  };
}

export function parseStateConfigMapData(data: Readonly<Record<string, string>>): GatewayState {
  try {
    const spec = specSchema.parse(JSON.parse(data['spec.json'] ?? ''));
    const meta = metaSchema.parse(JSON.parse(data['meta.json'] ?? ''));
    const clients = z.array(clientTuple).parse(JSON.parse(data['clients.json'] ?? '[]'));
    return {
      spec,
      createdAt: meta.createdAt,
      server: meta.server,
      crl: meta.crl,
      portMappings: meta.portMappings,
      clients: clients.map(([name, ip, serial, issuedAt, notAfter, revokedAt, keySource, ec]) => ({
        name,
        ip,
        serial,
        issuedAt: fromEpoch(issuedAt),
        notAfter: fromEpoch(notAfter),
        status: revokedAt > 0 ? 'revoked' : 'active',
        ...(revokedAt > 0 ? { revokedAt: fromEpoch(revokedAt) } : {}),
        keySource: keySource === 'c' ? 'csr' : 'generated',
        ...(ec === 'e' ? { keyType: 'ec' as const } : {}),
      })),
    };
  } catch (e: unknown) {
    throw new InternalError(
      `the gateway state ConfigMap is unreadable: ${e instanceof Error ? e.message : String(e)}`,
      {
        cause: e,
      },
    );
  }
}
