/**
 * IPv4 CIDRs as the domain reads them: canonical (host bits zero) dotted-quad networks, compared as
 * integer ranges. Shared by the configuration (DEFAULT_ROUTES), the address plan and the spec checks.
 */
import ipaddr from 'ipaddr.js';

/** An IPv4 address as an unsigned 32-bit integer. */
export const toInt = (ip: string): number =>
  ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((n, b) => n * 256 + b, 0);

const OCTET = '(0|[1-9]\\d{0,2})';
const CANONICAL_CIDR = new RegExp(`^${OCTET}(\\.${OCTET}){3}/(0|[1-9]\\d?)$`);

/** Parses a canonical IPv4 CIDR into [network as int, prefix]; undefined when it is not one. */
export function parseCanonicalCidr(cidr: string): { network: number; prefix: number } | undefined {
  // One spelling per network: no leading zeros in octets or prefix (`10.0.0.0/08` is not `10.0.0.0/8`).
  if (!CANONICAL_CIDR.test(cidr) || !ipaddr.IPv4.isValidCIDR(cidr)) return undefined;
  const [addr, prefix] = ipaddr.IPv4.parseCIDR(cidr);
  const network = toInt(addr.toString());
  const size = 2 ** (32 - prefix);
  if (network % size !== 0) return undefined;
  return { network, prefix };
}

/** Whether two parsed CIDRs share any address. */
export function cidrsOverlap(
  a: { network: number; prefix: number },
  b: { network: number; prefix: number },
): boolean {
  const aEnd = a.network + 2 ** (32 - a.prefix) - 1;
  const bEnd = b.network + 2 ** (32 - b.prefix) - 1;
  return a.network <= bEnd && b.network <= aEnd;
}
