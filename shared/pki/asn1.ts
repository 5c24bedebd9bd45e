/**
 * DER with node-forge's ASN.1 module, on Node Buffers at the edges: reading certificates (a CA, once per
 * process) and building the values made once (fixed extensions, algorithm identifiers). What runs per
 * request is written and read on Buffers directly (`der.ts`). Signatures are native (`crypto.sign`), so
 * forge never does big-number work.
 */
import forge from 'node-forge';

const { asn1 } = forge;
const { Class, Type } = asn1;

export type Asn1 = forge.asn1.Asn1;

/** The OIDs the certificates, CSRs and CRLs use. */
export const OID = {
  commonName: '2.5.4.3',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export const sequence = (...items: Asn1[]): Asn1 => asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
export const oid = (dotted: string): Asn1 =>
  asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(dotted).getBytes());
export const nullValue = (): Asn1 => asn1.create(Class.UNIVERSAL, Type.NULL, false, '');
export const boolean = (value: boolean): Asn1 =>
  asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, value ? '\xff' : '\x00');
export const enumerated = (n: number): Asn1 =>
  asn1.create(Class.UNIVERSAL, Type.ENUMERATED, false, String.fromCharCode(n));
/** A BIT STRING of named bits (KeyUsage): DER drops trailing zero bits and counts them as unused. */
export function namedBits(bits: readonly number[]): Asn1 {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  const unused = 7 - (highest & 7);
  return asn1.create(
    Class.UNIVERSAL,
    Type.BITSTRING,
    false,
    `${String.fromCharCode(unused)}${bytes.toString('binary')}`,
  );
}

/** An X.509 Extension: `{ extnID, critical DEFAULT FALSE, extnValue OCTET STRING (DER of value) }`. */
export function extension(id: string, value: Asn1, critical = false): Asn1 {
  return sequence(
    oid(id),
    ...(critical ? [boolean(true)] : []),
    asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  );
}

export const toDer = (node: Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), 'binary');

/** Parses one DER value (all bytes must be used); throws on malformed input. */
export const fromDer = (der: Buffer): Asn1 => asn1.fromDer(der.toString('binary'), true);

/** The children of a constructed value; throws when `node` is primitive. */
export function childrenOf(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new Error(`${what} is not a constructed ASN.1 value`);
  return node.value;
}

/** The raw content bytes of a primitive value. */
export function bytesOf(node: Asn1 | undefined, what: string): Buffer {
  if (!node || typeof node.value !== 'string') throw new Error(`${what} is not a primitive ASN.1 value`);
  return Buffer.from(node.value, 'binary');
}

export const oidOf = (node: Asn1 | undefined, what: string): string =>
  asn1.derToOid(bytesOf(node, what).toString('binary'));

/** An RFC 5280 Time (UTCTime or GeneralizedTime) as a Date. */
export function dateOf(node: Asn1 | undefined, what: string): Date {
  const text = bytesOf(node, what).toString('latin1');
  if (node?.type === Type.UTCTIME) return asn1.utcTimeToDate(text);
  if (node?.type === Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(text);
  throw new Error(`${what} is not a time`);
}

export const isSequence = (node: Asn1): boolean =>
  node.tagClass === Class.UNIVERSAL && node.type === Type.SEQUENCE;

/** The first context-specific `[tag]` child of `nodes`. */
export const contextChild = (nodes: readonly Asn1[], tag: number): Asn1 | undefined =>
  nodes.find((n) => n.tagClass === Class.CONTEXT_SPECIFIC && n.type === (tag as forge.asn1.Type));

/** PEM with LF line ends and 64-character lines (everything we emit uses LF). */
export function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER of the first PEM block labelled `label`; undefined when there is none. */
export function fromPem(label: string, pem: string): Buffer | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*)-----END ${label}-----`).exec(pem);
  if (!match?.[1]) return undefined;
  const der = Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
  return der.length > 0 ? der : undefined;
}
