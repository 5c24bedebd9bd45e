/**
 * Port mappings: gateway port → client tunnel address : target port. Declared in the gateway state
 * (validated there against the latest clients), rendered into the `port-mappings` ConfigMap that the
 * running pod's watcher applies live (no roll), and exposed in the cluster as one ClusterIP Service
 * `pm-<port>` each.
 */
import type { PortMappingsResponse } from '../api/schemas.js';
import { InputError } from '../errors.js';
import type { FieldProblem } from '../errors.js';
import type { GatewayDeps } from './deps.js';
import { hostInSubnets } from './client-subnets.js';
import { ensurePki } from './gateway-pki.js';
import { gatewayObjects, resolvePortMappings } from './gateway-objects.js';
import { readState, updateState } from './gateway-state.js';
import type { GatewayState, PortMapping } from '../model/gateway.js';
import {
  CONFIG_KEYS,
  OBJECTS,
  PORT_MAPPING_SERVICE_PREFIX,
  domainKeys,
  namespaceOf,
  portMappingServiceName,
} from '../model/names.js';
import { renderPortMappingsFile } from '../openvpn/index.js';

/** GET /gateways/{gateway}/port-mappings */
export async function getPortMappings(deps: GatewayDeps, gateway: string): Promise<PortMappingsResponse> {
  const state = await readState(deps.cluster, gateway);
  return { mappings: state.portMappings };
}

/** Every problem with a proposed set against a state; empty when the set is valid. */
export function portMappingProblems(state: GatewayState, mappings: readonly PortMapping[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Map<number, number>();
  mappings.forEach((m, i) => {
    const path = `/mappings/${i}`;
    if (m.port === state.spec.port)
      problems.push({ path: `${path}/port`, message: `port ${m.port} is the gateway's VPN port` });
    const first = seen.get(m.port);
    if (first !== undefined)
      problems.push({
        path: `${path}/port`,
        message: `port ${m.port} is already mapped by /mappings/${first}`,
      });
    else seen.set(m.port, i);
    const client = state.clients.find((c) => c.name === m.client);
    if (!client)
      problems.push({ path: `${path}/client`, message: `no client '${m.client}' on this gateway` });
    else if (client.status === 'pending')
      problems.push({ path: `${path}/client`, message: `client '${m.client}' is still being issued` });
    else if (client.status !== 'active')
      problems.push({ path: `${path}/client`, message: `client '${m.client}' is revoked` });
    else if (m.targetHost !== undefined && !hostInSubnets(client.subnets ?? [], m.targetHost))
      problems.push({
        path: `${path}/targetHost`,
        message: `${m.targetHost} is not a host address in a subnet of client '${m.client}' (${(client.subnets ?? []).join(', ') || 'it has none'})`,
      });
  });
  return problems;
}

function requireValid(state: GatewayState, mappings: readonly PortMapping[]): void {
  const problems = portMappingProblems(state, mappings);
  if (problems.length > 0) throw new InputError('the port mappings are invalid', problems);
}

/**
 * PUT /gateways/{gateway}/port-mappings: replaces the whole set, writes it to the cluster, and starts the
 * operation that completes once the pod reports it applied the set.
 */
export async function replacePortMappings(
  deps: GatewayDeps,
  gateway: string,
  mappings: readonly PortMapping[],
): Promise<PortMappingsResponse & { operationId: string }> {
  requireValid(await readState(deps.cluster, gateway), mappings);
  const sorted = [...mappings].sort((a, b) => a.port - b.port);
  const state = await updateState(deps.cluster, gateway, (s) => {
    requireValid(s, sorted);
    return { ...s, portMappings: sorted };
  });
  await syncPortMappings(deps, gateway);
  const operationId = await deps.operations.startLiveApply(gateway);
  deps.log.info('port mappings replaced', { gateway, count: sorted.length, operationId });
  return { mappings: state.portMappings, operationId };
}

/** The state without the mappings that target `client`. */
export function removeMappingsOf(state: GatewayState, client: string): GatewayState {
  return { ...state, portMappings: state.portMappings.filter((m) => m.client !== client) };
}

/**
 * Whether the cluster runs the state's mappings: the `port-mappings` ConfigMap renders them and exactly
 * their `pm-<port>` Services exist. A gateway without the ConfigMap yet counts as deployed (its creation,
 * or a repeated PUT, applies every object).
 */
export async function mappingsDeployed(deps: GatewayDeps, state: GatewayState): Promise<boolean> {
  const gateway = state.spec.name;
  const ns = namespaceOf(gateway);
  const deployed = await deps.cluster.readConfigMap(ns, OBJECTS.portMappings);
  if (deployed === undefined) return true;
  const resolved = resolvePortMappings(state);
  if (deployed.data[CONFIG_KEYS.mappings] !== renderPortMappingsFile(resolved)) return false;
  const selector = `${domainKeys(deps.config.LABEL_DOMAIN).gatewayLabel}=${gateway}`;
  const services = (await deps.cluster.list('Service', ns, selector))
    .map((s) => s.metadata.name)
    .filter((n) => n.startsWith(PORT_MAPPING_SERVICE_PREFIX))
    .sort();
  const wanted = resolved.map((m) => portMappingServiceName(m.port)).sort();
  return JSON.stringify(services) === JSON.stringify(wanted);
}

/** Rounds of re-applying when the mappings keep changing under a sync. */
const MAX_SYNC_ROUNDS = 5;

/**
 * Writes the mappings ConfigMap and `pm-<port>` Services from the latest state and deletes Services of
 * mappings that are gone. No roll: the kubelet delivers the ConfigMap to the running pod, whose watcher
 * re-applies the changed file (sessions stay up). Concurrent replacements converge: after applying, the
 * state is read again and the objects re-applied until the mappings they were rendered from are still the
 * latest, so the last writer's set is deployed.
 */
export async function syncPortMappings(deps: GatewayDeps, gateway: string): Promise<void> {
  const ns = namespaceOf(gateway);
  let state = await readState(deps.cluster, gateway);
  for (let round = 1; ; round += 1) {
    const { pki } = await ensurePki(deps, state);
    const objects = gatewayObjects(deps, state, pki, 'port-mappings');
    await deps.cluster.apply(objects);
    const wanted = new Set(objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name));
    const selector = `${domainKeys(deps.config.LABEL_DOMAIN).gatewayLabel}=${gateway}`;
    const existing = await deps.cluster.list('Service', ns, selector);
    for (const service of existing)
      if (service.metadata.name.startsWith(PORT_MAPPING_SERVICE_PREFIX) && !wanted.has(service.metadata.name))
        await deps.cluster.delete({ kind: 'Service', namespace: ns, name: service.metadata.name });
    const latest = await readState(deps.cluster, gateway);
    const settled = JSON.stringify(latest.portMappings) === JSON.stringify(state.portMappings);
    if (settled || round >= MAX_SYNC_ROUNDS) {
      if (!settled)
        deps.log.warn('port mappings kept changing while being applied; the next change converges', {
          gateway,
        });
      return;
    }
    state = latest;
  }
}
