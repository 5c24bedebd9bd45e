/**
 * Enrollment tokens: `<gateway>.<id>.<secret>`. The gateway and the id let `POST /enroll` find the one
 * enrollment to check without listing anything; the secret is 32 random bytes (256 bits) in base64url, of
 * which only the SHA-256 is recorded. A gateway name is a DNS label and the id is hex, so neither holds a
 * dot and the format splits unambiguously.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { MAX_GATEWAY_NAME, NAME_PATTERN } from '../model/gateway.js';

/** Bytes of randomness in a token's secret part. */
export const TOKEN_SECRET_BYTES = 32;

const ID_PATTERN = /^[0-9a-f]{16}$/;
/** base64url of 32 bytes, unpadded: 43 characters, the last one holding 2 bits (so one of AEIMQUYcgkosw048). */
const SECRET_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
/** A token longer than any well-formed one is refused before it is split. */
const MAX_TOKEN_LENGTH = MAX_GATEWAY_NAME + 1 + 16 + 1 + 43;

export interface NewToken {
  readonly id: string;
  readonly token: string;
  readonly tokenHash: string;
}

export interface ParsedToken {
  readonly gateway: string;
  readonly id: string;
  readonly secret: string;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** A new token for an enrollment on `gateway`: its id, the token (shown once) and the hash to record. */
export function newEnrollmentToken(gateway: string): NewToken {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(TOKEN_SECRET_BYTES).toString('base64url');
  return { id, token: `${gateway}.${id}.${secret}`, tokenHash: sha256(secret).toString('hex') };
}

/** The parts of a well-formed token, or undefined (a malformed token is refused like any other bad one). */
export function parseEnrollmentToken(token: string): ParsedToken | undefined {
  if (token.length > MAX_TOKEN_LENGTH) return undefined;
  const [gateway = '', id = '', secret = '', ...rest] = token.split('.');
  // A name no gateway can have is refused here, before it reaches the cluster as a namespace name.
  if (
    rest.length > 0 ||
    gateway.length > MAX_GATEWAY_NAME ||
    !NAME_PATTERN.test(gateway) ||
    !ID_PATTERN.test(id) ||
    !SECRET_PATTERN.test(secret)
  )
    return undefined;
  return { gateway, id, secret };
}

/** Stands in for the recorded hash when no enrollment has the token's id, so both paths compare once. */
const NO_HASH = Buffer.alloc(32);

/**
 * Whether `secret` is the one whose hash is `recordedHash`, compared in constant time (hashes of equal
 * length, `timingSafeEqual`). An absent record compares against a hash no secret has.
 */
export function secretMatches(secret: string, recordedHash: string | undefined): boolean {
  const recorded = recordedHash !== undefined ? Buffer.from(recordedHash, 'hex') : NO_HASH;
  const presented = sha256(secret);
  return (
    recorded.length === presented.length && timingSafeEqual(recorded, presented) && recordedHash !== undefined
  );
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined. */
export function bearerToken(header: string | null): string | undefined {
  const m = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i.exec(header ?? '');
  return m?.[1];
}
