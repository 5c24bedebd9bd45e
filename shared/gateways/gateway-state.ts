/**
 * Reading and writing a gateway's record of truth, the `state` ConfigMap, always through
 * resourceVersion preconditions so concurrent requests never lose each other's changes.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import type { ClusterPort, VersionedData } from '../model/cluster-port.js';
import type { GatewayDeps } from './deps.js';
import { writeCcdEntries } from './ccd.js';
import { parseStateConfigMapData, stateConfigMapData } from '../model/state-codec.js';
import type { GatewayState } from '../model/gateway.js';
import { OBJECTS, domainKeys, namespaceOf } from '../model/names.js';

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

function parsed(cm: VersionedData): GatewayState {
  const known = states.get(cm);
  if (known) return known;
  const same = recent.get(cm.resourceVersion);
  if (same && sameData(same.cm.data, cm.data)) return remember(same.state, cm);
  return remember(parseStateConfigMapData(cm.data), cm);
}

/** The gateway's state, or undefined when the gateway does not exist. */
export async function findState(cluster: ClusterPort, gateway: string): Promise<GatewayState | undefined> {
  const cm = await cluster.readConfigMap(namespaceOf(gateway), OBJECTS.state);
  return cm ? parsed(cm) : undefined;
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
export async function updateState(
  cluster: ClusterPort,
  gateway: string,
  mutate: (current: GatewayState) => GatewayState | undefined,
  options: UpdateStateOptions = {},
): Promise<GatewayState> {
  let result: GatewayState | undefined;
  // What `mutate` threw (e.g. a NotFoundError for a client) goes to the caller as it is.
  let refusal: unknown;
  let written: VersionedData | undefined;
  try {
    written = await cluster.updateConfigMap(
      namespaceOf(gateway),
      OBJECTS.state,
      (current) => {
        // A version this process read or wrote (the request's own, or the last write of another request
        // of this host) is not decoded again.
        const state = parsed(current);
        let next: GatewayState | undefined;
        try {
          if (!options.duringDeletion) requireNotDeleting(state);
          next = mutate(state);
        } catch (e: unknown) {
          refusal = e;
          throw e;
        }
        result = next ?? state;
        return next ? stateConfigMapData(next) : undefined;
      },
      options.from && versions.get(options.from),
    );
  } catch (e: unknown) {
    if (e === refusal) throw e;
    if (e instanceof NotFoundError)
      throw new NotFoundError(`gateway '${gateway}' does not exist`, { cause: e });
    throw e;
  }
  if (!result) throw new NotFoundError(`gateway '${gateway}' does not exist`);
  // The next write of this request can start from here.
  remember(result, written);
  return result;
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
