/**
 * A gateway's state as stored, read apart from the product's caches: the `state` ConfigMap and every sealed
 * chunk it references, read from the cluster and decoded by the codec. A referenced chunk that does not exist
 * is an error (the invariants report it).
 */
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import type { GatewayState } from '../../shared/model/gateway.js';
import { OBJECTS, namespaceOf } from '../../shared/model/names.js';
import {
  SEALED_CHUNK_KEY,
  parseStateConfigMapData,
  sealedChunkNames,
} from '../../shared/model/state-codec.js';

export async function readStoredState(
  cluster: Pick<ClusterPort, 'readConfigMap'>,
  gateway: string,
): Promise<GatewayState | undefined> {
  const ns = namespaceOf(gateway);
  const state = await cluster.readConfigMap(ns, OBJECTS.state);
  if (!state) return undefined;
  const texts = new Map<string, string>();
  for (const name of sealedChunkNames(state.data)) {
    const text = (await cluster.readConfigMap(ns, name))?.data[SEALED_CHUNK_KEY];
    if (text === undefined)
      throw new Error(`the state of '${gateway}' references sealed chunk ${name}, which does not exist`);
    texts.set(name, text);
  }
  return parseStateConfigMapData(state.data, (name) => texts.get(name));
}
