/**
 * The CCD entries brought in line with the state (the reconciler's repair, the end of a move to shards), and
 * the move of a gateway from the legacy single `ccd` ConfigMap to the shards (README, "Upgrading").
 */
import { UpstreamError } from '../errors.js';
import type { GatewayState } from '../model/gateway.js';
import { CCD_SHARDS, OBJECTS, namespaceOf } from '../model/names.js';
import type { GatewayDeps } from './deps.js';
import { ccdRepairs, patchCcd, readCcdObjects } from './ccd.js';
import { ccdOf } from './gateway-objects.js';
import { readState } from './gateway-state.js';

/**
 * Brings the CCD ConfigMaps (every one of the layout the state records) in line with the state: an entry for
 * every pending or active client, in its own shard, none for anyone else, none in a wrong shard. Reads the
 * CCD before the state, so an entry written by an issue in flight (always after its record) is never taken
 * for an orphan; re-reads after every patch until a read finds nothing to change (a round whose state
 * records another layout than the one just read reads the new one). Returns how many entries it changed.
 */
export async function convergeCcd(deps: GatewayDeps, gateway: string): Promise<number> {
  let changed = 0;
  let shards = (await readState(deps.cluster, gateway)).ccdShards;
  for (let round = 0; round < 5; round += 1) {
    const stored = await readCcdObjects(deps, gateway, shards);
    const state = await readState(deps.cluster, gateway);
    if (state.ccdShards !== shards) {
      shards = state.ccdShards;
      continue;
    }
    if (!stored) return changed;
    const patches = ccdRepairs(stored, ccdOf(state), shards);
    const entries = Object.values(patches).flatMap((p) => Object.keys(p));
    if (entries.length === 0) return changed;
    changed += entries.length;
    deps.log.warn('CCD entries out of line with the state, repaired', { gateway, entries });
    await patchCcd(deps, gateway, patches);
  }
  throw new UpstreamError(`the CCD entries of gateway '${gateway}' kept changing while being repaired`);
}

/**
 * Whether a PUT of the gateway must move its CCD entries to shards: its state records no (or another) layout,
 * or a move that stopped before its end left the legacy `ccd` ConfigMap behind.
 */
export async function ccdMoveNeeded(
  deps: Pick<GatewayDeps, 'cluster'>,
  state: GatewayState,
): Promise<boolean> {
  if (state.ccdShards !== CCD_SHARDS) return true;
  return (await deps.cluster.readConfigMap(namespaceOf(state.spec.name), OBJECTS.ccd)) !== undefined;
}

/**
 * The end of a move to shards, once the state records the shards and the Deployment mounts them: deletes the
 * legacy `ccd` ConfigMap, so a writer still holding the legacy layout fails NotFound and writes again in the
 * shards (shared/gateways/ccd.ts), then converges the shards with the state once, so an entry a racing writer
 * put into the legacy ConfigMap just before the switch (and lost with it) is written into its shard.
 * Returns how many entries that convergence changed.
 */
export async function completeCcdMove(deps: GatewayDeps, gateway: string): Promise<number> {
  await deps.cluster.delete({ kind: 'ConfigMap', namespace: namespaceOf(gateway), name: OBJECTS.ccd });
  return convergeCcd(deps, gateway);
}
