/**
 * Key pairs through Node's native crypto (OpenSSL): generation, the public key a certificate carries,
 * its key identifier, and the signature algorithm a signing key implies.
 */
import type { KeyObject } from 'node:crypto';
import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { KeyType } from '../model/gateway.js';
import type { Asn1 } from './asn1.js';
import { OID, nullValue, oid, sequence } from './asn1.js';
import { TAG, childrenTlv, content, readTlv } from './der.js';

/**
 * Client keys (`KeyType`): `rsa` is RSA-2048, `ec` is ECDSA on P-256 (generated in well under a
 * millisecond where RSA-2048 takes 100–300 ms, and accepted by OpenVPN 2.4+ on OpenSSL 1.0.2+).
 */
export const RSA_BITS = 2048;
/** Node's name of NIST P-256. */
const EC_CURVE = 'prime256v1';

/** A new key pair: the SubjectPublicKeyInfo a certificate embeds and the private key as PEM. */
export interface GeneratedKey {
  readonly keyType: KeyType;
  readonly spki: Buffer;
  readonly privateKeyPem: string;
}

const generate = promisify(generateKeyPair);

/**
 * RSA keys keep the PKCS#1 PEM ("RSA PRIVATE KEY") every existing gateway and profile carries; EC keys
 * use PKCS#8 ("PRIVATE KEY"). OpenVPN reads both.
 */
export async function generateKey(keyType: KeyType): Promise<GeneratedKey> {
  const spki = { type: 'spki', format: 'der' } as const;
  if (keyType === 'rsa') {
    const { publicKey, privateKey } = await generate('rsa', {
      modulusLength: RSA_BITS,
      publicKeyEncoding: spki,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    return { keyType, spki: publicKey, privateKeyPem: privateKey };
  }
  const { publicKey, privateKey } = await generate('ec', {
    namedCurve: EC_CURVE,
    publicKeyEncoding: spki,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { keyType, spki: publicKey, privateKeyPem: privateKey };
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (what OpenSSL and node-forge compute). */
export function subjectKeyIdentifier(spki: Buffer): Buffer {
  const [, subjectPublicKey] = childrenTlv(spki, readTlv(spki));
  if (subjectPublicKey?.tag !== TAG.bitString) throw new Error('SubjectPublicKeyInfo has no BIT STRING key');
  // The BIT STRING's content without its leading unused-bits count.
  return createHash('sha1').update(content(spki, subjectPublicKey).subarray(1)).digest();
}

/** The AlgorithmIdentifier of a SHA-256 signature by `key` (RSA PKCS#1 v1.5 or ECDSA). */
export function signatureAlgorithm(key: KeyObject): Asn1 {
  if (key.asymmetricKeyType === 'rsa') return sequence(oid(OID.sha256WithRSAEncryption), nullValue());
  if (key.asymmetricKeyType === 'ec') return sequence(oid(OID.ecdsaWithSha256));
  throw new Error(`a ${key.asymmetricKeyType ?? 'non-asymmetric'} key cannot sign certificates here`);
}
