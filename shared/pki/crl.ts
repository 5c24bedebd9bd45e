/**
 * The gateway's v2 CRL: forge's ASN.1 module builds the TBSCertList (node-forge has no CRL builder),
 * Node's native `crypto.sign` signs it with the cached CA key.
 */
import { sign } from 'node:crypto';
import { InputError } from '../errors.js';
import type { Asn1 } from './asn1.js';
import {
  OID,
  bitString,
  derSequence,
  enumerated,
  explicit,
  extension,
  implicitBytes,
  integerFromHex,
  sequence,
  smallInteger,
  time,
  toDer,
  toPem,
} from './asn1.js';
import type { CaMaterial } from './ca.js';
import { loadCa } from './ca.js';
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

/** Each entry's `crlEntryExtensions`: one per reason, built once (a CRL may list thousands). */
const REASON_EXTENSIONS = Object.fromEntries(
  Object.entries(CRL_REASON_CODES).map(([reason, code]) => [
    reason,
    sequence(extension(OID.reasonCode, enumerated(code))),
  ]),
) as Readonly<Record<CrlReason, Asn1>>;

const SERIAL_HEX = /^[0-9a-fA-F]{1,40}$/;

/** Builds and signs a v2 CRL (PEM "X509 CRL") listing `revoked`. */
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
    sequence(integerFromHex(r.serial), time(r.revokedAt), REASON_EXTENSIONS[r.reason ?? 'unspecified']),
  );
  const tbs = toDer(
    sequence(
      smallInteger(1), // v2
      issuer.algorithm,
      issuer.name,
      time(thisUpdate),
      time(o.nextUpdate),
      ...(entries.length > 0 ? [sequence(...entries)] : []),
      explicit(
        0,
        sequence(
          extension(OID.authorityKeyIdentifier, sequence(implicitBytes(0, issuer.keyId))),
          extension(OID.crlNumber, smallInteger(o.crlNumber)),
        ),
      ),
    ),
  );
  const signature = sign('sha256', tbs, issuer.key);
  return toPem('X509 CRL', derSequence(tbs, toDer(issuer.algorithm), toDer(bitString(signature))));
}

/** Whether a CRL whose nextUpdate is `nextUpdate` must be re-signed now (within `renewBeforeDays`). */
export function crlNeedsRenewal(nextUpdate: Date, now: Date, renewBeforeDays: number): boolean {
  return nextUpdate.getTime() - now.getTime() <= renewBeforeDays * DAY_MS;
}
