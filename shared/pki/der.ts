/**
 * DER on Node Buffers for the hot paths (a client certificate, a CRL of thousands of serials, a CSR read):
 * writing a value is one length header and a copy, reading one is slicing, so a request costs about its
 * one native signature. node-forge's ASN.1 module (`asn1.ts`) stays for what runs once per CA.
 */

/** Universal tags used here. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  enumerated: 0x0a,
  utf8String: 0x0c,
  sequence: 0x30,
  set: 0x31,
  utcTime: 0x17,
  generalizedTime: 0x18,
} as const;

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One DER value: `tag`, the length of `content`, `content`. */
export function tlv(tag: number, ...content: readonly Buffer[]): Buffer {
  const length = content.reduce((n, c) => n + c.length, 0);
  return Buffer.concat([Buffer.of(tag), lengthBytes(length), ...content]);
}

export const seq = (...items: readonly Buffer[]): Buffer => tlv(TAG.sequence, ...items);

/** A positive INTEGER from hex (a certificate serial), with the 0x00 a leading byte ≥ 0x80 needs. */
export function integerHex(hex: string): Buffer {
  const clean = hex.replace(/^0+(?=.)/, '');
  const bytes = Buffer.from(clean.length % 2 === 1 ? `0${clean}` : clean, 'hex');
  return tlv(TAG.integer, (bytes[0] ?? 0) >= 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes);
}

const two = (n: number) => String(n).padStart(2, '0');

/** RFC 5280 Time: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year < 2050
    ? tlv(TAG.utcTime, Buffer.from(`${two(year % 100)}${rest}`, 'latin1'))
    : tlv(TAG.generalizedTime, Buffer.from(`${year}${rest}`, 'latin1'));
}

/** One DER value read at `offset` of `der`. */
export interface Tlv {
  readonly tag: number;
  /** Where the whole value (header included) starts and ends. */
  readonly start: number;
  readonly end: number;
  /** Where its content starts. */
  readonly contentStart: number;
}

/** Reads the value at `offset`; throws when it runs past `limit` or its length is not DER. */
export function readTlv(der: Buffer, offset = 0, limit = der.length): Tlv {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new Error('DER value cut short');
  let length = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new Error('DER length is indefinite or too long');
    length = 0;
    for (let i = 0; i < count; i += 1) length = length * 256 + (der[contentStart + i] ?? NaN);
    contentStart += count;
  }
  const end = contentStart + length;
  if (!Number.isFinite(end) || end > limit) throw new Error('DER value runs past its container');
  return { tag, start: offset, end, contentStart };
}

/** The values inside the constructed value `outer` (which must have `tag`). */
export function childrenTlv(der: Buffer, outer: Tlv, tag: number = TAG.sequence): Tlv[] {
  if (outer.tag !== tag)
    throw new Error(`DER tag 0x${outer.tag.toString(16)} where 0x${tag.toString(16)} was expected`);
  const children: Tlv[] = [];
  for (let at = outer.contentStart; at < outer.end;) {
    const child = readTlv(der, at, outer.end);
    children.push(child);
    at = child.end;
  }
  return children;
}

export const whole = (der: Buffer, v: Tlv): Buffer => der.subarray(v.start, v.end);
export const content = (der: Buffer, v: Tlv): Buffer => der.subarray(v.contentStart, v.end);

/** The dotted form of an OBJECT IDENTIFIER's content. */
export function oidText(bytes: Buffer): string {
  const parts: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (byte & 0x80) continue;
    if (parts.length === 0)
      parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
    else parts.push(value);
    value = 0;
  }
  return parts.join('.');
}
