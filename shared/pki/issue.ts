/** Server and client certificates of a gateway, signed by its CA. */
import { InputError } from '../errors.js';
import type { KeyType } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';
import type { CaMaterial } from './ca.js';
import { loadCa } from './ca.js';
import { checkCommonName, signCertificate } from './certificate.js';
import { readCsrKey } from './csr.js';
import { generateKey } from './keys.js';
import { DEFAULT_CLIENT_VALIDITY_DAYS, DEFAULT_SERVER_VALIDITY_DAYS, validity } from './validity.js';

export interface IssuedCert {
  readonly certPem: string;
  /** Only when we generated the key pair (absent for CSR clients). */
  readonly keyPem?: string | undefined;
  /** The certified key's type (for a CSR, the request's). */
  readonly keyType: KeyType;
  /** Lower-case hex, no separators. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Issues the gateway's server certificate: a new RSA-2048 key, 5 years by default, bounded by the CA. */
export async function issueServerCert(
  ca: CaMaterial,
  o: { commonName: string; validityDays?: number; now?: Date },
): Promise<IssuedCert> {
  checkCommonName(o.commonName);
  const issuer = loadCa(ca);
  const period = validity(
    o.now ?? new Date(),
    o.validityDays ?? DEFAULT_SERVER_VALIDITY_DAYS,
    'server certificate',
    issuer.notAfter,
  );
  const key = await generateKey('rsa');
  const signed = signCertificate({
    issuer,
    commonName: o.commonName,
    spki: key.spki,
    period,
    profile: 'server',
  });
  return { ...signed, keyPem: key.privateKeyPem, keyType: key.keyType, ...period };
}

/**
 * Issues a client certificate (1 year by default, bounded by the CA): a new key pair of `keyType`
 * (RSA by default), or the public key of `csrPem` (its subject and requested extensions are ignored:
 * the CN is the client name and the extensions are ours). A `keyType` given with a CSR must be the
 * CSR's.
 */
export async function issueClientCert(
  ca: CaMaterial,
  o: {
    commonName: string;
    validityDays?: number;
    csrPem?: string;
    keyType?: KeyType;
    now?: Date;
    /**
     * The serial an interrupted issue reserved: completing it signs again under the same serial (the
     * first certificate never left the process that died, so no one holds it).
     */
    serial?: string;
  },
): Promise<IssuedCert> {
  checkCommonName(o.commonName);
  const issuer = loadCa(ca);
  const period = validity(
    o.now ?? new Date(),
    o.validityDays ?? DEFAULT_CLIENT_VALIDITY_DAYS,
    'client certificate',
    issuer.notAfter,
  );
  if (o.csrPem !== undefined) {
    const requested = readCsrKey(o.csrPem);
    if (o.keyType !== undefined && o.keyType !== requested.keyType)
      throw new InputError(
        `keyType is '${o.keyType}' but the CSR's key is '${requested.keyType}': leave keyType out with a CSR or make them match`,
        [{ path: '/keyType', message: `must be '${requested.keyType}' (the CSR's key) or left out` }],
      );
    const signed = signCertificate({
      issuer,
      commonName: o.commonName,
      spki: requested.spki,
      period,
      profile: 'client',
      serial: o.serial,
    });
    return { ...signed, keyType: requested.keyType, ...period };
  }
  const key = await generateKey(o.keyType ?? DEFAULT_KEY_TYPE);
  const signed = signCertificate({
    issuer,
    commonName: o.commonName,
    spki: key.spki,
    period,
    profile: 'client',
    serial: o.serial,
  });
  return { ...signed, keyPem: key.privateKeyPem, keyType: key.keyType, ...period };
}
