/**
 * Every read and write of a gateway's CCD entries (one client-config-dir file per pending or active client),
 * so no use case names the ConfigMap that holds an entry. The entries live in the ConfigMaps of the layout the
 * gateway's state records (`ccdShards`, names.ts): shards `ccd-<i>` chosen by a hash of the client's name, or,
 * for a gateway not yet migrated, the legacy single `ccd` (README, "Upgrading"). A writer uses the layout of
 * the state it holds; when a gateway's PUT moved it to shards meanwhile, the legacy ConfigMap is gone and its
 * write fails NotFound, and the write is made again in the layout the state records now. A write that landed
 * in the legacy ConfigMap just before the move is rewritten by the move's own convergeCcd.
 */
import { NotFoundError } from '../errors.js';
import type { ClusterPort } from '../model/cluster-port.js';
import type { GatewayState } from '../model/gateway.js';
import { OBJECTS, ccdObjectNames, ccdObjectOf, namespaceOf } from '../model/names.js';
import { ccdShardsOf } from '../model/state-codec.js';

type ClusterDeps = { readonly cluster: ClusterPort };

/** A CCD layout: the number of shards, or undefined for the legacy single `ccd` ConfigMap. */
export type CcdLayout = number | undefined;

/** Entries by ConfigMap, then by client: what a layout's ConfigMaps hold (only those that exist). */
export type StoredCcd = Record<string, Record<string, string>>;

/** Changes by ConfigMap, then by client (`null` removes the entry). */
export type CcdPatches = Record<string, Record<string, string | null>>;

/** Layout changes a single call follows at most (legacy → shards is the only one there is). */
const MAX_LAYOUT_MOVES = 2;

/** The layout the gateway's state records now; undefined when the gateway is gone. */
async function recordedLayout(
  cluster: ClusterPort,
  gateway: string,
): Promise<{ shards: CcdLayout } | undefined> {
  const cm = await cluster.readConfigMap(namespaceOf(gateway), OBJECTS.state);
  return cm ? { shards: ccdShardsOf(cm.data) } : undefined;
}

/**
 * Runs `step` on the layout of `state`, and again on the layout the state records now when a ConfigMap of the
 * first was missing (NotFoundError) because the gateway moved meanwhile.
 */
async function onLayout<T>(
  deps: ClusterDeps,
  state: GatewayState,
  step: (shards: CcdLayout) => Promise<T>,
): Promise<T> {
  let shards = state.ccdShards;
  for (let moves = 0; ; moves += 1) {
    try {
      return await step(shards);
    } catch (e: unknown) {
      if (!(e instanceof NotFoundError) || moves >= MAX_LAYOUT_MOVES) throw e;
      const now = await recordedLayout(deps.cluster, state.spec.name);
      if (!now || now.shards === shards) throw e;
      shards = now.shards;
    }
  }
}

/** Groups client changes by the ConfigMap of `shards` that holds each client's entry. */
function byObject(entries: Readonly<Record<string, string | null>>, shards: CcdLayout): CcdPatches {
  const patches: CcdPatches = {};
  for (const [client, entry] of Object.entries(entries))
    (patches[ccdObjectOf(client, shards)] ??= {})[client] = entry;
  return patches;
}

/** Merge-patches each ConfigMap of `patches` (one key per client: writers of other clients commute). */
export async function patchCcd(deps: ClusterDeps, gateway: string, patches: CcdPatches): Promise<void> {
  for (const [object, patch] of Object.entries(patches))
    if (Object.keys(patch).length > 0)
      await deps.cluster.patchConfigMapData(namespaceOf(gateway), object, patch);
}

/**
 * Writes (or with `null` removes) the entries of the given clients, each in the ConfigMap of the layout that
 * holds it. NotFoundError when that ConfigMap is missing in the layout the state records now.
 */
export async function writeCcdEntries(
  deps: ClusterDeps,
  state: GatewayState,
  entries: Readonly<Record<string, string | null>>,
): Promise<void> {
  await onLayout(deps, state, (shards) => patchCcd(deps, state.spec.name, byObject(entries, shards)));
}

/** `client`'s CCD entry, or undefined (also when its ConfigMap does not exist). Reads one ConfigMap. */
export async function readCcdEntry(
  deps: ClusterDeps,
  state: GatewayState,
  client: string,
): Promise<string | undefined> {
  try {
    return await onLayout(deps, state, async (shards) => {
      const object = ccdObjectOf(client, shards);
      const cm = await deps.cluster.readConfigMap(namespaceOf(state.spec.name), object);
      if (!cm) throw new NotFoundError(`ConfigMap ${object} of gateway '${state.spec.name}' not found`);
      return cm.data[client];
    });
  } catch (e: unknown) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** Removes `client`'s CCD entry when there is one: a read of its ConfigMap, and a write only if needed. */
export async function removeCcdEntry(deps: ClusterDeps, state: GatewayState, client: string): Promise<void> {
  if ((await readCcdEntry(deps, state, client)) !== undefined)
    await writeCcdEntries(deps, state, { [client]: null });
}

/**
 * What the ConfigMaps of layout `shards` hold, by ConfigMap (those that exist); undefined when none exists
 * (a gateway whose objects are not applied yet, or one that moved off this layout).
 */
export async function readCcdObjects(
  deps: ClusterDeps,
  gateway: string,
  shards: CcdLayout,
): Promise<StoredCcd | undefined> {
  const ns = namespaceOf(gateway);
  const names = ccdObjectNames(shards);
  const read = await Promise.all(names.map((name) => deps.cluster.readConfigMap(ns, name)));
  const stored: StoredCcd = {};
  read.forEach((cm, i) => {
    const name = names[i];
    if (cm && name !== undefined) stored[name] = { ...cm.data };
  });
  return Object.keys(stored).length > 0 ? stored : undefined;
}

/** Every entry of `stored`, client → entry (an entry found in two ConfigMaps: either). */
export function allEntries(stored: StoredCcd): Record<string, string> {
  return Object.assign({}, ...Object.values(stored)) as Record<string, string>;
}

/**
 * The patches that make `stored` (layout `shards`) hold exactly `wanted`: every wanted entry in its own
 * ConfigMap (left out when that ConfigMap does not exist: nothing could be written there), and nothing else,
 * so an entry sitting in a wrong shard is removed from it.
 */
export function ccdRepairs(
  stored: StoredCcd,
  wanted: Readonly<Record<string, string>>,
  shards: CcdLayout,
): CcdPatches {
  const patches: CcdPatches = {};
  for (const [object, entries] of Object.entries(stored))
    for (const client of Object.keys(entries))
      if (!(client in wanted) || ccdObjectOf(client, shards) !== object)
        (patches[object] ??= {})[client] = null;
  for (const [client, entry] of Object.entries(wanted)) {
    const object = ccdObjectOf(client, shards);
    const current = stored[object];
    if (current && current[client] !== entry) (patches[object] ??= {})[client] = entry;
  }
  return patches;
}
