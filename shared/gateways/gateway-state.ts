/**
 * Reading and writing a gateway's record of truth, the `state` ConfigMap, always through
 * resourceVersion preconditions so concurrent requests never lose each other's changes.
 */
import { NotFoundError } from '../errors.js';
import type { ClusterPort } from '../model/cluster-port.js';
import type { GatewayDeps } from './deps.js';
import { parseStateConfigMapData, stateConfigMapData } from '../model/state-codec.js';
import type { GatewayState } from '../model/gateway.js';
import { OBJECTS, domainKeys, namespaceOf } from '../model/names.js';

/** The gateway's state, or undefined when the gateway does not exist. */
export async function findState(cluster: ClusterPort, gateway: string): Promise<GatewayState | undefined> {
  const cm = await cluster.readConfigMap(namespaceOf(gateway), OBJECTS.state);
  return cm ? parseStateConfigMapData(cm.data) : undefined;
}

/** The gateway's state; NotFoundError when the gateway does not exist. */
export async function readState(cluster: ClusterPort, gateway: string): Promise<GatewayState> {
  const state = await findState(cluster, gateway);
  if (!state) throw new NotFoundError(`gateway '${gateway}' does not exist`);
  return state;
}

/**
 * Applies `mutate` to the latest state and writes it with a resourceVersion precondition (re-read and
 * re-applied on conflict by the cluster port). `mutate` may throw a DomainError to refuse the change,
 * or return undefined for "nothing to change". Returns the state as written (or as read).
 */
export async function updateState(
  cluster: ClusterPort,
  gateway: string,
  mutate: (current: GatewayState) => GatewayState | undefined,
): Promise<GatewayState> {
  let result: GatewayState | undefined;
  // What `mutate` threw (e.g. a NotFoundError for a client) goes to the caller as it is.
  let refusal: unknown;
  try {
    await cluster.updateConfigMap(namespaceOf(gateway), OBJECTS.state, (current) => {
      const state = parseStateConfigMapData(current.data);
      let next: GatewayState | undefined;
      try {
        next = mutate(state);
      } catch (e: unknown) {
        refusal = e;
        throw e;
      }
      result = next ?? state;
      return next ? stateConfigMapData(next) : undefined;
    });
  } catch (e: unknown) {
    if (e === refusal) throw e;
    if (e instanceof NotFoundError)
      throw new NotFoundError(`gateway '${gateway}' does not exist`, { cause: e });
    throw e;
  }
  if (!result) throw new NotFoundError(`gateway '${gateway}' does not exist`);
  return result;
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
