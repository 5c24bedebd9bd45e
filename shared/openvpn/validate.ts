/**
 * Validation of everything that reaches a rendered file. Names, CIDRs, hosts and PEM blocks become
 * OpenVPN directives, shell words and iptables arguments, so nothing that could start a new line, close
 * an inline block or split a word may pass. The renderers call these again before emitting.
 */
import { InputError } from '../errors.js';
import type { FieldProblem } from '../errors.js';
import type { GatewaySpec, ResolvedPortMapping } from '../model/gateway.js';
import { MAX_GATEWAY_NAME, NAME_PATTERN } from '../model/gateway.js';
import { cidrsOverlap, parseCanonicalCidr } from '../model/cidr.js';
import { MAX_PREFIX, MIN_PREFIX } from './address-plan.js';

const DNS_LABEL = /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PEM_BLOCK = /^-----BEGIN ([A-Z0-9 ]+)-----\n[A-Za-z0-9+/=\n]+\n-----END \1-----\n?$/;
const STATIC_KEY =
  /^(#[^\n]*\n)*-----BEGIN OpenVPN Static key V1-----\n([0-9a-f]{32}\n){16}-----END OpenVPN Static key V1-----\n?$/;

export function isHost(value: string): boolean {
  return IPV4.test(value) || HOSTNAME.test(value);
}

export function isIpv4(value: string): boolean {
  return IPV4.test(value);
}

const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

/**
 * Special-purpose IPv4 blocks (RFC 6890) that can be neither a tunnel network, nor a pushed route, nor an
 * address clients dial: OpenVPN refuses `server 0.0.0.0 …`, and a route into loopback, link-local,
 * multicast or reserved space breaks the client's own host.
 */
export const SPECIAL_PURPOSE_RANGES: readonly { readonly cidr: string; readonly what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this network" block 0.0.0.0/8' },
  { cidr: '127.0.0.0/8', what: 'loopback block 127.0.0.0/8' },
  { cidr: '169.254.0.0/16', what: 'link-local block 169.254.0.0/16' },
  { cidr: '224.0.0.0/4', what: 'multicast block 224.0.0.0/4' },
  { cidr: '240.0.0.0/4', what: 'reserved block 240.0.0.0/4' },
];

/**
 * The widest route pushed: a /8. No private block is wider (10.0.0.0/8 is the widest), and a wider route
 * would pull a large part of the Internet, and with it the path to the gateway itself, into the tunnel.
 */
export const MIN_ROUTE_PREFIX = 8;

interface Cidr {
  readonly network: number;
  readonly prefix: number;
}

/** A /32 for an address already checked with isIpv4. */
function hostCidr(address: string): Cidr | undefined {
  return isIpv4(address) ? parseCanonicalCidr(`${address}/32`) : undefined;
}

const SPECIAL = SPECIAL_PURPOSE_RANGES.flatMap((r) => {
  const parsed = parseCanonicalCidr(r.cidr);
  return parsed ? [{ ...r, parsed }] : [];
});

const contains = (outer: Cidr, inner: Cidr) => outer.prefix <= inner.prefix && cidrsOverlap(outer, inner);

/** The special-purpose block `cidr` overlaps, if any. */
function specialBlockOf(cidr: Cidr): string | undefined {
  return SPECIAL.find((s) => cidrsOverlap(s.parsed, cidr))?.what;
}

/** Indexes of the routes that contain `address` (an IPv4 address; none for a host name). */
export function routesContaining(routes: readonly string[], address: string): number[] {
  const host = hostCidr(address);
  if (!host) return [];
  return routes.flatMap((r, i) => {
    const cidr = parseCanonicalCidr(r);
    return cidr && contains(cidr, host) ? [i] : [];
  });
}

/** Every problem with a gateway spec; empty when it can be rendered. */
export function gatewaySpecProblems(spec: GatewaySpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (!NAME_PATTERN.test(spec.name) || spec.name.length > MAX_GATEWAY_NAME)
    add('/name', `must be a DNS label: lower-case letters, digits and -, at most ${MAX_GATEWAY_NAME}`);
  const subnet = parseCanonicalCidr(spec.vpnSubnet);
  if (!subnet) add('/vpnSubnet', 'must be a canonical IPv4 CIDR, e.g. 10.140.0.0/24');
  else if (subnet.prefix < MIN_PREFIX || subnet.prefix > MAX_PREFIX)
    add('/vpnSubnet', `prefix must be between /${MIN_PREFIX} and /${MAX_PREFIX}`);
  else {
    const special = specialBlockOf(subnet);
    if (special) add('/vpnSubnet', `overlaps the ${special}`);
  }
  if (spec.routes.length === 0) add('/routes', 'at least one route is required');
  const parsedRoutes: { i: number; cidr: Cidr }[] = [];
  spec.routes.forEach((route, i) => {
    const cidr = parseCanonicalCidr(route);
    if (!cidr) return add(`/routes/${i}`, `'${route}' is not a canonical IPv4 CIDR`);
    if (cidr.prefix === 0)
      return add(`/routes/${i}`, 'a default route would send all client traffic to the cluster');
    const special = specialBlockOf(cidr);
    if (special) add(`/routes/${i}`, `${route} overlaps the ${special}`);
    else if (cidr.prefix < MIN_ROUTE_PREFIX)
      add(
        `/routes/${i}`,
        `${route} is wider than /${MIN_ROUTE_PREFIX}: it would pull the path to the gateway into the tunnel`,
      );
    if (subnet && cidrsOverlap(cidr, subnet))
      add(`/routes/${i}`, `${route} overlaps the VPN subnet ${spec.vpnSubnet}`);
    const clash = parsedRoutes.find((p) => cidrsOverlap(p.cidr, cidr));
    if (clash) add(`/routes/${i}`, `${route} overlaps the route ${spec.routes[clash.i]}`);
    parsedRoutes.push({ i, cidr });
  });
  if (!isPort(spec.port)) add('/port', 'must be an integer from 1 to 65535');
  if (spec.dnsLabel !== undefined && !DNS_LABEL.test(spec.dnsLabel))
    add('/dnsLabel', 'must be 3–63 lower-case letters, digits or -, starting with a letter');
  if (spec.publicHost !== undefined && !isHost(spec.publicHost))
    add('/publicHost', 'must be a host name or an IPv4 address');
  else if (spec.publicHost !== undefined) {
    const host = hostCidr(spec.publicHost);
    const special = host && specialBlockOf(host);
    if (special) add('/publicHost', `is in the ${special}`);
    for (const i of routesContaining(spec.routes, spec.publicHost))
      add(
        `/routes/${i}`,
        `${spec.routes[i]} contains the gateway's own address ${spec.publicHost}: clients would send the tunnel through itself`,
      );
  }
  spec.loadBalancer.sourceRanges.forEach((r, i) => {
    if (!parseCanonicalCidr(r)) add(`/loadBalancer/sourceRanges/${i}`, `'${r}' is not a canonical IPv4 CIDR`);
  });
  if (
    !Number.isInteger(spec.clientCertValidityDays) ||
    spec.clientCertValidityDays < 1 ||
    spec.clientCertValidityDays > 3650
  )
    add('/clientCertValidityDays', 'must be a whole number of days from 1 to 3650');
  return problems;
}

/**
 * Every problem with a client's LAN subnets against the gateway: each a canonical CIDR at most /8 wide,
 * outside special-purpose blocks, overlapping neither another of the list, nor the VPN subnet, nor a pushed
 * route, nor a cluster CIDR (`clusterCidrs`: the service and pod CIDRs when known, pushed or not: a LAN
 * route in the pod would take those addresses away from the cluster). `path` prefixes each problem's path.
 * Other clients' subnets are the state's check (`shared/gateways/client-subnets.ts`).
 */
export function lanSubnetProblems(
  spec: Pick<GatewaySpec, 'vpnSubnet' | 'routes'>,
  subnets: readonly string[],
  clusterCidrs: readonly string[],
  path = '/subnets',
): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const vpn = parseCanonicalCidr(spec.vpnSubnet);
  const taken = [
    ...spec.routes.map((r) => ({ cidr: parseCanonicalCidr(r), what: `the pushed route ${r}` })),
    ...clusterCidrs
      .filter((c) => !spec.routes.includes(c))
      .map((c) => ({ cidr: parseCanonicalCidr(c), what: `the cluster CIDR ${c}` })),
  ];
  const seen: { cidr: Cidr; text: string }[] = [];
  subnets.forEach((subnet, i) => {
    const add = (message: string) => problems.push({ path: `${path}/${i}`, message });
    const cidr = parseCanonicalCidr(subnet);
    if (!cidr) return add(`'${subnet}' is not a canonical IPv4 CIDR`);
    const special = specialBlockOf(cidr);
    if (special) add(`${subnet} overlaps the ${special}`);
    else if (cidr.prefix < MIN_ROUTE_PREFIX) add(`${subnet} is wider than /${MIN_ROUTE_PREFIX}`);
    if (vpn && cidrsOverlap(cidr, vpn)) add(`${subnet} overlaps the VPN subnet ${spec.vpnSubnet}`);
    for (const t of taken) if (t.cidr && cidrsOverlap(cidr, t.cidr)) add(`${subnet} overlaps ${t.what}`);
    const clash = seen.find((s) => cidrsOverlap(s.cidr, cidr));
    if (clash) add(`${subnet} overlaps ${clash.text}, listed before it`);
    seen.push({ cidr, text: subnet });
  });
  return problems;
}

/** Whether `address` (an IPv4 address) lies inside `cidr` (a canonical IPv4 CIDR). */
export function cidrContains(cidr: string, address: string): boolean {
  const outer = parseCanonicalCidr(cidr);
  const host = hostCidr(address);
  return outer !== undefined && host !== undefined && contains(outer, host);
}

/** Throws InputError listing every problem of the spec. */
export function validateGatewaySpec(spec: GatewaySpec): void {
  const problems = gatewaySpecProblems(spec);
  if (problems.length > 0) throw new InputError(`gateway '${spec.name}' is invalid`, problems);
}

export function requirePem(what: string, pem: string): string {
  const normalised = pem.endsWith('\n') ? pem : `${pem}\n`;
  if (!PEM_BLOCK.test(normalised)) throw new InputError(`${what} is not a single PEM block`);
  return normalised;
}

export function requireStaticKey(key: string): string {
  const normalised = key.endsWith('\n') ? key : `${key}\n`;
  if (!STATIC_KEY.test(normalised)) throw new InputError('tls-crypt key is not an OpenVPN static key');
  return normalised;
}

export function requireMapping(m: ResolvedPortMapping, i: number): void {
  const problems: FieldProblem[] = [];
  if (!isPort(m.port)) problems.push({ path: `/mappings/${i}/port`, message: 'must be 1–65535' });
  if (!isPort(m.targetPort)) problems.push({ path: `/mappings/${i}/targetPort`, message: 'must be 1–65535' });
  if (m.protocol !== 'tcp' && m.protocol !== 'udp')
    problems.push({ path: `/mappings/${i}/protocol`, message: 'must be tcp or udp' });
  if (!NAME_PATTERN.test(m.client))
    problems.push({ path: `/mappings/${i}/client`, message: 'must be a client name' });
  if (!IPV4.test(m.clientIp))
    problems.push({ path: `/mappings/${i}/clientIp`, message: 'must be an IPv4 address' });
  if (m.targetHost !== undefined && !IPV4.test(m.targetHost))
    problems.push({ path: `/mappings/${i}/targetHost`, message: 'must be an IPv4 address' });
  if (problems.length > 0) throw new InputError('invalid port mapping', problems);
}
