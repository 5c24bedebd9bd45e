/**
 * The gateway's v2 CRL: the TBSCertList is written as DER straight into Buffers (node-forge has no CRL
 * builder, and its ASN.1 module costs tens of milliseconds for thousands of entries), Node's native
 * `crypto.sign` signs it with the cached CA key.
 */
import { InputError } from '../errors.js';
import type { Asn1 } from './asn1.js';
import {
  OID,
  bytesOf,
  childrenOf,
  enumerated,
  extension,
  fromDer,
  fromPem,
  isSequence,
  oid,
  sequence,
  toDer,
  toPem,
} from './asn1.js';
import type { CaMaterial } from './ca.js';
import { loadCa } from './ca.js';
import { authorityKeyIdExtension, signedDer } from './certificate.js';
import { TAG, integerHex, seq, time, tlv } from './der.js';
import { DAY_MS } from './validity.js';

export type CrlReason =
  'unspecified' | 'keyCompromise' | 'superseded' | 'cessationOfOperation' | 'affiliationChanged';

const CRL_REASON_CODES: Readonly<Record<CrlReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
};

/** Each entry's DER `crlEntryExtensions`: one per reason, built once (a CRL may list thousands). */
const REASON_EXTENSIONS = Object.fromEntries(
  Object.entries(CRL_REASON_CODES).map(([reason, code]) => [
    reason,
    toDer(sequence(extension(OID.reasonCode, enumerated(code)))),
  ]),
) as Readonly<Record<CrlReason, Buffer>>;

const CRL_NUMBER = toDer(oid(OID.crlNumber));
/** `INTEGER 1`: a v2 CRL. */
const VERSION_2 = Buffer.from([0x02, 0x01, 0x01]);

/** The CRLNumber extension: `{ OID, OCTET STRING (INTEGER n) }`, n a non-negative safe integer. */
function crlNumberExtension(n: number): Buffer {
  const hex = n.toString(16);
  return seq(CRL_NUMBER, tlv(TAG.octetString, integerHex(hex)));
}

const SERIAL_HEX = /^[0-9a-fA-F]{1,40}$/;

/**
 * Builds and signs a v2 CRL (PEM "X509 CRL") listing `revoked`. Each entry is a few small DER values
 * written straight into Buffers, so a CRL of thousands of serials costs little more than its signature.
 */
export function buildCrl(
  ca: CaMaterial,
  o: {
    revoked: readonly { serial: string; revokedAt: Date; reason?: CrlReason }[];
    crlNumber: number;
    thisUpdate?: Date;
    nextUpdate: Date;
  },
): string {
  const thisUpdate = o.thisUpdate ?? new Date();
  if (!Number.isSafeInteger(o.crlNumber) || o.crlNumber < 0)
    throw new InputError(`CRL number must be a non-negative integer (got ${o.crlNumber})`);
  if (o.nextUpdate <= thisUpdate) throw new InputError('CRL nextUpdate must be after thisUpdate');
  for (const r of o.revoked)
    if (!SERIAL_HEX.test(r.serial)) throw new InputError(`'${r.serial}' is not a certificate serial`);
  const issuer = loadCa(ca);
  const entries = o.revoked.map((r) =>
    seq(integerHex(r.serial), time(r.revokedAt), REASON_EXTENSIONS[r.reason ?? 'unspecified']),
  );
  const tbs = seq(
    VERSION_2,
    issuer.algorithm,
    issuer.name,
    time(thisUpdate),
    time(o.nextUpdate),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    tlv(0xa0, seq(authorityKeyIdExtension(issuer.keyId), crlNumberExtension(o.crlNumber))),
  );
  return toPem('X509 CRL', signedDer(tbs, issuer));
}

/** Whether a CRL whose nextUpdate is `nextUpdate` must be re-signed now (within `renewBeforeDays`). */
export function crlNeedsRenewal(nextUpdate: Date, now: Date, renewBeforeDays: number): boolean {
  return nextUpdate.getTime() - now.getTime() <= renewBeforeDays * DAY_MS;
}

/** A serial as CRLs and certificates carry it: lower-case hex without leading zeros. */
export const canonicalSerial = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, '');

/** The fields of a PEM CRL's TBSCertList, read without checking its signature. Throws on a PEM that is not a CRL. */
function tbsCertListFields(pem: string): Asn1[] {
  const der = fromPem('X509 CRL', pem);
  if (!der) throw new InputError('not a PEM X509 CRL');
  const [tbs] = childrenOf(fromDer(der), 'CertificateList');
  return childrenOf(tbs, 'TBSCertList');
}

/**
 * The serials a CRL lists (canonical, see `canonicalSerial`), read without checking its signature: used
 * to confirm that the CRL deployed to a gateway lists a revocation before it is recorded as complete.
 * Throws on a PEM that is not a CRL.
 */
export function crlSerials(pem: string): Set<string> {
  // version, signature, issuer, thisUpdate, then an optional nextUpdate (a time) and the optional
  // revokedCertificates: the only universal SEQUENCE after the issuer.
  const revoked = tbsCertListFields(pem).slice(3).find(isSequence);
  const serials = new Set<string>();
  for (const entry of revoked ? childrenOf(revoked, 'revokedCertificates') : [])
    serials.add(
      canonicalSerial(bytesOf(childrenOf(entry, 'CRL entry')[0], 'userCertificate').toString('hex')),
    );
  return serials;
}

/** DER of the CRL number extension's id (2.5.29.20): OBJECT IDENTIFIER, length 3, 55 1d 14. */
const CRL_NUMBER_OID_DER = Buffer.from('0603551d14', 'hex');

/**
 * The CRL number extension of a PEM CRL (undefined when it has none), read without checking its
 * signature and without parsing the revoked entries (a scan for the extension's id, which only the CRL's
 * own extensions carry): the deployed CRL is only ever replaced by one with a higher number.
 */
export function crlNumberOf(pem: string): number | undefined {
  const der = fromPem('X509 CRL', pem);
  if (!der) throw new InputError('not a PEM X509 CRL');
  let at = der.lastIndexOf(CRL_NUMBER_OID_DER);
  if (at < 0) return undefined;
  at += CRL_NUMBER_OID_DER.length;
  if (der[at] === 0x01) at += 2 + (der[at + 1] ?? 0); // an optional `critical` BOOLEAN
  // extnValue: OCTET STRING (short length) holding the INTEGER (short length).
  if (der[at] !== 0x04 || der[at + 2] !== 0x02) throw new InputError('malformed CRL number extension');
  const length = der[at + 3] ?? 0;
  const value = der.subarray(at + 4, at + 4 + length);
  return value.length === 0 ? 0 : Number.parseInt(value.toString('hex'), 16);
}
