/**
 * The codec of a gateway's record of truth, the `state` ConfigMap: the GatewayState as the ConfigMap's
 * data and back, checked on the way in. Clients are stored as compact tuples in chunks of 256, each a JSON
 * array gzip-compressed and base64-encoded (`clients-000.json.gz.b64`, …): every issue and revocation
 * writes this object whole, and its cost through the kube-apiserver follows its size and its text (a
 * 2,010-client list as plain JSON, 209 KB of quoted strings, took 76–88 ms to replace; the same list
 * compressed, 90 KB of base64, 17–23 ms; a 10-client state 12–15 ms). It also keeps tens of thousands of
 * clients under the 1 MiB object limit. Operators read a chunk with `base64 -d | gunzip`; a state written
 * before compression (`clients.json`, the same tuples as plain JSON) is read as it is and stored in chunks
 * at its next write.
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
function clientsOf(raw: unknown, offset: number): ClientRecord[] {
  if (!Array.isArray(raw)) throw new Error('the clients are not an array');
  return raw.map((t: unknown, i): ClientRecord => {
    const bad = (what: string) => new Error(`client ${offset + i}: ${what}`);
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

/**
 * Clients per stored chunk. A write compresses again only the chunks whose records changed (an issue: the
 * last one; a revocation: its client's), and a read decodes only the chunks it has not seen: the rest
 * are the very texts and records of the last read or write.
 */
const CHUNK_SIZE = 256;
/** `clients-000.json.gz.b64`, `clients-001.json.gz.b64`, …: each a JSON array of tuples, gzip, base64. */
const chunkKey = (i: number) => `clients-${String(i).padStart(3, '0')}.json.gz.b64`;
const CHUNK_KEY = /^clients-(\d{3})\.json\.gz\.b64$/;
/** The key of the clients as a state written before compression stored them (plain JSON, one key). */
const LEGACY_CLIENTS_KEY = 'clients.json';

/** Whether `key` of the state's data holds clients (a chunk, or the plain list of an older state). */
export const isClientsKey = (key: string): boolean => key === LEGACY_CLIENTS_KEY || CHUNK_KEY.test(key);

// zlib's default level: a chunk of 256 clients (about 26 KB of JSON) in about a millisecond, 6% smaller
// than the fastest level at the same speed on chunks this small.
const compress = (json: string) => gzipSync(json).toString('base64');
const decompress = (text: string) => gunzipSync(Buffer.from(text, 'base64')).toString('utf8');

/** The stored chunk texts in order, or undefined for a state stored before chunks (plain clients.json). */
function chunkTextsOf(data: Readonly<Record<string, string>>): string[] | undefined {
  const texts: string[] = [];
  for (const [key, text] of Object.entries(data)) {
    const index = CHUNK_KEY.exec(key)?.[1];
    if (index !== undefined) texts[Number(index)] = text;
  }
  // No chunk: a state stored before chunks (its plain clients.json), or one without any client key.
  if (texts.length === 0) return data[LEGACY_CLIENTS_KEY] === undefined ? [] : undefined;
  if (texts.some((t) => t === undefined) || texts.length !== Object.keys(texts).length)
    throw new Error('the client chunks are not numbered from 000 without a gap');
  return texts;
}

/** The compressed text each chunk was last read from or written as, by its first record (immutable). */
const chunkTexts = new WeakMap<ClientRecord, { readonly records: readonly ClientRecord[]; text: string }>();

function chunkText(records: readonly ClientRecord[]): string {
  const first = records[0];
  const known = first && chunkTexts.get(first);
  if (known?.records.length === records.length && known.records.every((r, i) => r === records[i]))
    return known.text;
  const text = compress(`[${records.map(tupleJsonOf).join(',')}]`);
  if (first) chunkTexts.set(first, { records, text });
  return text;
}

/**
 * What a state in chunks stores under the old key: a JSON string, not an array, so a version of this API
 * from before chunks (a roll-back, or an old instance still running during a deployment) refuses the
 * state as unreadable instead of reading it as a gateway without clients and writing that back.
 */
const LEGACY_KEY_TOMBSTONE = JSON.stringify('the clients are in clients-NNN.json.gz.b64 (base64, gzip)');

/**
 * The data keys of `items` stored in chunks of CHUNK_SIZE (chunk 000 always, empty or not), each chunk's
 * text made by `encode`, and the tombstone under the old key.
 */
function chunkedData<T>(
  items: readonly T[],
  encode: (chunk: readonly T[]) => string,
): Record<string, string> {
  const data: Record<string, string> = { [LEGACY_CLIENTS_KEY]: LEGACY_KEY_TOMBSTONE };
  for (let i = 0; i === 0 || i * CHUNK_SIZE < items.length; i += 1)
    data[chunkKey(i)] = encode(items.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
  return data;
}

/** The JSON text of all the stored client tuples, as one array (chunked or, from an older state, plain). */
export function storedClientsJson(data: Readonly<Record<string, string>>): string {
  const texts = chunkTextsOf(data);
  if (texts === undefined) return data[LEGACY_CLIENTS_KEY] ?? '[]';
  const tuples = texts.flatMap((t) => JSON.parse(decompress(t)) as unknown[]);
  return JSON.stringify(tuples);
}

/** `data` with its clients replaced by the tuples of `json` (one JSON array), stored as the codec stores them. */
export function withStoredClientsJson(
  data: Readonly<Record<string, string>>,
  json: string,
): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(data).filter(([key]) => !isClientsKey(key)));
  const tuples = JSON.parse(json) as unknown[];
  return { ...rest, ...chunkedData(tuples, (chunk) => compress(JSON.stringify(chunk))) };
}

/** The records of the chunk texts decoded lately. */
const decodedChunks = new Map<string, readonly ClientRecord[]>();
const MAX_DECODED_CHUNKS = 512;

function decodeClients(data: Readonly<Record<string, string>>): readonly ClientRecord[] {
  const texts = chunkTextsOf(data);
  if (texts === undefined) return Object.freeze(clientsOf(JSON.parse(data[LEGACY_CLIENTS_KEY] ?? '[]'), 0));
  const clients: ClientRecord[] = [];
  texts.forEach((text, i) => {
    let records = decodedChunks.get(text);
    if (!records) {
      records = Object.freeze(clientsOf(JSON.parse(decompress(text)), i * CHUNK_SIZE));
      if (decodedChunks.size >= MAX_DECODED_CHUNKS)
        decodedChunks.delete(decodedChunks.keys().next().value ?? '');
      decodedChunks.set(text, records);
      if (records[0]) chunkTexts.set(records[0], { records, text });
    }
    clients.push(...records);
  });
  return Object.freeze(clients);
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
  return {
    'spec.json': JSON.stringify(state.spec),
    'meta.json': JSON.stringify(meta),
    // Only when there are any: the state of a gateway without enrollments stays as it was before them.
    ...(state.enrollments?.length ? { 'enrollments.json': JSON.stringify(state.enrollments) } : {}),
    ...chunkedData(state.clients, chunkText),
  };
}

const OTHER_KEYS: ReadonlySet<string> = new Set(['spec.json', 'meta.json', 'enrollments.json']);

export function parseStateConfigMapData(data: Readonly<Record<string, string>>): GatewayState {
  try {
    // A key this codec does not know may hold records it would otherwise drop in silence (a state of a
    // newer version, a hand edit): refused, never read as fewer clients.
    const unknown = Object.keys(data).filter((key) => !OTHER_KEYS.has(key) && !isClientsKey(key));
    if (unknown.length > 0) throw new Error(`unknown key(s) ${unknown.join(', ')}`);
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
