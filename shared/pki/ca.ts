/**
 * The gateway CA: creation, and its signing material parsed once per process into a native KeyObject.
 *
 * New gateways keep an RSA-2048 CA whatever key type their clients use: an RSA CA signs RSA and EC
 * leaves alike, every existing gateway's CA is RSA (changing it would re-issue every client), and
 * every OpenVPN build — 2.6 on OpenSSL 3 as well as older or mbedTLS ones at branch sites — verifies
 * an RSA chain. The CA signs only at issue and revocation time, about 1 ms natively, so an EC CA
 * would save no time that matters.
 */
import type { KeyObject } from 'node:crypto';
import { createPrivateKey } from 'node:crypto';
import { InternalError } from '../errors.js';
import { toDer } from './asn1.js';
import type { Signer } from './certificate.js';
import { checkCommonName, commonNameDer, signCertificate } from './certificate.js';
import type { ParsedCertificate } from './certificate-info.js';
import { parseCertificate } from './certificate-info.js';
import { generateKey, signatureAlgorithm, subjectKeyIdentifier } from './keys.js';
import { DEFAULT_CA_VALIDITY_DAYS, validity } from './validity.js';

/** The CA: its private key lives only in the secret store. Same shape as the secret store's CaMaterial. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA ready to sign: its Name, key identifier, key and expiry. */
export interface LoadedCa extends Signer {
  readonly notAfter: Date;
}

/**
 * Parsed CAs by their PEM: parsing a CA and its key costs about a millisecond, more than the signature
 * itself. A process serves few gateways; the bound only keeps a long-lived one from growing without end.
 */
const loaded = new Map<string, LoadedCa>();
const MAX_LOADED_CAS = 64;

/** A stored CA that does not parse is the secret store's damage, never the caller's input. */
function parseCa(ca: CaMaterial): LoadedCa {
  let cert: ParsedCertificate;
  let key: KeyObject;
  try {
    cert = parseCertificate(ca.certPem);
    key = createPrivateKey(ca.keyPem);
  } catch (e: unknown) {
    throw new InternalError('the stored CA certificate or key does not parse', { cause: e });
  }
  return {
    name: toDer(cert.subject),
    keyId: cert.subjectKeyId ?? subjectKeyIdentifier(cert.spki),
    key,
    algorithm: toDer(signatureAlgorithm(key)),
    notAfter: cert.notAfter,
  };
}

/** The CA's signing material, parsed on first use and cached. */
export function loadCa(ca: CaMaterial): LoadedCa {
  const id = `${ca.certPem}\n${ca.keyPem}`;
  const cached = loaded.get(id);
  if (cached) return cached;
  const parsed = parseCa(ca);
  if (loaded.size >= MAX_LOADED_CAS) loaded.delete(loaded.keys().next().value ?? '');
  loaded.set(id, parsed);
  return parsed;
}

/** Creates a gateway CA: RSA-2048, self-signed, 10 years by default. */
export async function createCa(o: {
  commonName: string;
  validityDays?: number;
  now?: Date;
}): Promise<CaMaterial> {
  checkCommonName(o.commonName);
  const period = validity(o.now ?? new Date(), o.validityDays ?? DEFAULT_CA_VALIDITY_DAYS, 'CA');
  const generated = await generateKey('rsa');
  const key = createPrivateKey(generated.privateKeyPem);
  const { certPem } = signCertificate({
    issuer: {
      name: commonNameDer(o.commonName),
      keyId: subjectKeyIdentifier(generated.spki),
      key,
      algorithm: toDer(signatureAlgorithm(key)),
    },
    commonName: o.commonName,
    spki: generated.spki,
    period,
    profile: 'ca',
    selfSigned: true,
  });
  return { certPem, keyPem: generated.privateKeyPem };
}
