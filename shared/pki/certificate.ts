/**
 * Building and signing X.509 v3 certificates: forge's ASN.1 module assembles the TBSCertificate, Node's
 * native `crypto.sign` signs it (about a millisecond for RSA-2048, where forge's JavaScript RSA took ~30).
 */
import type { KeyObject } from 'node:crypto';
import { randomBytes, sign } from 'node:crypto';
import { InputError } from '../errors.js';
import type { Asn1 } from './asn1.js';
import {
  OID,
  bitString,
  boolean,
  commonNameDn,
  derSequence,
  explicit,
  extension,
  fromDer,
  implicitBytes,
  integerFromHex,
  namedBits,
  octetString,
  oid,
  sequence,
  smallInteger,
  time,
  toDer,
  toPem,
} from './asn1.js';
import { subjectKeyIdentifier } from './keys.js';
import type { ValidityPeriod } from './validity.js';

/** Who signs: the issuer's subject Name, its key identifier, its private key. */
export interface Signer {
  readonly name: Asn1;
  readonly keyId: Buffer;
  readonly key: KeyObject;
  /** The AlgorithmIdentifier of the signatures `key` makes. */
  readonly algorithm: Asn1;
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

function extensionsFor(profile: CertificateProfile, subjectKeyId: Buffer, issuerKeyId: Buffer): Asn1[] {
  const ski = extension(OID.subjectKeyIdentifier, octetString(subjectKeyId));
  if (profile === 'ca')
    return [
      extension(OID.basicConstraints, sequence(boolean(true)), true),
      extension(OID.keyUsage, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]), true),
      ski,
    ];
  return [
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
    ski,
    extension(OID.authorityKeyIdentifier, sequence(implicitBytes(0, issuerKeyId))),
  ];
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
}): { certPem: string; serial: string } {
  const serial = randomSerial();
  const subjectKeyId = o.selfSigned ? o.issuer.keyId : subjectKeyIdentifier(o.spki);
  const tbs = toDer(
    sequence(
      explicit(0, smallInteger(2)), // v3
      integerFromHex(serial),
      o.issuer.algorithm,
      o.issuer.name,
      sequence(time(o.period.notBefore), time(o.period.notAfter)),
      o.selfSigned ? o.issuer.name : commonNameDn(o.commonName),
      fromDer(o.spki),
      explicit(3, sequence(...extensionsFor(o.profile, subjectKeyId, o.issuer.keyId))),
    ),
  );
  const signature = sign('sha256', tbs, o.issuer.key);
  const cert = derSequence(tbs, toDer(o.issuer.algorithm), toDer(bitString(signature)));
  return { certPem: toPem('CERTIFICATE', cert), serial };
}
