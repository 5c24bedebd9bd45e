/**
 * The codec of a gateway's record of truth, the `state` ConfigMap: the GatewayState as the ConfigMap's
 * data and back, checked on the way in. Clients are stored as compact tuples in chunks of 256, each a JSON
 * array gzip-compressed and base64-encoded: every issue and revocation writes this object whole, and its
 * cost through the kube-apiserver follows its size and its text (a 2,010-client list as plain JSON, 209 KB
 * of quoted strings, took 76–88 ms to replace; the same list compressed, 90 KB of base64, 17–23 ms; a
 * 10-client state 12–15 ms). So a write moves every full chunk out into a sealed chunk ConfigMap of its own
 * (see "Sealed chunks" below) and keeps only the clients after the last full one inline
 * (`clients-<n>.json.gz.b64`, numbered after the sealed chunks): the object then stays a few KB whatever
 * the number of clients. Operators read a chunk with `base64 -d | gunzip`; a state written before
 * compression (`clients.json`, the same tuples as plain JSON) is read as it is and stored in chunks at its
 * next write.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { InternalError } from '../errors.js';
import { parseCanonicalCidr } from './cidr.js';
import type { ClientRecord, ClientStatus, GatewayState } from './gateway.js';
import { KEY_TYPES, MAX_CLIENT_SUBNETS, NAME_PATTERN, inCrl } from './gateway.js';
import { STATE_CHUNK_PREFIX } from './names.js';

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

/**
 * The inline chunk texts in order (numbered from `first`, the number of sealed chunks before them), or
 * undefined for a state stored before chunks (plain clients.json).
 */
function chunkTextsOf(data: Readonly<Record<string, string>>, first = 0): string[] | undefined {
  const texts: string[] = [];
  for (const [key, text] of Object.entries(data)) {
    const index = CHUNK_KEY.exec(key)?.[1];
    if (index === undefined) continue;
    if (Number(index) < first) throw new Error(`client chunk ${index} is also sealed`);
    texts[Number(index) - first] = text;
  }
  // No chunk: a state stored before chunks (its plain clients.json), or one without any client key.
  if (texts.length === 0) return data[LEGACY_CLIENTS_KEY] === undefined ? [] : undefined;
  if (texts.some((t) => t === undefined) || texts.length !== Object.keys(texts).length)
    throw new Error(
      `the client chunks are not numbered from ${String(first).padStart(3, '0')} without a gap`,
    );
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
 * The data keys of `items` stored in chunks of CHUNK_SIZE numbered from `first` (chunk `first` always,
 * empty or not), each chunk's text made by `encode`, and the tombstone under the old key.
 */
function chunkedData<T>(
  items: readonly T[],
  encode: (chunk: readonly T[]) => string,
  first = 0,
): Record<string, string> {
  const data: Record<string, string> = { [LEGACY_CLIENTS_KEY]: LEGACY_KEY_TOMBSTONE };
  for (let i = 0; i === 0 || i * CHUNK_SIZE < items.length; i += 1)
    data[chunkKey(first + i)] = encode(items.slice(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE));
  return data;
}

/**
 * The JSON text of all the stored client tuples of a state without sealed chunks, as one array (chunked or,
 * from an older state, plain).
 */
export function storedClientsJson(data: Readonly<Record<string, string>>): string {
  if (data[SEALED_KEY] !== undefined) throw new Error('the state has sealed chunks');
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

function rememberDecoded(text: string, records: readonly ClientRecord[]): void {
  if (decodedChunks.size >= MAX_DECODED_CHUNKS) decodedChunks.delete(decodedChunks.keys().next().value ?? '');
  decodedChunks.set(text, records);
  if (records[0]) chunkTexts.set(records[0], { records, text });
}

function decodeChunk(text: string, offset: number): readonly ClientRecord[] {
  let records = decodedChunks.get(text);
  if (!records) {
    records = Object.freeze(clientsOf(JSON.parse(decompress(text)), offset));
    rememberDecoded(text, records);
  }
  return records;
}

/*
 * Sealed chunks. A full chunk of 256 clients leaves the `state` ConfigMap for a ConfigMap of its own,
 * created once (immutable) before the state write that references it: the state then holds only the
 * clients after the last full chunk, so the object every decision writes stays a few KB whatever the
 * number of clients, and the state's conditional write still covers every client the decision saw (a
 * sealed chunk never changes; a name is never reused). A later change to a sealed client (a revocation,
 * its LANs) is recorded in the state as a change of that index; past MAX_CHANGES of them, the chunks
 * holding them are sealed again as new objects and the old ones deleted.
 */

/** The state's key that lists its sealed chunks, in order, and the changes made to their clients since. */
const SEALED_KEY = 'sealed.json';
/** The one data key of a sealed chunk ConfigMap: 256 client tuples, JSON, gzip, base64. */
export const SEALED_CHUNK_KEY = 'clients.json.gz.b64';
const SEALED_NAME = new RegExp(`^${STATE_CHUNK_PREFIX}([0-9a-f]{16})-[0-9a-f]{8}$`);
/** Changes to sealed clients the state holds before the chunks holding them are sealed again. */
const MAX_CHANGES = 64;

const sealedSchema = z.strictObject({
  chunks: z.array(z.string().regex(SEALED_NAME)).min(1),
  // [index, tuple] of each sealed client changed since its chunk was sealed, by increasing index.
  changes: z.array(z.tuple([z.int().nonnegative(), z.array(z.unknown())])),
});
type Sealed = z.infer<typeof sealedSchema>;

const digestOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** The last `sealed.json` texts read, checked: every read and write of a state reads its own. */
const sealedTexts = new Map<string, Sealed>();

function sealedOf(data: Readonly<Record<string, string>>): Sealed | undefined {
  const text = data[SEALED_KEY];
  if (text === undefined) return undefined;
  let sealed = sealedTexts.get(text);
  if (!sealed) {
    sealed = sealedSchema.parse(JSON.parse(text));
    if (sealedTexts.size >= 64) sealedTexts.delete(sealedTexts.keys().next().value ?? '');
    sealedTexts.set(text, sealed);
  }
  return sealed;
}

/** The names of the sealed chunks a state's data references, in order (none for a state without any). */
export function sealedChunkNames(data: Readonly<Record<string, string>>): readonly string[] {
  return sealedOf(data)?.chunks ?? [];
}

/** Whether `name` is the name of a sealed chunk ConfigMap (of any state). */
export const isSealedChunkName = (name: string): boolean => SEALED_NAME.test(name);

/** Thrown by parseStateConfigMapData when sealed chunks it needs were not given: fetch them and ask again. */
export class MissingSealedChunks extends Error {
  constructor(readonly names: readonly string[]) {
    super(`the state's sealed chunk(s) ${names.join(', ')} are not loaded`);
  }
}

/** The text of a sealed chunk by name, or undefined when the caller has not loaded it. */
export type SealedChunkTexts = (name: string) => string | undefined;

/** The sealed chunks whose text was checked against their name, by name, with that text's records. */
const checkedSealed = new Map<string, { readonly text: string; readonly records: readonly ClientRecord[] }>();

/** The records of a sealed chunk, its text checked against its name (once per name and text). */
function sealedRecords(name: string, text: string, offset: number): readonly ClientRecord[] {
  const known = checkedSealed.get(name);
  if (known?.text === text) return known.records;
  if (SEALED_NAME.exec(name)?.[1] !== digestOf(text))
    throw new Error(`sealed chunk ${name} does not hold the text it is named after`);
  const records = decodeChunk(text, offset);
  if (records.length !== CHUNK_SIZE) throw new Error(`sealed chunk ${name} holds ${records.length} clients`);
  if (checkedSealed.size >= MAX_DECODED_CHUNKS) checkedSealed.delete(checkedSealed.keys().next().value ?? '');
  checkedSealed.set(name, { text, records });
  return records;
}

/** The records of each of the sealed chunks `names`; MissingSealedChunks when `texts` lacks any. */
function chunksRecords(names: readonly string[], texts: SealedChunkTexts): (readonly ClientRecord[])[] {
  const missing = names.filter((name) => texts(name) === undefined);
  if (missing.length > 0) throw new MissingSealedChunks(missing);
  return names.map((name, i) => sealedRecords(name, texts(name) ?? '', i * CHUNK_SIZE));
}

function decodeSealed(sealed: Sealed, texts: SealedChunkTexts): ClientRecord[] {
  const clients = chunksRecords(sealed.chunks, texts).flat();
  let last = -1;
  for (const [index, tuple] of sealed.changes) {
    if (index <= last || index >= clients.length)
      throw new Error(`sealed change ${index} out of order or range`);
    last = index;
    const [changed] = clientsOf([tuple], index);
    if (changed) clients[index] = changed;
  }
  return clients;
}

function decodeClients(
  data: Readonly<Record<string, string>>,
  texts: SealedChunkTexts,
): readonly ClientRecord[] {
  const sealed = sealedOf(data);
  const first = sealed?.chunks.length ?? 0;
  const inline = chunkTextsOf(data, first);
  if (inline === undefined) {
    if (sealed) throw new Error('sealed chunks beside a plain clients.json');
    return Object.freeze(clientsOf(JSON.parse(data[LEGACY_CLIENTS_KEY] ?? '[]'), 0));
  }
  const clients = sealed ? decodeSealed(sealed, texts) : [];
  inline.forEach((text, i) => clients.push(...decodeChunk(text, (first + i) * CHUNK_SIZE)));
  return Object.freeze(clients);
}

/** A sealed chunk to create before the state write that references it. */
export interface SealedChunk {
  readonly name: string;
  readonly text: string;
}

/** What a write of the state stores: the state's data, and the sealed chunks it references. */
export interface StateWrite {
  readonly data: Record<string, string>;
  /** Every sealed chunk the data references, in order. */
  readonly chunks: readonly string[];
  /** The chunks among them that do not exist yet: to create before the data is written. */
  readonly create: readonly SealedChunk[];
}

/**
 * How `base` (the state's data the write replaces) stores its sealed clients: the records of each chunk.
 * MissingSealedChunks when the caller does not give one (load it: sealing it again would cost a chunk).
 */
function baseChunks(
  base: Readonly<Record<string, string>> | undefined,
  texts: SealedChunkTexts,
): { readonly name: string; readonly records: readonly ClientRecord[] }[] {
  const names = base ? sealedChunkNames(base) : [];
  const records = chunksRecords(names, texts);
  return names.map((name, i) => ({ name, records: records[i] ?? [] }));
}

const sameRecord = (a: ClientRecord, b: ClientRecord | undefined) =>
  a === b || (b !== undefined && tupleJsonOf(a) === tupleJsonOf(b));

/**
 * The state as a write stores it: every full chunk sealed (the base's chunks kept where their clients
 * are the same, or changed in at most MAX_CHANGES places in all), the rest inline. `created` gives the
 * name of a chunk text this write already created (so a write asked again after creating its chunks
 * finds them); a chunk neither in the base nor created gets a new name and is listed in `create`.
 */
export function encodeStateWrite(
  state: GatewayState,
  base: Readonly<Record<string, string>> | undefined,
  texts: SealedChunkTexts,
  created: (text: string) => string | undefined,
): StateWrite {
  const clients = state.clients;
  const full = Math.floor(clients.length / CHUNK_SIZE);
  const kept = baseChunks(base, texts);
  const slices = Array.from({ length: full }, (_, j) => clients.slice(j * CHUNK_SIZE, (j + 1) * CHUNK_SIZE));
  // The indexes where each full chunk differs from the base's chunk at its place (undefined: none there).
  const diffs = slices.map((slice, j) => {
    const records = kept[j]?.records;
    if (!records) return undefined;
    const changed: number[] = [];
    slice.forEach((c, k) => {
      if (!sameRecord(c, records[k])) changed.push(j * CHUNK_SIZE + k);
    });
    return changed.length > MAX_CHANGES ? undefined : changed;
  });
  const reseal =
    diffs.reduce((n, d) => n + (d?.length ?? 0), 0) > MAX_CHANGES
      ? (d: number[] | undefined) => d === undefined || d.length > 0
      : (d: number[] | undefined) => d === undefined;
  const chunks: string[] = [];
  const create: SealedChunk[] = [];
  const changes: [number, ClientTuple][] = [];
  slices.forEach((slice, j) => {
    const d = diffs[j];
    const keep = kept[j];
    if (!reseal(d) && keep && d) {
      chunks.push(keep.name);
      for (const index of d) changes.push([index, tupleOf(clients[index] as ClientRecord)]);
      return;
    }
    const text = chunkText(slice);
    // The chunk's records are these very records: the next write compares its clients with them by identity.
    if (!decodedChunks.has(text)) rememberDecoded(text, Object.freeze(slice));
    const name = created(text);
    if (name !== undefined) chunks.push(name);
    else {
      const fresh = `${STATE_CHUNK_PREFIX}${digestOf(text)}-${randomBytes(4).toString('hex')}`;
      chunks.push(fresh);
      create.push({ name: fresh, text });
    }
  });
  const data = {
    ...otherData(state),
    ...(chunks.length > 0 ? { [SEALED_KEY]: JSON.stringify({ chunks, changes }) } : {}),
    ...chunkedData(clients.slice(full * CHUNK_SIZE), chunkText, full),
  };
  return { data, chunks, create };
}

/** The state's keys other than its clients. */
function otherData(state: GatewayState): Record<string, string> {
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
  };
}

/**
 * The state with every client inline (no sealed chunk): what a new gateway's state is created as. A
 * state this large still reads; its next write seals its full chunks (encodeStateWrite).
 */
export function stateConfigMapData(state: GatewayState): Record<string, string> {
  return { ...otherData(state), ...chunkedData(state.clients, chunkText) };
}

const OTHER_KEYS: ReadonlySet<string> = new Set(['spec.json', 'meta.json', 'enrollments.json', SEALED_KEY]);

/** The CCD layout a state's data records, read without its clients. */
export function ccdShardsOf(data: Readonly<Record<string, string>>): number | undefined {
  try {
    return metaSchema.parse(JSON.parse(data['meta.json'] ?? '')).ccdShards;
  } catch (e: unknown) {
    throw unreadable(e);
  }
}

const unreadable = (e: unknown) =>
  new InternalError(
    `the gateway state ConfigMap is unreadable: ${e instanceof Error ? e.message : String(e)}`,
    {
      cause: e,
    },
  );

/**
 * The state stored in `data`. `sealed` gives the text of each sealed chunk the data references; one it
 * does not give throws MissingSealedChunks (load them and ask again). Anything else wrong: InternalError.
 */
export function parseStateConfigMapData(
  data: Readonly<Record<string, string>>,
  sealed: SealedChunkTexts = () => undefined,
): GatewayState {
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
      clients: decodeClients(data, sealed),
      ...(data['enrollments.json'] !== undefined
        ? { enrollments: enrollmentsSchema.parse(JSON.parse(data['enrollments.json'])) }
        : {}),
      ...(meta.deleting ? { deleting: meta.deleting } : {}),
      ...(meta.ccdShards !== undefined ? { ccdShards: meta.ccdShards } : {}),
    };
  } catch (e: unknown) {
    if (e instanceof MissingSealedChunks) throw e;
    throw unreadable(e);
  }
}
