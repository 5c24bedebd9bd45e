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

/** Parses a canonical IPv4 CIDR into [network as int, prefix]; undefined when it is not one. */
export function parseCanonicalCidr(cidr: string): { network: number; prefix: number } | undefined {
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr) || !ipaddr.IPv4.isValidCIDR(cidr)) return undefined;
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
