/**
 * A gateway as a version before CCD shards left it: no layout in its state, its CCD entries in the single `ccd`
 * ConfigMap, and a Deployment mounting that ConfigMap. Made from a gateway created by the current PUT (so with
 * the same spec, PKI and objects otherwise), through the cluster port only.
 */
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import { gatewayObjects } from '../../shared/gateways/gateway-objects.js';
import { readServerPki } from '../../shared/gateways/gateway-pki.js';
import { readState } from '../../shared/gateways/gateway-state.js';
import { OBJECTS, ccdObjectNames, namespaceOf } from '../../shared/model/names.js';
import { parseStateConfigMapData, stateConfigMapData } from '../../shared/model/state-codec.js';

export async function makeLegacyCcd(deps: GatewayDeps, gateway: string): Promise<void> {
  const ns = namespaceOf(gateway);
  const sharded = await readState(deps.cluster, gateway);
  const pki = await readServerPki(deps, gateway);
  if (!pki) throw new Error(`gateway '${gateway}' has no server PKI`);
  const hash = (await deps.cluster.readRollout(ns, OBJECTS.deployment)).templateAnnotations[
    `${deps.config.LABEL_DOMAIN}/config-hash`
  ];
  await deps.cluster.updateConfigMap(ns, OBJECTS.state, (current) => {
    const { ccdShards: _, ...legacy } = parseStateConfigMapData(current.data);
    return stateConfigMapData(legacy);
  });
  const legacy = await readState(deps.cluster, gateway);
  await deps.cluster.apply([
    ...gatewayObjects(deps, legacy, pki, 'ccd'),
    ...gatewayObjects(deps, legacy, pki, 'spec', hash).filter((o) => o.kind === 'Deployment'),
  ]);
  for (const name of ccdObjectNames(sharded.ccdShards))
    await deps.cluster.delete({ kind: 'ConfigMap', namespace: ns, name });
}
