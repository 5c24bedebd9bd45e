/**
 * Building and signing X.509 v3 certificates: the TBSCertificate is written as DER straight into Buffers
 * (`der.ts`; the fixed extensions of each profile built once with forge's ASN.1 module), Node's native
 * `crypto.sign` signs it (about a millisecond for RSA-2048, where forge's JavaScript RSA took ~30).
 */
import type { KeyObject } from 'node:crypto';
import { randomBytes, sign } from 'node:crypto';
import { InputError } from '../errors.js';
import { OID, boolean, extension, namedBits, oid, sequence, toDer, toPem } from './asn1.js';
import { TAG, integerHex, seq, time, tlv } from './der.js';
import { subjectKeyIdentifier } from './keys.js';
import type { ValidityPeriod } from './validity.js';

/** Who signs: the issuer's subject Name (DER), its key identifier, its private key. */
export interface Signer {
  readonly name: Buffer;
  readonly keyId: Buffer;
  readonly key: KeyObject;
  /** The DER AlgorithmIdentifier of the signatures `key` makes. */
  readonly algorithm: Buffer;
}

export type CertificateProfile = 'ca' | 'server' | 'client';

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 };

/** A random positive serial of 16 bytes (first byte 0x01–0x7f: positive and of fixed length). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) % 0x7f) + 1;
  return bytes.toString('hex');
}

export function checkCommonName(commonName: string): void {
  if (
    commonName.length === 0 ||
    commonName.length > 64 ||
    [...commonName].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
  )
    throw new InputError(
      `certificate common name '${commonName}' is empty, too long or has control characters`,
    );
}

const oidDer = (dotted: string) => toDer(oid(dotted));
const COMMON_NAME = oidDer(OID.commonName);
const SUBJECT_KEY_ID = oidDer(OID.subjectKeyIdentifier);
const AUTHORITY_KEY_ID = oidDer(OID.authorityKeyIdentifier);

/** A Name of one CN, as a UTF8String (names may carry any Unicode). */
export const commonNameDer = (commonName: string): Buffer =>
  seq(tlv(TAG.set, seq(COMMON_NAME, tlv(TAG.utf8String, Buffer.from(commonName, 'utf8')))));

/** The extensions each profile has whatever the keys (built once): constraints and usages. */
const FIXED_EXTENSIONS: Readonly<Record<CertificateProfile, Buffer>> = {
  ca: Buffer.concat(
    [
      extension(OID.basicConstraints, sequence(boolean(true)), true),
      extension(OID.keyUsage, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), true),
    ].map(toDer),
  ),
  server: endEntityExtensions('server'),
  client: endEntityExtensions('client'),
};

function endEntityExtensions(profile: 'server' | 'client'): Buffer {
  return Buffer.concat(
    [
      // An empty BasicConstraints is cA FALSE (DER leaves the default out).
      extension(OID.basicConstraints, sequence()),
      extension(
        OID.keyUsage,
        namedBits(
          profile === 'server'
            ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment]
            : [KEY_USAGE.digitalSignature, KEY_USAGE.keyAgreement],
        ),
        true,
      ),
      extension(OID.extKeyUsage, sequence(oid(profile === 'server' ? OID.serverAuth : OID.clientAuth))),
    ].map(toDer),
  );
}

/** `[0] EXPLICIT INTEGER 2`: an X.509 v3 certificate. */
const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);

/** AuthorityKeyIdentifier `{ [0] keyIdentifier }` as an extension. */
export const authorityKeyIdExtension = (keyId: Buffer): Buffer =>
  seq(AUTHORITY_KEY_ID, tlv(TAG.octetString, seq(tlv(0x80, keyId))));

function extensionsFor(profile: CertificateProfile, subjectKeyId: Buffer, issuerKeyId: Buffer): Buffer {
  const ski = seq(SUBJECT_KEY_ID, tlv(TAG.octetString, tlv(TAG.octetString, subjectKeyId)));
  return Buffer.concat([
    FIXED_EXTENSIONS[profile],
    ski,
    ...(profile === 'ca' ? [] : [authorityKeyIdExtension(issuerKeyId)]),
  ]);
}

/** The signed DER of `tbs` by `signer`: `SEQUENCE { tbs, algorithm, BIT STRING signature }`. */
export function signedDer(tbs: Buffer, signer: Signer): Buffer {
  const signature = sign('sha256', tbs, signer.key);
  return seq(tbs, signer.algorithm, tlv(TAG.bitString, Buffer.of(0), signature));
}

/** Signs a certificate for `spki` with CN `commonName`, by `issuer` (a CA signs itself with `selfSigned`). */
export function signCertificate(o: {
  readonly issuer: Signer;
  readonly commonName: string;
  /** DER SubjectPublicKeyInfo of the subject's key. */
  readonly spki: Buffer;
  readonly period: ValidityPeriod;
  readonly profile: CertificateProfile;
  /** Self-signed: the subject Name and key identifier are the issuer's. */
  readonly selfSigned?: boolean;
  /** A serial already reserved for this certificate (lower-case hex); a fresh random one otherwise. */
  readonly serial?: string | undefined;
}): { certPem: string; serial: string } {
  const serial = o.serial ?? randomSerial();
  const subjectKeyId = o.selfSigned ? o.issuer.keyId : subjectKeyIdentifier(o.spki);
  const tbs = seq(
    VERSION_3,
    integerHex(serial),
    o.issuer.algorithm,
    o.issuer.name,
    seq(time(o.period.notBefore), time(o.period.notAfter)),
    o.selfSigned ? o.issuer.name : commonNameDer(o.commonName),
    o.spki,
    tlv(0xa3, seq(extensionsFor(o.profile, subjectKeyId, o.issuer.keyId))),
  );
  return { certPem: toPem('CERTIFICATE', signedDer(tbs, o.issuer)), serial };
}
