/**
 * Branch LANs: the subnets behind a client, routed to it by the gateway (an `iroute` each in its CCD
 * entry; the pod's watcher adds the kernel routes and drops the client's session so OpenVPN reads them).
 *
 * Every rule that depends on the state (other clients' claims, the gateway's routes, the mappings into a
 * client's LAN) is checked inside the conditional write of the change, again on every retry: two clients
 * claiming overlapping LANs at once end with exactly one of them holding it.
 */
import type { ClientSubnetsResponse } from '../api/schemas.js';
import { ConflictError, InputError, NotFoundError, UpstreamError } from '../errors.js';
import { cidrsOverlap, parseCanonicalCidr, toInt } from '../model/cidr.js';
import type { ClientRecord, GatewaySpec, GatewayState, PortMapping } from '../model/gateway.js';
import { holdsCcdEntry, holdsSubnets } from '../model/gateway.js';
import { lanSubnetProblems, planAddresses, renderCcdEntry } from '../openvpn/index.js';
import type { GatewayDeps } from './deps.js';
import { writeCcdEntries } from './ccd.js';
import type { ReservedSubnets } from './enrollment-reservations.js';
import { reservations } from './enrollment-reservations.js';
import { readState, updateState } from './gateway-state.js';

/**
 * The cluster's own CIDRs (service and pod, when known), which no LAN may overlap whether the gateway
 * pushes them or not: a LAN route in the pod would take those addresses away from the cluster.
 */
export async function clusterCidrs(deps: Pick<GatewayDeps, 'clusterInfo'>): Promise<string[]> {
  const info = await deps.clusterInfo.describe();
  return [info.serviceCidr, info.podCidr].filter((c): c is string => c !== undefined && c !== '');
}

/** The subnets in one order (by address, then prefix): what the state records and the CCD entry lists. */
export function sortedSubnets(subnets: readonly string[]): string[] {
  const key = (c: string) => parseCanonicalCidr(c) ?? { network: 0, prefix: 0 };
  return [...subnets].sort((a, b) => key(a).network - key(b).network || key(a).prefix - key(b).prefix);
}

/**
 * Whether `host` can be a port mapping's target inside `subnets`: in one of them, and neither the
 * network nor the broadcast address of a subnet that has both (/30 and wider).
 */
export function hostInSubnets(subnets: readonly string[], host: string): boolean {
  const address = toInt(host);
  return subnets.some((s) => {
    const cidr = parseCanonicalCidr(s);
    if (!cidr) return false;
    const last = cidr.network + 2 ** (32 - cidr.prefix) - 1;
    if (address < cidr.network || address > last) return false;
    return cidr.prefix > 30 || (address !== cidr.network && address !== last);
  });
}

/**
 * Refuses `subnets` as the LANs of client `name` in `state`: InputError (400) when they clash with the
 * gateway itself (VPN subnet, pushed routes, cluster CIDRs, special-purpose blocks, each other);
 * ConflictError (409) when another client (pending, active or being revoked) holds an overlapping subnet,
 * or a port mapping targets a host of this client that the new set leaves out.
 */
export function requireSubnetsAllowed(
  state: GatewayState,
  name: string,
  subnets: readonly string[],
  cluster: readonly string[],
  path = '/subnets',
  /** LAN subnets pending enrollments reserve (`enrollment-reservations.ts`): taken as much as clients' ones. */
  reserved: readonly ReservedSubnets[] = [],
): void {
  const problems = lanSubnetProblems(state.spec, subnets, cluster, path);
  if (problems.length > 0) throw new InputError(`the subnets of client '${name}' are invalid`, problems);
  const mine = subnets.flatMap((s) => {
    const cidr = parseCanonicalCidr(s);
    return cidr ? [{ s, cidr }] : [];
  });
  const claims: string[] = [];
  for (const other of state.clients) {
    if (other.name === name || !holdsSubnets(other) || !other.subnets) continue;
    for (const theirs of other.subnets) {
      const cidr = parseCanonicalCidr(theirs);
      const clash = cidr && mine.find((m) => cidrsOverlap(m.cidr, cidr));
      if (clash) claims.push(`${clash.s} overlaps ${theirs} of client '${other.name}'`);
    }
  }
  for (const other of reserved) {
    if (other.owner === name) continue;
    for (const theirs of other.subnets) {
      const cidr = parseCanonicalCidr(theirs);
      const clash = cidr && mine.find((m) => cidrsOverlap(m.cidr, cidr));
      if (clash)
        claims.push(`${clash.s} overlaps ${theirs} reserved by the pending enrollment of '${other.owner}'`);
    }
  }
  if (claims.length > 0) throw new ConflictError(`subnets already claimed: ${claims.join('; ')}`);
  const stranded = mappingsOutside(state.portMappings, name, subnets);
  if (stranded.length > 0)
    throw new ConflictError(
      `port mapping(s) ${stranded.map((m) => `${m.port}/${m.protocol} → ${m.targetHost ?? ''}`).join(', ')} target hosts of client '${name}' outside the new subnets: change or remove them first`,
    );
}

/** The mappings into client `name`'s LAN whose target host `subnets` would no longer hold. */
function mappingsOutside(mappings: readonly PortMapping[], name: string, subnets: readonly string[]) {
  return mappings.filter(
    (m) => m.client === name && m.targetHost !== undefined && !hostInSubnets(subnets, m.targetHost),
  );
}

/**
 * The state-dependent rule of a gateway spec change: the VPN subnet and the pushed routes may not come to
 * overlap a subnet a client holds (409, like a VPN subnet change while clients hold addresses in it).
 */
export function requireSpecKeepsSubnets(state: GatewayState, spec: GatewaySpec): void {
  const clashes = state.clients
    .filter((c) => holdsSubnets(c) && c.subnets !== undefined)
    .flatMap((c) =>
      lanSubnetProblems(spec, c.subnets ?? [], []).map((p) => `client '${c.name}': ${p.message}`),
    );
  if (clashes.length > 0)
    throw new ConflictError(`the change would overlap subnets of clients: ${clashes.join('; ')}`);
}

function findClient(state: GatewayState, name: string): ClientRecord {
  const client = state.clients.find((c) => c.name === name);
  if (!client) throw new NotFoundError(`client '${name}' does not exist on gateway '${state.spec.name}'`);
  return client;
}

const sameList = (a: readonly string[] | undefined, b: readonly string[]) =>
  (a ?? []).length === b.length && b.every((s, i) => a?.[i] === s);

/** GET /gateways/{gateway}/clients/{client}/subnets */
export async function getClientSubnets(
  deps: GatewayDeps,
  gateway: string,
  name: string,
): Promise<ClientSubnetsResponse> {
  const client = findClient(await readState(deps.cluster, gateway), name);
  return { subnets: client.subnets ?? [] };
}

/**
 * PUT /gateways/{gateway}/clients/{client}/subnets: replaces the client's LANs (an empty list removes
 * them). Live: the state is written, then the client's CCD entry; the pod's watcher routes the new set
 * and drops only this client's session (it reconnects at once and OpenVPN reads the new `iroute`s).
 * Only an active client's LANs change: a pending one is still being issued (its CCD entry is written from
 * the record being completed), a revoked one routes nothing.
 */
export async function replaceClientSubnets(
  deps: GatewayDeps,
  gateway: string,
  name: string,
  subnets: readonly string[],
): Promise<ClientSubnetsResponse> {
  const wanted = sortedSubnets(subnets);
  const cluster = wanted.length > 0 ? await clusterCidrs(deps) : [];
  const now = deps.clock();
  const state = await updateState(deps.cluster, gateway, (s) => {
    const client = findClient(s, name);
    if (client.status === 'pending')
      throw new ConflictError(`client '${name}' is still being issued: retry shortly`);
    if (client.status !== 'active') throw new ConflictError(`client '${name}' is revoked`);
    requireSubnetsAllowed(s, name, wanted, cluster, '/subnets', reservations(s, now).subnets);
    if (sameList(client.subnets, wanted)) return undefined;
    const changed: ClientRecord = { ...client, subnets: wanted.length > 0 ? wanted : undefined };
    return { ...s, clients: s.clients.map((c) => (c === client ? changed : c)) };
  });
  await deployCcdEntry(deps, gateway, name);
  deps.log.info('client subnets replaced', { gateway, client: name, subnets: wanted });
  return { subnets: findClient(state, name).subnets ?? [] };
}

/** The CCD entry the state wants for `name` (null: none). */
function ccdEntryOf(state: GatewayState, name: string): string | null {
  const client = state.clients.find((c) => c.name === name);
  if (!client || !holdsCcdEntry(client)) return null;
  return renderCcdEntry(planAddresses(state.spec.vpnSubnet), client.ip, client.subnets);
}

/** Rounds of re-writing when the client's entry keeps changing under a write. */
const MAX_CCD_ROUNDS = 5;

/**
 * Writes client `name`'s CCD entry from the latest state, then reads the state again and writes once more
 * until the entry written is still the one the state wants: of two changes racing, the later state's
 * entry is the one left (patches of one key do not commute, so the last writer must have read last).
 */
export async function deployCcdEntry(deps: GatewayDeps, gateway: string, name: string): Promise<void> {
  let state = await readState(deps.cluster, gateway);
  let entry = ccdEntryOf(state, name);
  for (let round = 1; round <= MAX_CCD_ROUNDS; round += 1) {
    await writeCcdEntries(deps, state, { [name]: entry });
    state = await readState(deps.cluster, gateway);
    const latest = ccdEntryOf(state, name);
    if (latest === entry) return;
    entry = latest;
  }
  throw new UpstreamError(`the CCD entry of client '${name}' kept changing while being written`);
}
