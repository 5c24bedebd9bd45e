/**
 * A gateway's CCD entries as the pod sees them, read for tests straight from the cluster: the ConfigMaps of the
 * layout the state records (the legacy `ccd`, or the shards `ccd-<i>`), merged into the one client-config-dir
 * the pod mounts, and the entries that sit in a ConfigMap other than the one their client's name hashes to.
 */
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import { OBJECTS, ccdObjectNames, ccdObjectOf, namespaceOf } from '../../shared/model/names.js';
import { ccdShardsOf } from '../../shared/model/state-codec.js';

export interface StoredCcdEntries {
  /** client → entry, over every ConfigMap of the layout. */
  readonly entries: Record<string, string>;
  /** `client in object` for each entry held by a ConfigMap that is not its client's. */
  readonly misplaced: string[];
  /** The ConfigMaps of the layout that do not exist. */
  readonly missing: string[];
}

export async function storedCcdEntries(
  cluster: Pick<ClusterPort, 'readConfigMap'>,
  gateway: string,
): Promise<StoredCcdEntries> {
  const ns = namespaceOf(gateway);
  const state = await cluster.readConfigMap(ns, OBJECTS.state);
  const shards = state ? ccdShardsOf(state.data) : undefined;
  const entries: Record<string, string> = {};
  const misplaced: string[] = [];
  const missing: string[] = [];
  for (const object of ccdObjectNames(shards)) {
    const cm = await cluster.readConfigMap(ns, object);
    if (!cm) missing.push(object);
    for (const [client, entry] of Object.entries(cm?.data ?? {})) {
      entries[client] = entry;
      if (ccdObjectOf(client, shards) !== object) misplaced.push(`${client} in ${object}`);
    }
  }
  return { entries, misplaced, missing };
}

/** The gateway's CCD entries, client → entry (see storedCcdEntries). */
export async function ccdEntries(
  cluster: Pick<ClusterPort, 'readConfigMap'>,
  gateway: string,
): Promise<Record<string, string>> {
  return (await storedCcdEntries(cluster, gateway)).entries;
}
