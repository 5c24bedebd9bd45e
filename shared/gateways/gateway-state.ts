/**
 * Reading and writing a gateway's record of truth, the `state` ConfigMap, always through
 * resourceVersion preconditions so concurrent requests never lose each other's changes.
 */
import { ConflictError, InternalError, NotFoundError } from '../errors.js';
import type { ClusterPort, KubeObject, VersionedData } from '../model/cluster-port.js';
import type { GatewayDeps } from './deps.js';
import { writeCcdEntries } from './ccd.js';
import type { SealedChunk, SealedChunkTexts } from '../model/state-codec.js';
import {
  MissingSealedChunks,
  SEALED_CHUNK_KEY,
  encodeStateWrite,
  isSealedChunkName,
  parseStateConfigMapData,
  sealedChunkNames,
} from '../model/state-codec.js';
import { stateChunkConfigMap } from '../kube/manifests.js';
import type { GatewayState } from '../model/gateway.js';
import { K8S_LABELS, OBJECTS, STATE_CHUNK_COMPONENT, domainKeys, namespaceOf } from '../model/names.js';

/**
 * The ConfigMap version each state object was read from or written as (states are immutable: a change
 * makes a new object). A write that starts from a state the request holds goes straight to the conditional
 * replace, without reading the ConfigMap again: the read costs as much as the state is large.
 */
const versions = new WeakMap<GatewayState, VersionedData>();
/** And back: the state of each version read or written, so a version this process holds is not decoded again. */
const states = new WeakMap<VersionedData, GatewayState>();

/**
 * The last few versions by resourceVersion: a request's first read usually returns the version the last
 * request of this host wrote, which then needs no decoding (the data is compared, so a resourceVersion
 * of another cluster or a recreated gateway never passes for it).
 */
const recent = new Map<string, { readonly cm: VersionedData; readonly state: GatewayState }>();
const RECENT_VERSIONS = 64;

function sameData(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function remember(state: GatewayState, cm: VersionedData): GatewayState {
  versions.set(state, cm);
  states.set(cm, state);
  recent.set(cm.resourceVersion, { cm, state });
  if (recent.size > RECENT_VERSIONS) recent.delete(recent.keys().next().value ?? '');
  return state;
}

/**
 * The texts of the sealed chunks this process read or created, by name, least recently used first: a
 * sealed chunk never changes and a name is never reused (its digest part is checked against the text), so
 * a text once loaded stays true. About 12 KB each.
 */
const chunkTexts = new Map<string, string>();
const MAX_CHUNK_TEXTS = 1024;

function loadedChunk(name: string): string | undefined {
  const text = chunkTexts.get(name);
  if (text !== undefined) {
    chunkTexts.delete(name);
    chunkTexts.set(name, text);
  }
  return text;
}

function keepChunkText(name: string, text: string): void {
  chunkTexts.delete(name);
  if (chunkTexts.size >= MAX_CHUNK_TEXTS) chunkTexts.delete(chunkTexts.keys().next().value ?? '');
  chunkTexts.set(name, text);
}

/**
 * Reads sealed chunks into chunkTexts and into `pinned` (the caller's own, which no other request's loads
 * can evict before the caller uses them); false when one of them no longer exists.
 */
async function loadChunks(
  cluster: ClusterPort,
  namespace: string,
  names: readonly string[],
  pinned: Map<string, string>,
): Promise<boolean> {
  const read = await Promise.all(names.map((name) => cluster.readConfigMap(namespace, name)));
  return read.every((cm, i) => {
    const text = cm?.data[SEALED_CHUNK_KEY];
    if (text !== undefined) {
      keepChunkText(names[i] ?? '', text);
      pinned.set(names[i] ?? '', text);
    }
    return text !== undefined;
  });
}

/** The texts a request loaded itself first, then the host's. */
const textsOf =
  (pinned: ReadonlyMap<string, string>): SealedChunkTexts =>
  (name) =>
    pinned.get(name) ?? loadedChunk(name);

/** The state of a version; MissingSealedChunks when a sealed chunk it references is not loaded yet. */
function parsed(cm: VersionedData, texts: SealedChunkTexts = loadedChunk): GatewayState {
  const known = states.get(cm);
  if (known) return known;
  const same = recent.get(cm.resourceVersion);
  if (same && sameData(same.cm.data, cm.data)) return remember(same.state, cm);
  return remember(parseStateConfigMapData(cm.data, texts), cm);
}

const missingChunks = (names: readonly string[]) =>
  new InternalError(
    `the gateway state ConfigMap references sealed chunk(s) that do not exist: ${names.join(', ')}`,
  );

/**
 * Reads of the state that find a sealed chunk gone before the state is unreadable: a chunk is deleted only
 * after a write of the state that no longer references it, so a read that misses one reads again.
 */
const MAX_STATE_READS = 4;

/** The gateway's state, or undefined when the gateway does not exist. */
export async function findState(cluster: ClusterPort, gateway: string): Promise<GatewayState | undefined> {
  const namespace = namespaceOf(gateway);
  const pinned = new Map<string, string>();
  for (let read = 1; ; read += 1) {
    const cm = await cluster.readConfigMap(namespace, OBJECTS.state);
    if (!cm) return undefined;
    let missing: readonly string[] = [];
    // Twice at most on one version: the chunks it lacks are loaded in between.
    for (let attempt = 0; attempt < 2; attempt += 1)
      try {
        return parsed(cm, textsOf(pinned));
      } catch (e: unknown) {
        if (!(e instanceof MissingSealedChunks)) throw e;
        missing = e.names;
        if (!(await loadChunks(cluster, namespace, missing, pinned))) break;
      }
    if (read >= MAX_STATE_READS) throw missingChunks(missing);
  }
}

/** The gateway's state; NotFoundError when the gateway does not exist. */
export async function readState(cluster: ClusterPort, gateway: string): Promise<GatewayState> {
  const state = await findState(cluster, gateway);
  if (!state) throw new NotFoundError(`gateway '${gateway}' does not exist`);
  return state;
}

/** The refusal of a write to a gateway marked for deletion (a 409). */
export class GatewayDeletingError extends ConflictError {}

/** Refuses (409) when the gateway is marked for deletion. */
export function requireNotDeleting(state: GatewayState): void {
  if (state.deleting)
    throw new GatewayDeletingError(
      `gateway '${state.spec.name}' is being deleted (since ${state.deleting.since}, operation ${state.deleting.operation})`,
    );
}

export interface UpdateStateOptions {
  /**
   * Lets the write through when the gateway is marked for deletion: only for the mark itself and for
   * writes that take something away (a pending issue rolled back). Every other write is refused.
   */
  readonly duringDeletion?: boolean;
  /**
   * The state the request already holds (read or written by it): the first attempt applies `mutate` to it
   * and writes conditionally on its version, without a read. Stale, it costs one refused write, then the
   * usual read and retry; a "no change" answer or a refusal of `mutate` on it is asked again on a fresh
   * read, so neither rests on it.
   */
  readonly from?: GatewayState | undefined;
}

/**
 * Applies `mutate` to the latest state and writes it with a resourceVersion precondition (re-read and
 * re-applied on conflict by the cluster port). `mutate` may throw a DomainError to refuse the change,
 * or return undefined for "nothing to change". Returns the state as written (or as read).
 *
 * A gateway marked for deletion refuses the write (GatewayDeletingError) inside the same conditional
 * write, unless `options.duringDeletion`: a request racing the DELETE lands either before the mark (and
 * the deletion, which reads the state after its mark, sees what it wrote) or after it (and is refused).
 */
/**
 * How long a chunk a write created may still be referenced by that write: the reconciler deletes a chunk
 * no state references once it is older than ORPHAN_CHUNK_MINUTES, far beyond this.
 */
const CHUNK_REUSE_MS = 10 * 60_000;
/**
 * Age from which the reconciler deletes a sealed chunk no state references (collectStateChunks): a day, as
 * that age is the reconciler host's clock against the API server's creation time, and only a skew of
 * nearly a day between them could let it delete a chunk a write is about to reference.
 */
export const ORPHAN_CHUNK_MINUTES = 24 * 60;

/** What a write needs before it can be asked again on the version `at`. */
interface Need {
  readonly at: VersionedData;
  readonly load?: readonly string[];
  readonly create?: readonly SealedChunk[];
}
/** Thrown from inside `mutate` to step out of the conditional write and meet a Need. */
const NEED = new Error('the state write needs sealed chunks');
/** Rounds of loading or creating chunks before a write gives up (each round meets one version's needs). */
const MAX_NEED_ROUNDS = 6;

export async function updateState(
  cluster: ClusterPort,
  gateway: string,
  mutate: (current: GatewayState) => GatewayState | undefined,
  options: UpdateStateOptions = {},
): Promise<GatewayState> {
  const namespace = namespaceOf(gateway);
  // The chunks this write created, by text: asked again after creating them, it references the same.
  const created = new Map<string, { readonly name: string; readonly at: number }>();
  const reusable = (text: string) => {
    const chunk = created.get(text);
    return chunk && Date.now() - chunk.at < CHUNK_REUSE_MS ? chunk.name : undefined;
  };
  let known = options.from && versions.get(options.from);
  // The chunks this write loaded itself, and the version on which a chunk was last found missing.
  const pinned = new Map<string, string>();
  const texts = textsOf(pinned);
  let missingAt: string | undefined;
  // Every version a `mutate` call wrote on (an attempt that landed without its answer among them).
  const bases: VersionedData[] = [];
  let result: GatewayState | undefined;
  // What `mutate` threw (e.g. a NotFoundError for a client) goes to the caller as it is.
  let refusal: unknown;
  let need: Need | undefined;
  let written: VersionedData | undefined;
  try {
    for (let round = 1; !written; round += 1) {
      need = undefined;
      try {
        written = await cluster.updateConfigMap(
          namespace,
          OBJECTS.state,
          (current) => {
            need = undefined;
            // A chunk of `current` this process does not hold (read by another host, or long ago): loaded
            // and asked again, never decided without (nor sealed again, which would cost a chunk).
            const loading = <T>(step: () => T): T => {
              try {
                return step();
              } catch (e: unknown) {
                if (!(e instanceof MissingSealedChunks)) throw e;
                need = { at: current, load: e.names };
                throw NEED;
              }
            };
            // A version this process read or wrote (the request's own, or the last write of another
            // request of this host) is not decoded again.
            const state = loading(() => parsed(current, texts));
            let next: GatewayState | undefined;
            try {
              if (!options.duringDeletion) requireNotDeleting(state);
              next = mutate(state);
            } catch (e: unknown) {
              refusal = e;
              throw e;
            }
            result = next ?? state;
            if (!next) return undefined;
            const write = loading(() => encodeStateWrite(next, current.data, texts, reusable));
            if (write.create.length > 0) {
              need = { at: current, create: write.create };
              throw NEED;
            }
            bases.push(current);
            return write.data;
          },
          known,
        );
      } catch (e: unknown) {
        // Set by the `mutate` call that threw NEED (a closure: not narrowed by what precedes the call).
        const pending = need as Need | undefined;
        if (e !== NEED || !pending) throw e;
        if (round >= MAX_NEED_ROUNDS)
          throw new ConflictError(
            `the state of gateway '${gateway}' kept changing while this write loaded or created its chunks; try again`,
          );
        const { at, load, create } = pending;
        // A chunk gone means `at` is no longer the state (the next attempt reads it again), unless it goes
        // missing twice on the same version: then the state references a chunk that does not exist.
        if (load && !(await loadChunks(cluster, namespace, load, pinned))) {
          if (missingAt === at.resourceVersion) throw missingChunks(load);
          missingAt = at.resourceVersion;
          known = undefined;
        } else known = at;
        if (create) await createChunks(cluster, namespace, create, created);
      }
    }
  } catch (e: unknown) {
    // The chunks this write created stay: a write that failed without an answer may have landed and
    // reference them. The reconciler collects them if it did not (collectStateChunks).
    if (e === refusal) throw e;
    if (e instanceof NotFoundError)
      throw new NotFoundError(`gateway '${gateway}' does not exist`, { cause: e });
    throw e;
  }
  if (!result) throw new NotFoundError(`gateway '${gateway}' does not exist`);
  // The chunks the current state (the one written, or the one read when there was nothing to change) does
  // not reference, among those of the versions this write wrote on (the ones it replaced, an attempt that
  // landed without its answer included) and the ones it created: no later state can reference them, as a
  // write references only its base's chunks and the ones it created itself. (Not "the chunks of the last
  // write": when an earlier attempt landed without its answer, the last call reads that attempt's state and
  // changes nothing, and its chunks are the current ones.)
  const referenced = new Set(sealedChunkNames(written.data));
  const dropped = new Set([
    ...bases.flatMap((base) => sealedChunkNames(base.data)),
    ...[...created.values()].map((c) => c.name),
  ]);
  await deleteChunks(
    cluster,
    namespace,
    [...dropped].filter((name) => !referenced.has(name)),
  );
  // The next write of this request can start from here.
  remember(result, written);
  return result;
}

async function createChunks(
  cluster: ClusterPort,
  namespace: string,
  chunks: readonly SealedChunk[],
  created: Map<string, { readonly name: string; readonly at: number }>,
): Promise<void> {
  await Promise.all(
    chunks.map(async ({ name, text }) => {
      try {
        await cluster.create(stateChunkConfigMap(namespace, name, text));
      } catch (e: unknown) {
        // A create retried after its answer was lost finds its own object: the name is this write's alone.
        if (!(e instanceof ConflictError)) throw e;
        const existing = await cluster.readConfigMap(namespace, name);
        if (existing?.data[SEALED_CHUNK_KEY] !== text) throw e;
      }
      keepChunkText(name, text);
      created.set(text, { name, at: Date.now() });
    }),
  );
}

/**
 * Deletes sealed chunks no state references, as a courtesy: one left behind (a crash, a failed call) costs
 * only its bytes until the reconciler collects it (collectStateChunks).
 */
async function deleteChunks(
  cluster: ClusterPort,
  namespace: string,
  names: readonly string[],
): Promise<void> {
  await Promise.all(
    names.map((name) => cluster.delete({ kind: 'ConfigMap', namespace, name }).catch(() => undefined)),
  );
}

/**
 * Deletes the gateway's sealed chunks that its state does not reference and that are older than
 * ORPHAN_CHUNK_MINUTES (a write references only chunks it created within minutes, or that the version it
 * replaces references). Returns their names.
 */
export async function collectStateChunks(
  cluster: ClusterPort,
  gateway: string,
  now = Date.now(),
): Promise<string[]> {
  const namespace = namespaceOf(gateway);
  const state = await cluster.readConfigMap(namespace, OBJECTS.state);
  if (!state) return [];
  const referenced = new Set(sealedChunkNames(state.data));
  const old = (o: KubeObject) => {
    const stamp = o.metadata.creationTimestamp;
    const created = stamp === undefined ? Number.NaN : new Date(stamp).getTime();
    return Number.isFinite(created) && now - created > ORPHAN_CHUNK_MINUTES * 60_000;
  };
  const chunks = await cluster.list(
    'ConfigMap',
    namespace,
    `${K8S_LABELS.component}=${STATE_CHUNK_COMPONENT}`,
  );
  const orphans = chunks
    .filter((o) => isSealedChunkName(o.metadata.name) && !referenced.has(o.metadata.name) && old(o))
    .map((o) => o.metadata.name);
  await deleteChunks(cluster, namespace, orphans);
  return orphans;
}

/**
 * Takes back secret-store writes that may have landed after the gateway's deletion deleted its secrets,
 * when the writer's next read finds the gateway marked for deletion or gone: the gateway's CA and the
 * named client's material. A mark is never lifted, so deleting the CA early takes nothing a later request
 * could use. True when it took them back.
 */
export async function takeBackIfDeleting(
  deps: Pick<GatewayDeps, 'secrets' | 'cluster' | 'log'>,
  gateway: string,
  client?: string,
): Promise<boolean> {
  const state = await findState(deps.cluster, gateway);
  if (state && !state.deleting) return false;
  await deps.secrets.deleteGateway(gateway, client === undefined ? [] : [client]);
  if (state && client !== undefined)
    await writeCcdEntries(deps, state, { [client]: null }).catch((e: unknown) => {
      // The namespace (and the CCD with it) went meanwhile.
      if (!(e instanceof NotFoundError)) throw e;
    });
  deps.log.warn('took back secrets written while the gateway was being deleted', { gateway, client });
  return true;
}

/** Names of every gateway this API manages on the cluster (namespaces carrying the gateway label), sorted. */
export async function managedGatewayNames(deps: Pick<GatewayDeps, 'cluster' | 'config'>): Promise<string[]> {
  const label = domainKeys(deps.config.LABEL_DOMAIN).gatewayLabel;
  const namespaces = await deps.cluster.list('Namespace', undefined, label);
  return namespaces
    .map((n) => n.metadata.labels?.[label])
    .filter((n): n is string => Boolean(n))
    .sort();
}
