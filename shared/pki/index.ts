/**
 * The gateway PKI with node-forge: CA, server and client certificates (generated key or a caller's CSR),
 * the v2 CRL (node-forge has no CRL builder: built with forge.asn1), and the tls-crypt static key.
 * Everything is RSA-2048 / SHA-256 (OpenVPN refuses SHA-1: "ca md too weak"), with the extensions
 * DESIGN.md lists, and passes `openssl verify` / `openssl crl -CAfile`.
 */
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';
import { InputError } from '../errors.js';

const { pki, asn1, md } = forge;

/** The CA: its private key lives only in the secret store. Same shape as the secret store's CaMaterial. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface IssuedCert {
  readonly certPem: string;
  /** Only when we generated the key pair (absent for CSR clients). */
  readonly keyPem?: string | undefined;
  /** Lower-case hex, no separators. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type CrlReason =
  'unspecified' | 'keyCompromise' | 'superseded' | 'cessationOfOperation' | 'affiliationChanged';

const CRL_REASON_CODES: Readonly<Record<CrlReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
};

const KEY_BITS = 2048;
const DAY_MS = 86_400_000;
/** Certificates start a little in the past so a peer whose clock lags slightly still accepts them. */
const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_SERVER_VALIDITY_DAYS = 1825;
/** One year; the gateway API's `clientCertValidityDays` default is the same. */
export const DEFAULT_CLIENT_VALIDITY_DAYS = 365;

/** node-forge writes PEM with CRLF; everything we emit (configs, Secrets, profiles) uses LF. */
function lf(pem: string): string {
  return pem.replace(/\r\n/g, '\n');
}

function generateKeyPair(): Promise<forge.pki.rsa.KeyPair> {
  // node-forge delegates to Node's native generateKeyPair when it is available (~0.15 s per key).
  return new Promise((resolve, reject) => {
    pki.rsa.generateKeyPair({ bits: KEY_BITS, workers: -1 }, (err, keys) =>
      err ? reject(err) : resolve(keys),
    );
  });
}

/** A random positive serial of 16 bytes (first byte 0x01–0x7f: positive and of fixed length). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) % 0x7f) + 1;
  return bytes.toString('hex');
}

function utf8Cn(commonName: string): forge.pki.CertificateField[] {
  return [
    { name: 'commonName', value: commonName, valueTagClass: asn1.Type.UTF8 as unknown as forge.asn1.Class },
  ];
}

function validity(
  now: Date,
  days: number,
  what: string,
  notAfterLimit?: Date,
): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days <= 0)
    throw new InputError(`${what} validity must be a whole number of days above 0 (got ${days})`, [
      { path: '/validityDays', message: 'must be a whole number above 0' },
    ]);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + days * DAY_MS);
  if (notAfterLimit && notAfter > notAfterLimit)
    throw new InputError(
      `${what} validity of ${days} days would end after the CA's own expiry (${notAfterLimit.toISOString()})`,
      [{ path: '/validityDays', message: `must end before the CA expires (${notAfterLimit.toISOString()})` }],
    );
  return { notBefore, notAfter };
}

function checkCommonName(commonName: string): void {
  if (
    commonName.length === 0 ||
    commonName.length > 64 ||
    [...commonName].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
  )
    throw new InputError(
      `certificate common name '${commonName}' is empty, too long or has control characters`,
    );
}

/** Creates a gateway CA (self-signed, 10 years by default). */
export async function createCa(o: {
  commonName: string;
  validityDays?: number;
  now?: Date;
}): Promise<CaMaterial> {
  checkCommonName(o.commonName);
  const now = o.now ?? new Date();
  const { notBefore, notAfter } = validity(now, o.validityDays ?? DEFAULT_CA_VALIDITY_DAYS, 'CA');
  const keys = await generateKeyPair();
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject(utf8Cn(o.commonName));
  cert.setIssuer(utf8Cn(o.commonName));
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, md.sha256.create());
  return { certPem: lf(pki.certificateToPem(cert)), keyPem: lf(pki.privateKeyToPem(keys.privateKey)) };
}

interface LoadedCa {
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
}

function loadCa(ca: CaMaterial): LoadedCa {
  return {
    cert: pki.certificateFromPem(ca.certPem),
    key: pki.privateKeyFromPem(ca.keyPem),
  };
}

function signLeaf(
  ca: LoadedCa,
  publicKey: forge.pki.PublicKey,
  commonName: string,
  period: { notBefore: Date; notAfter: Date },
  usage: 'server' | 'client',
): { certPem: string; serial: string } {
  const cert = pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = period.notBefore;
  cert.validity.notAfter = period.notAfter;
  cert.setSubject(utf8Cn(commonName));
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    usage === 'server'
      ? { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyAgreement: true, critical: true },
    usage === 'server'
      ? { name: 'extKeyUsage', serverAuth: true }
      : { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    // The CA's own SKI: `keyIdentifier: true` would hash the leaf's key and break chain building.
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(ca.key, md.sha256.create());
  return { certPem: lf(pki.certificateToPem(cert)), serial: cert.serialNumber.toLowerCase() };
}

/** Issues the gateway's server certificate (5 years by default, bounded by the CA). */
export async function issueServerCert(
  ca: CaMaterial,
  o: { commonName: string; validityDays?: number; now?: Date },
): Promise<IssuedCert> {
  checkCommonName(o.commonName);
  const loaded = loadCa(ca);
  const period = validity(
    o.now ?? new Date(),
    o.validityDays ?? DEFAULT_SERVER_VALIDITY_DAYS,
    'server certificate',
    loaded.cert.validity.notAfter,
  );
  const keys = await generateKeyPair();
  const signed = signLeaf(loaded, keys.publicKey, o.commonName, period, 'server');
  return { ...signed, keyPem: lf(pki.privateKeyToPem(keys.privateKey)), ...period };
}

/** Reads and checks a caller's PKCS#10 request; only its public key is ever used. */
function publicKeyFromCsr(csrPem: string): forge.pki.PublicKey {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch (e: unknown) {
    const reason = e instanceof Error ? e.message : String(e);
    const nonRsa = /OID is not RSA/i.test(reason);
    throw new InputError(
      nonRsa
        ? 'the CSR key is not RSA: only RSA keys of at least 2048 bits are accepted'
        : 'the CSR is not a valid PEM PKCS#10 request',
      [{ path: '/csr', message: nonRsa ? 'key must be RSA (≥ 2048 bits)' : 'not a valid PKCS#10 request' }],
      { cause: e },
    );
  }
  let signatureOk = false;
  try {
    signatureOk = csr.verify();
  } catch {
    signatureOk = false;
  }
  if (!signatureOk)
    throw new InputError('the CSR signature does not verify', [
      { path: '/csr', message: 'signature does not verify' },
    ]);
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!key?.n)
    throw new InputError('the CSR has no RSA public key', [{ path: '/csr', message: 'no RSA public key' }]);
  const bits = key.n.bitLength();
  if (bits < KEY_BITS)
    throw new InputError(`the CSR key has ${bits} bits: at least ${KEY_BITS} are required`, [
      { path: '/csr', message: `key must have at least ${KEY_BITS} bits` },
    ]);
  return key;
}

/**
 * Issues a client certificate (1 year by default, bounded by the CA): a new key pair, or the public key
 * of `csrPem` (its subject and requested extensions are ignored: the CN is the client name and the
 * extensions are ours).
 */
export async function issueClientCert(
  ca: CaMaterial,
  o: { commonName: string; validityDays?: number; csrPem?: string; now?: Date },
): Promise<IssuedCert> {
  checkCommonName(o.commonName);
  const loaded = loadCa(ca);
  const period = validity(
    o.now ?? new Date(),
    o.validityDays ?? DEFAULT_CLIENT_VALIDITY_DAYS,
    'client certificate',
    loaded.cert.validity.notAfter,
  );
  if (o.csrPem !== undefined) {
    const publicKey = publicKeyFromCsr(o.csrPem);
    return { ...signLeaf(loaded, publicKey, o.commonName, period, 'client'), ...period };
  }
  const keys = await generateKeyPair();
  const signed = signLeaf(loaded, keys.publicKey, o.commonName, period, 'client');
  return { ...signed, keyPem: lf(pki.privateKeyToPem(keys.privateKey)), ...period };
}

// --- CRL --------------------------------------------------------------------------------------------

const OID = {
  sha256WithRSAEncryption: pki.oids['sha256WithRSAEncryption'] as string,
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
  reasonCode: '2.5.29.21',
};

const { Class, Type } = asn1;

function time(date: Date): forge.asn1.Asn1 {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  return date.getUTCFullYear() < 2050
    ? asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function integerFromHex(hex: string): forge.asn1.Asn1 {
  const clean = hex.replace(/^0+(?=.)/, '');
  const even = clean.length % 2 === 1 ? `0${clean}` : clean;
  const bytes = forge.util.hexToBytes(even);
  // DER INTEGER is signed: a leading byte ≥ 0x80 needs a 0x00 prefix to stay positive.
  const positive = bytes.charCodeAt(0) >= 0x80 ? `\x00${bytes}` : bytes;
  return asn1.create(Class.UNIVERSAL, Type.INTEGER, false, positive);
}

function extension(oid: string, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(oid).getBytes()),
    asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, asn1.toDer(value).getBytes()),
  ]);
}

function sha256WithRsa(): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(OID.sha256WithRSAEncryption).getBytes()),
    asn1.create(Class.UNIVERSAL, Type.NULL, false, ''),
  ]);
}

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
  const loaded = loadCa(ca);
  const entries = o.revoked.map((r) =>
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
      integerFromHex(r.serial),
      time(r.revokedAt),
      asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
        extension(
          OID.reasonCode,
          asn1.create(
            Class.UNIVERSAL,
            Type.ENUMERATED,
            false,
            String.fromCharCode(CRL_REASON_CODES[r.reason ?? 'unspecified']),
          ),
        ),
      ]),
    ]),
  );
  const crlExtensions = asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [
    asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
      extension(
        OID.authorityKeyIdentifier,
        asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
          asn1.create(
            Class.CONTEXT_SPECIFIC,
            0,
            false,
            loaded.cert.generateSubjectKeyIdentifier().getBytes(),
          ),
        ]),
      ),
      extension(
        OID.crlNumber,
        asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(o.crlNumber).getBytes()),
      ),
    ]),
  ]);
  const tbs = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(1).getBytes()), // v2
    sha256WithRsa(),
    pki.distinguishedNameToAsn1(loaded.cert.subject),
    time(thisUpdate),
    time(o.nextUpdate),
    ...(entries.length > 0 ? [asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, entries)] : []),
    crlExtensions,
  ]);
  const digest = md.sha256.create();
  digest.update(asn1.toDer(tbs).getBytes());
  const signature = loaded.key.sign(digest);
  const crl = asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, [
    tbs,
    sha256WithRsa(),
    asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, `\x00${signature}`),
  ]);
  return lf(forge.pem.encode({ type: 'X509 CRL', body: asn1.toDer(crl).getBytes() }, { maxline: 64 }));
}

/** Whether a CRL whose nextUpdate is `nextUpdate` must be re-signed now (within `renewBeforeDays`). */
export function crlNeedsRenewal(nextUpdate: Date, now: Date, renewBeforeDays: number): boolean {
  return nextUpdate.getTime() - now.getTime() <= renewBeforeDays * DAY_MS;
}

/** A tls-crypt key in OpenVPN's static key format: 256 random bytes, 16 lines of 32 hex characters. */
export function generateTlsCryptKey(): string {
  const hex = randomBytes(256).toString('hex');
  const lines = hex.match(/.{32}/g) ?? [];
  return [
    '#',
    '# 2048 bit OpenVPN static key',
    '#',
    '-----BEGIN OpenVPN Static key V1-----',
    ...lines,
    '-----END OpenVPN Static key V1-----',
    '',
  ].join('\n');
}

/** Serial, validity and CN of a PEM certificate. */
export function readCertificateInfo(certPem: string): {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  commonName: string;
} {
  let cert: forge.pki.Certificate;
  try {
    cert = pki.certificateFromPem(certPem);
  } catch (e: unknown) {
    throw new InputError('not a PEM certificate', [], { cause: e });
  }
  const cn = cert.subject.getField('CN') as { value?: string } | null;
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    commonName: forge.util.decodeUtf8(cn?.value ?? ''),
  };
}
