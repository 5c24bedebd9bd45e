/**
 * From a gateway's state and PKI to the Kubernetes objects that make it, through the pure renderers and
 * manifest builders. Everything the cluster holds for a gateway is derived here, so it can be re-derived.
 */
import type { KubeObject } from '../model/cluster-port.js';
import type { GatewayManifestInput } from '../kube/manifests.js';
import { ConflictError } from '../errors.js';
import { buildGatewayManifests, buildStatusConfigMap, configHash } from '../kube/manifests.js';
import { planAddresses, renderCcdEntry, renderEntrypoint, renderServerConf } from '../openvpn/index.js';
import type { GatewayDeps } from './deps.js';
import type { GatewayState, ResolvedPortMapping, ServerPki } from '../model/gateway.js';
import { holdsCcdEntry } from '../model/gateway.js';
import { OBJECTS, domainKeys, isCcdObjectName, namespaceOf } from '../model/names.js';

/** CCD entries (file name = client name) for every pending or active client, with its LAN subnets. */
export function ccdOf(state: GatewayState): Record<string, string> {
  const plan = planAddresses(state.spec.vpnSubnet);
  return Object.fromEntries(
    state.clients.filter(holdsCcdEntry).map((c) => [c.name, renderCcdEntry(plan, c.ip, c.subnets)]),
  );
}

/** Port mappings with each client's tunnel address (mappings only ever name active clients). */
export function resolvePortMappings(state: GatewayState): ResolvedPortMapping[] {
  const ips = new Map(state.clients.filter((c) => c.status === 'active').map((c) => [c.name, c.ip]));
  return state.portMappings.flatMap((m) => {
    const clientIp = ips.get(m.client);
    return clientIp ? [{ ...m, clientIp }] : [];
  });
}

export function manifestInputOf(
  deps: Pick<GatewayDeps, 'config'>,
  state: GatewayState,
  pki: ServerPki,
): GatewayManifestInput {
  return {
    spec: state.spec,
    image: deps.config.OPENVPN_IMAGE,
    labelDomain: deps.config.LABEL_DOMAIN,
    serverConf: renderServerConf(state.spec),
    entrypoint: renderEntrypoint(state.spec),
    ccd: ccdOf(state),
    portMappings: resolvePortMappings(state),
    state,
    pki,
  };
}

/** The pod-template annotation that carries the config hash. */
export function configHashAnnotation(deps: Pick<GatewayDeps, 'config'>): string {
  return domainKeys(deps.config.LABEL_DOMAIN).configHashAnnotation;
}

export function desiredConfigHash(
  deps: Pick<GatewayDeps, 'config'>,
  state: GatewayState,
  pki: ServerPki,
): string {
  return configHash(manifestInputOf(deps, state, pki));
}

export type ObjectSelection = 'all' | 'spec' | 'port-mappings' | 'ccd';

/** Objects the pod's Deployment refers to by name: a Deployment applied without them gets no pod. */
const POD_IDENTITY_KINDS = new Set(['ServiceAccount', 'Role', 'RoleBinding']);

/**
 * The objects to apply. `all` (creation or repair) is every object except the `state` ConfigMap;
 * `spec` is what a spec change touches (server ConfigMap, Deployment and the pod's ServiceAccount, Role and
 * RoleBinding, openvpn Service);
 * `port-mappings` is the mappings ConfigMap and the `pm-<port>` Services;
 * `ccd` is the CCD ConfigMaps of the state's layout (`ccdShards`), applied whole only at creation, on a repair
 * (`all`) and when a PUT moves a gateway to shards: afterwards they change key by key (shared/gateways/ccd.ts).
 * `keepConfigHash`, when given, replaces the Deployment's config-hash so applying does not start
 * a rollout behind the roll orchestration's back.
 */
export function gatewayObjects(
  deps: Pick<GatewayDeps, 'config'>,
  state: GatewayState,
  pki: ServerPki,
  selection: ObjectSelection,
  keepConfigHash?: string,
): KubeObject[] {
  const annotation = configHashAnnotation(deps);
  const objects = buildGatewayManifests(manifestInputOf(deps, state, pki));
  return objects
    .filter((o) => {
      if (o.kind === 'ConfigMap' && o.metadata.name === OBJECTS.state) return false;
      if (selection === 'all') return true;
      if (selection === 'ccd') return o.kind === 'ConfigMap' && isCcdObjectName(o.metadata.name);
      if (selection === 'spec')
        return (
          (o.kind === 'ConfigMap' && o.metadata.name === OBJECTS.server) ||
          o.kind === 'Deployment' ||
          POD_IDENTITY_KINDS.has(o.kind) ||
          (o.kind === 'Service' && o.metadata.name === OBJECTS.service)
        );
      return (
        (o.kind === 'ConfigMap' && o.metadata.name === OBJECTS.portMappings) ||
        (o.kind === 'Service' && o.metadata.name !== OBJECTS.service)
      );
    })
    .map((o) =>
      keepConfigHash !== undefined && o.kind === 'Deployment'
        ? withTemplateAnnotation(o, annotation, keepConfigHash)
        : o,
    );
}

function withTemplateAnnotation(deployment: KubeObject, key: string, value: string): KubeObject {
  const spec = deployment['spec'] as { template: { metadata?: { annotations?: Record<string, string> } } };
  return {
    ...deployment,
    spec: {
      ...spec,
      template: {
        ...spec.template,
        metadata: {
          ...spec.template.metadata,
          annotations: { ...spec.template.metadata?.annotations, [key]: value },
        },
      },
    },
  };
}

/**
 * Creates the empty `status` ConfigMap the pod reports to, once (a re-apply would erase the report); an
 * existing one is left as it is.
 */
export async function ensureStatusObject(
  deps: Pick<GatewayDeps, 'config' | 'cluster'>,
  gateway: string,
): Promise<void> {
  // Read first: the usual case (it exists) costs no write. A create that loses a race is a 409, and fine.
  if (await deps.cluster.readConfigMap(namespaceOf(gateway), OBJECTS.status)) return;
  try {
    await deps.cluster.create(buildStatusConfigMap(gateway, deps.config.LABEL_DOMAIN));
  } catch (e: unknown) {
    if (!(e instanceof ConflictError)) throw e;
  }
}

/** The `state` ConfigMap object (created once, to claim a new gateway). */
export function stateObject(
  deps: Pick<GatewayDeps, 'config'>,
  state: GatewayState,
  pki: ServerPki,
): KubeObject {
  const found = buildGatewayManifests(manifestInputOf(deps, state, pki)).find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === OBJECTS.state,
  );
  if (!found) throw new Error('manifest builder produced no state ConfigMap');
  return found;
}
