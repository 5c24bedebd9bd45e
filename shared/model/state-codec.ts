/**
 * The codec of a gateway's record of truth, the `state` ConfigMap: the GatewayState as the ConfigMap's
 * data and back, checked on the way in. Clients are stored as compact tuples, gzip-compressed and base64
 * encoded (`clients.json.gz.b64`): every issue and revocation writes this object whole, and its cost
 * through the kube-apiserver follows its size and its text (a 2,010-client list as plain JSON, 209 KB
 * of quoted strings, took 76–88 ms to replace; the same list compressed, 90 KB of base64, 17–23 ms; a
 * 10-client state 12–15 ms). It also keeps tens of thousands of clients under the 1 MiB object limit.
 * Operators read it with `base64 -d | gunzip`; a state written before compression (`clients.json`, the
 * same tuples as plain JSON) is read as it is and compressed at its next write.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { InternalError } from '../errors.js';
import { parseCanonicalCidr } from './cidr.js';
import type { ClientRecord, ClientStatus, GatewayState } from './gateway.js';
import { KEY_TYPES, MAX_CLIENT_SUBNETS, NAME_PATTERN, inCrl } from './gateway.js';

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
const enrollmentsSchema = z.array(
  z.strictObject({
    id: z.string().regex(/^[0-9a-f]{16}$/),
    client: z.string().regex(NAME_PATTERN),
    ip: z.string(),
    tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: iso,
    expiresAt: iso,
    validityDays: z.int().positive().optional(),
    subnets: z.array(cidr).optional(),
    status: z.enum(['pending', 'used']),
    usedAt: iso.optional(),
    usedFrom: z.string().optional(),
  }),
);
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
      targetHost: z.string().optional(),
      protocol: z.enum(['tcp', 'udp']),
    }),
  ),
  deleting: z.strictObject({ since: iso, operation: z.string().min(1) }).optional(),
  // Absent from the state of a gateway still on the legacy single `ccd` ConfigMap (GatewayState.ccdShards).
  ccdShards: z.int().min(1).max(256).optional(),
});
/**
 * One client as stored: [name, ip, serial, issuedAt (epoch ms), notAfter (epoch ms), revokedAt (epoch ms,
 * 0 = not revoked), 'g' | 'c', key, intent, csr, subnets]. key is 'e' for an EC key ('' for RSA); intent
 * is 'p' (pending: the issue is not complete) or 'r' (revoking: the revocation is not complete), '' once
 * complete (active, or revoked when revokedAt is set); csr is the request of a pending CSR issue ('' for
 * none); subnets are the client's LAN CIDRs joined by spaces (a string, so an unchanged tuple compares
 * element by element). Trailing empty elements are left out, so a complete RSA client without subnets is
 * stored as every client recorded before key types, intents and subnets existed.
 */
type ClientTuple = readonly [
  string,
  string,
  string,
  number,
  number,
  number,
  'g' | 'c',
  ('e' | '')?,
  ('p' | 'r' | '')?,
  string?,
  string?,
];

const INTENT = { pending: 'p', revoking: 'r' } as const;

function statusOf(revokedAt: number, intent: unknown): ClientStatus {
  if (intent === 'p') return 'pending';
  if (intent === 'r') return 'revoking';
  return revokedAt > 0 ? 'revoked' : 'active';
}

const SERIAL = /^[0-9a-f]+$/;

const toEpoch = (isoDate: string) => Date.parse(isoDate);
const fromEpoch = (ms: number) => new Date(ms).toISOString();

/**
 * The tuple each record was read from or last written as. Records are immutable (a change makes a new
 * one), so a gateway's thousands of unchanged clients are written back without being encoded again.
 */
const tuples = new WeakMap<ClientRecord, ClientTuple>();

function tupleOf(c: ClientRecord): ClientTuple {
  const known = tuples.get(c);
  if (known) return known;
  const stored = [
    c.name,
    c.ip,
    c.serial,
    toEpoch(c.issuedAt),
    toEpoch(c.notAfter),
    inCrl(c) ? toEpoch(c.revokedAt ?? c.issuedAt) : 0,
    c.keySource === 'csr' ? 'c' : 'g',
  ] as const;
  const key = c.keyType === 'ec' ? 'e' : '';
  const intent = c.status === 'pending' || c.status === 'revoking' ? INTENT[c.status] : '';
  const csr = c.status === 'pending' && c.csr !== undefined ? c.csr : '';
  const subnets = c.subnets?.join(' ') ?? '';
  let tuple: ClientTuple = stored;
  if (subnets !== '') tuple = [...stored, key, intent, csr, subnets];
  else if (csr !== '') tuple = [...stored, key, intent, csr];
  else if (intent !== '') tuple = [...stored, key, intent];
  else if (key !== '') tuple = [...stored, key];
  tuples.set(c, tuple);
  return tuple;
}

/** The JSON text of each record's tuple: a write encodes only the records that changed. */
const tupleTexts = new WeakMap<ClientRecord, string>();

function tupleJsonOf(c: ClientRecord): string {
  let text = tupleTexts.get(c);
  if (text === undefined) {
    text = JSON.stringify(tupleOf(c));
    tupleTexts.set(c, text);
  }
  return text;
}

/**
 * Records decoded before, by certificate serial: each request reads a state that differs from the last one
 * by a client or two, and decoding thousands of dates again costs more than the rest of the request's own
 * work. A record is reused only when its stored tuple is exactly the one read.
 */
const bySerial = new Map<string, ClientRecord>();
const MAX_KNOWN_RECORDS = 50_000;

/** A stored subnets element: 1 to MAX_CLIENT_SUBNETS canonical CIDRs joined by single spaces. */
function subnetsValid(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const list = value.split(' ');
  return list.length <= MAX_CLIENT_SUBNETS && list.every((c) => parseCanonicalCidr(c) !== undefined);
}

/**
 * Checks and decodes the stored clients by hand: with thousands of clients a schema library's per-element
 * checks cost tens of milliseconds, on every request that reads the state. Throws on the first bad tuple.
 */
function clientsOf(raw: unknown): ClientRecord[] {
  if (!Array.isArray(raw)) throw new Error('the clients are not an array');
  return raw.map((t: unknown, i): ClientRecord => {
    const bad = (what: string) => new Error(`client ${i}: ${what}`);
    if (!Array.isArray(t) || t.length < 7 || t.length > 11) throw bad('not a client tuple');
    const [name, ip, serial, issuedAt, notAfter, revokedAt, keySource, keyType, intent, csr, subnets] =
      t as unknown[];
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) throw bad('bad name');
    if (typeof ip !== 'string') throw bad('bad ip');
    if (typeof serial !== 'string' || !SERIAL.test(serial)) throw bad('bad serial');
    if (!Number.isSafeInteger(issuedAt) || !Number.isSafeInteger(notAfter)) throw bad('bad dates');
    if (!Number.isSafeInteger(revokedAt) || (revokedAt as number) < 0) throw bad('bad revokedAt');
    if (keySource !== 'g' && keySource !== 'c') throw bad('bad key source');
    if (t.length >= 8 && keyType !== 'e' && keyType !== '') throw bad('bad key type');
    if (t.length >= 9 && intent !== 'p' && intent !== 'r' && intent !== '') throw bad('bad intent');
    if (intent === 'r' && (revokedAt as number) === 0) throw bad('revoking without revokedAt');
    if (t.length >= 10 && (typeof csr !== 'string' || (csr !== '' && intent !== 'p'))) throw bad('bad csr');
    if (t.length === 11 && !subnetsValid(subnets)) throw bad('bad subnets');
    const known = bySerial.get(serial);
    const knownTuple = known && tuples.get(known);
    if (known && knownTuple?.length === t.length && knownTuple.every((v, j) => v === t[j])) return known;
    const revoked = (revokedAt as number) > 0;
    const record: ClientRecord = {
      name,
      ip,
      serial,
      issuedAt: fromEpoch(issuedAt as number),
      notAfter: fromEpoch(notAfter as number),
      status: statusOf(revokedAt as number, intent),
      ...(revoked ? { revokedAt: fromEpoch(revokedAt as number) } : {}),
      keySource: keySource === 'c' ? 'csr' : 'generated',
      ...(keyType === 'e' ? { keyType: 'ec' as const } : {}),
      ...(typeof csr === 'string' && csr !== '' ? { csr } : {}),
      ...(typeof subnets === 'string' ? { subnets: Object.freeze(subnets.split(' ')) } : {}),
    };
    tuples.set(record, t as unknown as ClientTuple);
    if (bySerial.size >= MAX_KNOWN_RECORDS) bySerial.clear();
    bySerial.set(serial, record);
    return record;
  });
}

/** The key of the stored clients: the JSON of the tuples, gzip, base64. */
export const CLIENTS_KEY = 'clients.json.gz.b64';
/** The key of the clients as a state written before compression stored them (plain JSON). */
const LEGACY_CLIENTS_KEY = 'clients.json';

/** The JSON text of the stored client tuples (compressed or, from an older state, plain). */
export function storedClientsJson(data: Readonly<Record<string, string>>): string {
  const compressed = data[CLIENTS_KEY];
  if (compressed === undefined) return data[LEGACY_CLIENTS_KEY] ?? '[]';
  return gunzipSync(Buffer.from(compressed, 'base64')).toString('utf8');
}

/** `data` with its clients replaced by the tuples of `json`, stored as the codec stores them. */
export function withStoredClientsJson(
  data: Readonly<Record<string, string>>,
  json: string,
): Record<string, string> {
  const { [LEGACY_CLIENTS_KEY]: _legacy, ...rest } = data;
  // Level 1: a 2,010-client list compresses to a third in about 3 ms; higher levels gain a few percent.
  return { ...rest, [CLIENTS_KEY]: gzipSync(json, { level: 1 }).toString('base64') };
}

/**
 * The clients of the last few stored texts read: a request reads its gateway's state more than once (a
 * check, then the conditional write), and an unchanged text decodes to the same immutable records without
 * being decompressed or parsed again.
 */
const decoded = new Map<string, readonly ClientRecord[]>();
const MAX_DECODED = 8;

function decodeClients(data: Readonly<Record<string, string>>): readonly ClientRecord[] {
  const text = data[CLIENTS_KEY] ?? data[LEGACY_CLIENTS_KEY] ?? '[]';
  const known = decoded.get(text);
  if (known) return known;
  const clients = Object.freeze(clientsOf(JSON.parse(storedClientsJson(data))));
  if (decoded.size >= MAX_DECODED) decoded.delete(decoded.keys().next().value ?? '');
  decoded.set(text, clients);
  return clients;
}

export function stateConfigMapData(state: GatewayState): Record<string, string> {
  const meta: z.input<typeof metaSchema> = {
    version: 1,
    createdAt: state.createdAt,
    server: state.server,
    crl: state.crl,
    portMappings: state.portMappings.map((m) => ({ ...m })),
    ...(state.deleting ? { deleting: { ...state.deleting } } : {}),
    ...(state.ccdShards !== undefined ? { ccdShards: state.ccdShards } : {}),
  };
  return withStoredClientsJson(
    {
      'spec.json': JSON.stringify(state.spec),
      'meta.json': JSON.stringify(meta),
      // Only when there are any: the state of a gateway without enrollments stays as it was before them.
      ...(state.enrollments?.length ? { 'enrollments.json': JSON.stringify(state.enrollments) } : {}),
    },
    `[${state.clients.map(tupleJsonOf).join(',')}]`,
  );
}

export function parseStateConfigMapData(data: Readonly<Record<string, string>>): GatewayState {
  try {
    const spec = specSchema.parse(JSON.parse(data['spec.json'] ?? ''));
    const meta = metaSchema.parse(JSON.parse(data['meta.json'] ?? ''));
    return {
      spec,
      createdAt: meta.createdAt,
      server: meta.server,
      crl: meta.crl,
      portMappings: meta.portMappings,
      clients: decodeClients(data),
      ...(data['enrollments.json'] !== undefined
        ? { enrollments: enrollmentsSchema.parse(JSON.parse(data['enrollments.json'])) }
        : {}),
      ...(meta.deleting ? { deleting: meta.deleting } : {}),
      ...(meta.ccdShards !== undefined ? { ccdShards: meta.ccdShards } : {}),
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
