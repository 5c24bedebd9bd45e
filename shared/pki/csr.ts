/**
 * Reading a caller's PKCS#10 request: a DER reader slices it (`der.ts`), Node's native crypto reads its
 * key and checks its signature. Only the public key is ever used: the subject and any requested
 * extensions are ignored.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey, verify } from 'node:crypto';
import type { FieldProblem } from '../errors.js';
import { InputError } from '../errors.js';
import type { KeyType } from '../model/gateway.js';
import { fromPem } from './asn1.js';
import { TAG, childrenTlv, content, oidText, readTlv, whole } from './der.js';
import { RSA_BITS } from './keys.js';

/** The hash of each signature algorithm a CSR may use (its key type is checked by the verification). */
const CSR_SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.5': 'sha1', // sha1WithRSAEncryption: only proves possession of the key
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** Node's names of the curves OpenVPN 2.6 on OpenSSL 3 accepts in TLS 1.2 and 1.3 (P-256, P-384, P-521). */
const CSR_CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

const ACCEPTED_KEYS = `RSA (at least ${RSA_BITS} bits) or EC on P-256, P-384 or P-521`;

export interface CsrKey {
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo, exactly as the request carries it. */
  readonly spki: Buffer;
}

const problem = (message: string): FieldProblem[] => [{ path: '/csr', message }];

function malformed(cause: unknown): InputError {
  return new InputError(
    'the CSR is not a valid PEM PKCS#10 request',
    problem('not a valid PKCS#10 request'),
    { cause },
  );
}

function acceptedKeyType(key: KeyObject): KeyType {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_BITS)
      throw new InputError(
        `the CSR key has ${bits} bits: at least ${RSA_BITS} are required`,
        problem(`key must have at least ${RSA_BITS} bits`),
      );
    return 'rsa';
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'ec' && curve !== undefined && curve in CSR_CURVES) return 'ec';
  const what = type === 'ec' ? `EC on curve ${curve ?? 'unknown'}` : (type ?? 'unknown');
  throw new InputError(
    `the CSR key is ${what}: only ${ACCEPTED_KEYS} keys are accepted`,
    problem(`key must be ${ACCEPTED_KEYS}`),
  );
}

/** The public key of a PEM PKCS#10 request whose signature verifies. */
export function readCsrKey(csrPem: string): CsrKey {
  const der = fromPem('CERTIFICATE REQUEST', csrPem) ?? fromPem('NEW CERTIFICATE REQUEST', csrPem);
  if (!der) throw malformed(new Error('no CERTIFICATE REQUEST block'));
  let info: Buffer;
  let spki: Buffer;
  let algorithm: string;
  let signature: Buffer;
  try {
    // Sliced, never re-encoded: the signature covers the request info exactly as sent.
    const request = readTlv(der);
    if (request.end !== der.length) throw new Error('bytes after the CertificationRequest');
    const [requestInfo, signatureAlgorithm, signatureBits] = childrenTlv(der, request);
    if (!requestInfo || !signatureAlgorithm || signatureBits?.tag !== TAG.bitString)
      throw new Error('CertificationRequest is not { info, algorithm, signature }');
    const [, , publicKeyInfo] = childrenTlv(der, requestInfo);
    if (publicKeyInfo?.tag !== TAG.sequence) throw new Error('CertificationRequestInfo is too short');
    const [algorithmId] = childrenTlv(der, signatureAlgorithm);
    if (algorithmId?.tag !== TAG.oid) throw new Error('signatureAlgorithm has no OID');
    const bits = content(der, signatureBits);
    if (bits[0] !== 0) throw new Error('the signature is not a whole number of bytes');
    info = whole(der, requestInfo);
    spki = whole(der, publicKeyInfo);
    algorithm = oidText(content(der, algorithmId));
    signature = bits.subarray(1);
  } catch (e: unknown) {
    throw malformed(e);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e: unknown) {
    throw new InputError(
      `the CSR key is of a kind this service cannot read: only ${ACCEPTED_KEYS} keys are accepted`,
      problem(`key must be ${ACCEPTED_KEYS}`),
      { cause: e },
    );
  }
  const keyType = acceptedKeyType(key);
  const hash = CSR_SIGNATURE_HASHES[algorithm];
  if (hash === undefined)
    throw new InputError(
      `the CSR is signed with an algorithm this service does not check (${algorithm}): sign it with RSA PKCS#1 v1.5 or ECDSA`,
      problem('signature algorithm must be RSA PKCS#1 v1.5 or ECDSA'),
    );
  let verified = false;
  try {
    verified = verify(hash, info, key, signature);
  } catch {
    // A signature of another key type, or not a signature at all: it does not verify.
  }
  if (!verified)
    throw new InputError('the CSR signature does not verify', problem('signature does not verify'));
  return { keyType, spki };
}
