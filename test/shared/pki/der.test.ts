/** The Buffer DER writer and reader of the per-request PKI paths, checked against forge's encoder and by hand. */
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import {
  TAG,
  childrenTlv,
  content,
  integerHex,
  oidText,
  readTlv,
  seq,
  time,
  tlv,
} from '../../../shared/pki/der.js';

const forgeDer = (node: forge.asn1.Asn1) => Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');

describe('DER on Buffers', () => {
  it.each([
    ['2049-12-31T23:59:59Z', forge.asn1.Type.UTCTIME],
    ['2050-01-01T00:00:00Z', forge.asn1.Type.GENERALIZEDTIME],
    ['2026-03-04T05:06:07Z', forge.asn1.Type.UTCTIME],
  ] as const)('writes %s as forge does (UTCTime through 2049, then GeneralizedTime)', (iso, type) => {
    const date = new Date(iso);
    const text =
      type === forge.asn1.Type.UTCTIME
        ? forge.asn1.dateToUtcTime(date)
        : forge.asn1.dateToGeneralizedTime(date);
    expect(time(date)).toStrictEqual(
      forgeDer(forge.asn1.create(forge.asn1.Class.UNIVERSAL, type, false, text)),
    );
  });

  it.each([
    ['01', '020101'],
    ['7f', '02017f'],
    ['80', '02020080'],
    ['000a', '02010a'],
    ['0', '020100'],
  ])('writes the serial %s as the positive INTEGER %s', (hex, der) => {
    expect(integerHex(hex).toString('hex')).toBe(der);
  });

  it('writes and reads back a value longer than 127 and 255 bytes (long-form lengths)', () => {
    for (const size of [200, 300, 70_000]) {
      const der = seq(tlv(TAG.octetString, Buffer.alloc(size, 7)));
      const [inner] = childrenTlv(der, readTlv(der));
      expect([readTlv(der).end, inner && content(der, inner).length]).toStrictEqual([der.length, size]);
    }
  });

  it('refuses a value whose length runs past its container', () => {
    expect(() => readTlv(Buffer.from('3005020101', 'hex'))).toThrow(/runs past/);
    expect(() => readTlv(Buffer.from('30', 'hex'))).toThrow(/cut short/);
    expect(() => readTlv(Buffer.from('3080', 'hex'))).toThrow(/indefinite/);
  });

  it('reads object identifiers', () => {
    const oid = (dotted: string) => Buffer.from(forge.asn1.oidToDer(dotted).getBytes(), 'binary');
    for (const dotted of ['1.2.840.113549.1.1.11', '2.5.29.14', '1.2.840.10045.4.3.2', '2.999.3'])
      expect(oidText(oid(dotted))).toBe(dotted);
  });
});
