/**
 * The tunnel network's address plan: the server takes the first host address, the top quarter of the
 * subnet is OpenVPN's dynamic pool (unused while `ccd-exclusive` refuses clients without a CCD entry, but
 * kept apart so a static address can never collide with it), and everything between is the static range
 * from which clients get their addresses, lowest free first.
 */
import ipaddr from 'ipaddr.js';
import { ConflictError, InputError } from '../errors.js';
import { parseCanonicalCidr, toInt } from '../model/cidr.js';

export interface AddressPlan {
  readonly network: string;
  readonly netmask: string;
  readonly prefixLength: number;
  readonly serverIp: string;
  readonly broadcast: string;
  readonly staticRange: { readonly first: string; readonly last: string };
  readonly pool: { readonly first: string; readonly last: string };
}

export const MIN_PREFIX = 16;
/**
 * The smallest tunnel network: a /28 leaves OpenVPN's pool (the top quarter less the broadcast address)
 * 3 addresses; with a /29 it would hold 1 and OpenVPN 2.6 refuses to start ("IPv4 pool size is too
 * small (1), must be at least 2").
 */
export const MAX_PREFIX = 28;

const toIp = (n: number): string => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

export function netmaskOf(prefix: number): string {
  return toIp(2 ** 32 - 2 ** (32 - prefix));
}

export function planAddresses(vpnSubnet: string): AddressPlan {
  const parsed = parseCanonicalCidr(vpnSubnet);
  if (!parsed)
    throw new InputError(`vpnSubnet '${vpnSubnet}' is not a canonical IPv4 CIDR`, [
      { path: '/vpnSubnet', message: 'must be an IPv4 network address with prefix, e.g. 10.140.0.0/24' },
    ]);
  if (parsed.prefix < MIN_PREFIX || parsed.prefix > MAX_PREFIX)
    throw new InputError(`vpnSubnet '${vpnSubnet}' must be between /${MIN_PREFIX} and /${MAX_PREFIX}`, [
      { path: '/vpnSubnet', message: `prefix must be between /${MIN_PREFIX} and /${MAX_PREFIX}` },
    ]);
  const size = 2 ** (32 - parsed.prefix);
  const { network } = parsed;
  const broadcast = network + size - 1;
  const poolFirst = network + (size / 4) * 3;
  return {
    network: toIp(network),
    netmask: netmaskOf(parsed.prefix),
    prefixLength: parsed.prefix,
    serverIp: toIp(network + 1),
    broadcast: toIp(broadcast),
    staticRange: { first: toIp(network + 2), last: toIp(poolFirst - 1) },
    pool: { first: toIp(poolFirst), last: toIp(broadcast - 1) },
  };
}

/**
 * A client's static address: `requested` after checking it, or the lowest free address of the static
 * range. InputError for an address that can never be a client's; ConflictError when taken or full.
 */
export function allocateStaticIp(plan: AddressPlan, taken: Iterable<string>, requested?: string): string {
  const used = new Set([...taken].map(toInt));
  const first = toInt(plan.staticRange.first);
  const last = toInt(plan.staticRange.last);
  if (requested !== undefined) {
    const bad = (message: string) =>
      new InputError(`staticIp '${requested}' ${message}`, [{ path: '/staticIp', message }]);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(requested) || !ipaddr.IPv4.isValidFourPartDecimal(requested))
      throw bad('is not an IPv4 address');
    const ip = toInt(requested);
    const network = toInt(plan.network);
    const broadcast = toInt(plan.broadcast);
    if (ip < network || ip > broadcast)
      throw bad(`is outside the VPN subnet ${plan.network}/${plan.prefixLength}`);
    if (ip === network) throw bad('is the network address');
    if (ip === broadcast) throw bad('is the broadcast address');
    if (ip === toInt(plan.serverIp)) throw bad("is the server's address");
    if (ip > last) throw bad(`is in the dynamic pool ${plan.pool.first}–${plan.pool.last}`);
    if (used.has(ip))
      throw new ConflictError(`staticIp '${requested}' is already assigned to another client`);
    return requested;
  }
  for (let ip = first; ip <= last; ip += 1) if (!used.has(ip)) return toIp(ip);
  throw new ConflictError(
    `no free static address left in ${plan.staticRange.first}–${plan.staticRange.last}`,
  );
}
