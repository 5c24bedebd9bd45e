/**
 * IPv4 CIDRs as the domain reads them: canonical (host bits zero) dotted-quad networks, compared as
 * integer ranges. Shared by the configuration (DEFAULT_ROUTES), the address plan and the spec checks.
 */
import ipaddr from 'ipaddr.js';

/** A canonical dotted quad (no leading zeros, octets ≤ 255) as an integer, or undefined for any other text. */
function canonicalQuad(ip: string): number | undefined {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i <= ip.length; i += 1) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46; // the end closes the last octet like a dot
    if (c === 46) {
      if (digits === 0 || octet > 255 || (dots === 3 && i < ip.length)) return undefined;
      n = n * 256 + octet;
      dots += 1;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // a leading zero
      octet = octet * 10 + (c - 48);
      digits += 1;
      if (digits > 3) return undefined;
    } else return undefined;
  }
  return dots === 4 ? n : undefined;
}

/**
 * An IPv4 address as an unsigned 32-bit integer. A canonical dotted quad (what the state stores: every
 * client's address, read on every issue) is read directly, ipaddr.js's general parser taking ~10 µs each;
 * any other spelling goes to that parser, which decides what it means or refuses it.
 */
export function toInt(ip: string): number {
  return (
    canonicalQuad(ip) ??
    ipaddr.IPv4.parse(ip)
      .toByteArray()
      .reduce((n, b) => n * 256 + b, 0)
  );
}

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
