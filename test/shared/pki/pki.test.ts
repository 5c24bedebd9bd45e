import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { InputError, InternalError } from '../../../shared/errors.js';
import { generatePki } from '../../../shared/gateways/gateway-pki.js';
import { GATEWAY_BODY_DEFAULTS } from '../../../shared/api/schemas.js';
import type { CaMaterial, IssuedCert } from '../../../shared/pki/index.js';
import {
  buildCrl,
  createCa,
  DEFAULT_CLIENT_VALIDITY_DAYS,
  crlNeedsRenewal,
  crlNumberOf,
  generateTlsCryptKey,
  issueClientCert,
  issueServerCert,
  readCertificateInfo,
} from '../../../shared/pki/index.js';

let dir: string;
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const text = (pem: string) => openssl('x509', '-in', file('x.pem', pem), '-noout', '-text');
/** Exit status and stdout+stderr together: OpenSSL 3 prints `verify OK` and verify errors on stderr. */
const opensslStatus = (...args: string[]) => {
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
};
/** A certificate's X.509v3 extensions as `openssl x509 -text` prints them: name (+ " critical") → value. */
const extensions = (pem: string): Record<string, string> => {
  const section = /X509v3 extensions:\n([\s\S]*?)\n {4}Signature Algorithm/.exec(text(pem))?.[1] ?? '';
  return Object.fromEntries(
    [...section.matchAll(/^ {12}(\S[^\n]*?):( critical)? *\n((?: {16}[^\n]*\n?)+)/gm)].map((m) => [
      `${m[1] ?? ''}${m[2] ?? ''}`,
      (m[3] ?? '').trim().replace(/^keyid:/, ''),
    ]),
  );
};
/** The revoked entries `openssl crl -text` lists. */
const revokedEntries = (crlText: string) =>
  [
    ...crlText.matchAll(
      /Serial Number: ([0-9A-F]+)\n\s+Revocation Date: ([^\n]+)\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: *\n\s+([^\n]+)/g,
    ),
  ].map((m) => ({ serial: m[1], revocationDate: m[2], reason: m[3] }));
const DAY_MS = 86_400_000;

const now = new Date();
let ca: CaMaterial;
let server: IssuedCert;
let client: IssuedCert;
let shortCa: Promise<CaMaterial> | undefined;
/** A CA that expires in 30 days, made on first use. */
const shortLivedCa = () => (shortCa ??= createCa({ commonName: 'short-lived CA', validityDays: 30, now }));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pki-test-'));
  ca = await createCa({ commonName: 'branch-1 VPN CA', now });
  server = await issueServerCert(ca, { commonName: 'branch-1-server', now });
  client = await issueClientCert(ca, { commonName: 'client-ä', validityDays: 30, now });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('certificates', () => {
  it('chain to the CA under openssl verify', () => {
    const out = openssl(
      'verify',
      '-CAfile',
      file('ca.crt', ca.certPem),
      file('s.crt', server.certPem),
      file('c.crt', client.certPem),
    );
    expect(out).toBe(`${join(dir, 's.crt')}: OK\n${join(dir, 'c.crt')}: OK\n`);
    expect(
      openssl('verify', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.crt'), join(dir, 's.crt')),
    ).toContain('OK');
    expect(
      openssl('verify', '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.crt'), join(dir, 'c.crt')),
    ).toContain('OK');
  });

  it('give the CA critical CA basic constraints, keyCertSign+cRLSign and a SHA-256 signature', () => {
    const t = text(ca.certPem);
    expect(t).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(t).toMatch(/Public-Key: \(2048 bit\)/);
    expect(t).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(t).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(t).toMatch(/X509v3 Subject Key Identifier/);
  });

  it.each([
    ['server', () => server, 'Digital Signature, Key Encipherment', 'TLS Web Server Authentication'],
    ['client', () => client, 'Digital Signature, Key Agreement', 'TLS Web Client Authentication'],
  ])('give the %s certificate its usages and the CA SKI as AKI', (_kind, cert, keyUsage, extKeyUsage) => {
    const t = text(cert().certPem);
    expect(t).toContain(keyUsage);
    expect(t).toContain(extKeyUsage);
    const caSki = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(text(ca.certPem))?.[1];
    expect(caSki).toBeDefined();
    expect(t).toMatch(new RegExp(`Authority Key Identifier:\\s+(keyid:)?${caSki}`));
  });

  it('use a UTF8String CN, a positive random serial and the requested validity', () => {
    const subject = openssl(
      'x509',
      '-in',
      file('c.pem', client.certPem),
      '-noout',
      '-subject',
      '-nameopt',
      'RFC2253,show_type',
    );
    expect(subject).toContain('CN=UTF8STRING:client-');
    const info = readCertificateInfo(client.certPem);
    expect(info.commonName).toBe('client-ä');
    expect(info.serial).toBe(client.serial);
    expect(client.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(client.serial).not.toBe(server.serial);
    expect(Math.round((client.notAfter.getTime() - now.getTime()) / 86_400_000)).toBe(30);
  });
});

describe('CSR signing', () => {
  const ACCEPTED = 'RSA (at least 2048 bits) or EC on P-256, P-384 or P-521';
  const csr = (keySpec: string[], subject = '/CN=evil/O=ignored', extra: string[] = []) => {
    const key = join(dir, 'csr.key');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        ...keySpec,
        '-nodes',
        '-keyout',
        key,
        '-out',
        join(dir, 'r.csr'),
        '-subj',
        subject,
        ...extra,
      ],
      { stdio: 'ignore' },
    );
    return readFileSync(join(dir, 'r.csr'), 'utf8');
  };

  it("takes only the public key: openssl verifies it, with our CN and extensions, not the CSR's", async () => {
    // GIVEN a CSR whose subject and requested extensions ask for more than a client may have
    const request = csr(['-newkey', 'rsa:2048'], '/CN=evil/O=ignored', [
      '-addext',
      'subjectAltName=DNS:evil.example',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'extendedKeyUsage=serverAuth',
    ]);
    // WHEN it is signed for client branch-x
    const issued = await issueClientCert(ca, {
      commonName: 'branch-x',
      validityDays: 10,
      csrPem: request,
      now,
    });
    // THEN the certificate chains to the CA as a TLS client, carries our subject and extensions only,
    // and the CSR's public key; no private key exists on our side
    expect(issued.keyPem).toBeUndefined();
    const cert = file('i.pem', issued.certPem);
    expect(
      opensslStatus('verify', '-purpose', 'sslclient', '-CAfile', file('ca.crt', ca.certPem), cert),
    ).toStrictEqual({
      status: 0,
      output: `${cert}: OK\n`,
    });
    expect(openssl('x509', '-in', cert, '-noout', '-subject', '-nameopt', 'RFC2253')).toBe(
      'subject=CN=branch-x\n',
    );
    expect(extensions(issued.certPem)).toStrictEqual({
      'X509v3 Basic Constraints': 'CA:FALSE',
      'X509v3 Key Usage critical': 'Digital Signature, Key Agreement',
      'X509v3 Extended Key Usage': 'TLS Web Client Authentication',
      'X509v3 Subject Key Identifier': expect.stringMatching(/^[0-9A-F]{2}(:[0-9A-F]{2}){19}$/) as unknown,
      'X509v3 Authority Key Identifier': extensions(ca.certPem)['X509v3 Subject Key Identifier'],
    });
    expect(openssl('x509', '-in', cert, '-noout', '-pubkey')).toBe(
      openssl('req', '-in', join(dir, 'r.csr'), '-noout', '-pubkey'),
    );
  });

  it.each([
    ['an EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'ec'],
    ['an EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], 'ec'],
    ['an RSA-3072', ['-newkey', 'rsa:3072'], 'rsa'],
  ] as const)(
    'signs %s request that openssl verifies as a TLS client, with its key',
    async (_k, spec, keyType) => {
      const request = csr([...spec]);
      const issued = await issueClientCert(ca, {
        commonName: 'branch-k',
        validityDays: 10,
        csrPem: request,
        now,
      });
      expect({ keyType: issued.keyType, keyPem: issued.keyPem }).toStrictEqual({
        keyType,
        keyPem: undefined,
      });
      const cert = file('k.pem', issued.certPem);
      expect(
        opensslStatus('verify', '-purpose', 'sslclient', '-CAfile', file('ca.crt', ca.certPem), cert),
      ).toStrictEqual({ status: 0, output: `${cert}: OK\n` });
      expect(openssl('x509', '-in', cert, '-noout', '-pubkey')).toBe(
        openssl('req', '-in', join(dir, 'r.csr'), '-noout', '-pubkey'),
      );
    },
  );

  it("rejects a keyType that is not the CSR key's type", async () => {
    const error = await issueClientCert(ca, {
      commonName: 'branch-m',
      csrPem: csr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
      keyType: 'rsa',
      now,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(
      "keyType is 'rsa' but the CSR's key is 'ec': leave keyType out with a CSR or make them match",
    );
    expect((error as InputError).problems).toStrictEqual([
      { path: '/keyType', message: "must be 'ec' (the CSR's key) or left out" },
    ]);
  });

  it.each([
    ['spaces and shell characters', '/CN=Evil Name; rm -rf *!'],
    ['upper case, dots, underscores and an e-mail', '/CN=Branch_X.example.COM/emailAddress=a@b.example'],
  ])('uses the client name as CN when the CSR subject has %s', async (_case, subject) => {
    const issued = await issueClientCert(ca, {
      commonName: 'branch-y',
      validityDays: 10,
      csrPem: csr(['-newkey', 'rsa:2048'], subject),
      now,
    });
    expect(
      openssl('x509', '-in', file('y.pem', issued.certPem), '-noout', '-subject', '-nameopt', 'RFC2253'),
    ).toBe('subject=CN=branch-y\n');
    expect(readCertificateInfo(issued.certPem).commonName).toBe('branch-y');
  });

  it.each([
    [
      'malformed PEM',
      () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      'the CSR is not a valid PEM PKCS#10 request',
      'not a valid PKCS#10 request',
    ],
    [
      'a 1024-bit RSA key',
      () => csr(['-newkey', 'rsa:1024']),
      'the CSR key has 1024 bits: at least 2048 are required',
      'key must have at least 2048 bits',
    ],
    [
      'an EC key on secp256k1',
      () => csr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']),
      `the CSR key is EC on curve secp256k1: only ${ACCEPTED} keys are accepted`,
      `key must be ${ACCEPTED}`,
    ],
    [
      'an Ed25519 key',
      () => csr(['-newkey', 'ed25519']),
      `the CSR key is ed25519: only ${ACCEPTED} keys are accepted`,
      `key must be ${ACCEPTED}`,
    ],
    [
      'an RSA-PSS signature',
      () => csr(['-newkey', 'rsa:2048', '-sigopt', 'rsa_padding_mode:pss']),
      'the CSR is signed with an algorithm this service does not check (1.2.840.113549.1.1.10): sign it with RSA PKCS#1 v1.5 or ECDSA',
      'signature algorithm must be RSA PKCS#1 v1.5 or ECDSA',
    ],
    [
      'a tampered signature',
      () => {
        const request = csr(['-newkey', 'rsa:2048']);
        const der = Buffer.from(request.replace(/-----[^-]+-----|\s/g, ''), 'base64');
        der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
      },
      'the CSR signature does not verify',
      'signature does not verify',
    ],
  ])('rejects %s with a clear InputError', async (_case, make, message, problem) => {
    const error = await issueClientCert(ca, { commonName: 'x', validityDays: 10, csrPem: make(), now }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(message);
    expect((error as InputError).problems).toStrictEqual([{ path: '/csr', message: problem }]);
  });
});

describe.each([
  ['rsa', 'RSA PRIVATE KEY', /Public Key Algorithm: rsaEncryption\n\s+Public-Key: \(2048 bit\)/],
  [
    'ec',
    'PRIVATE KEY',
    /Public Key Algorithm: id-ecPublicKey\n\s+Public-Key: \(256 bit\)[\s\S]*NIST CURVE: P-256/,
  ],
] as const)('a generated %s client key', (keyType, pemLabel, publicKeyText) => {
  it('is the key its certificate certifies, which openssl verifies as a TLS client', async () => {
    // WHEN a client is issued with a key of this type
    const issued = await issueClientCert(ca, { commonName: `gen-${keyType}`, keyType, now });
    // THEN the certificate carries that key type and chains to the CA as a TLS client
    expect(issued.keyType).toBe(keyType);
    const cert = file(`gen-${keyType}.crt`, issued.certPem);
    expect(
      opensslStatus('verify', '-purpose', 'sslclient', '-CAfile', file('ca.crt', ca.certPem), cert),
    ).toStrictEqual({ status: 0, output: `${cert}: OK\n` });
    expect(text(issued.certPem)).toMatch(publicKeyText);
    // and the private key (PEM with LF line ends) is the certified key's
    expect(issued.keyPem).toMatch(
      new RegExp(`^-----BEGIN ${pemLabel}-----\n[^\r]+\n-----END ${pemLabel}-----\n$`),
    );
    const key = file(`gen-${keyType}.key`, issued.keyPem ?? '');
    expect(openssl('pkey', '-in', key, '-pubout')).toBe(openssl('x509', '-in', cert, '-noout', '-pubkey'));
  });
});

describe('CAs this code did not create', () => {
  /** A CA as the previous node-forge implementation made it (every gateway created before native signing). */
  const forgeCa = async (): Promise<CaMaterial> => {
    const keys = await new Promise<forge.pki.rsa.KeyPair>((resolve, reject) =>
      forge.pki.rsa.generateKeyPair({ bits: 2048, workers: -1 }, (err, k) =>
        err ? reject(err) : resolve(k),
      ),
    );
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = '0123456789abcdef';
    cert.validity.notBefore = new Date(now.getTime() - DAY_MS);
    cert.validity.notAfter = new Date(now.getTime() + 3650 * DAY_MS);
    const cn = [
      {
        name: 'commonName',
        value: 'old VPN CA',
        valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class,
      },
    ];
    cert.setSubject(cn);
    cert.setIssuer(cn);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(keys.privateKey, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
  };
  /** An EC P-256 CA made by the openssl binary. */
  const opensslEcCa = (): CaMaterial => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=EC VPN CA',
      '-keyout',
      join(dir, 'ec-ca.key'),
      '-out',
      join(dir, 'ec-ca.crt'),
    );
    return {
      certPem: readFileSync(join(dir, 'ec-ca.crt'), 'utf8'),
      keyPem: readFileSync(join(dir, 'ec-ca.key'), 'utf8'),
    };
  };

  it.each([
    ['the earlier node-forge implementation', forgeCa, 'sha256WithRSAEncryption'],
    ['openssl with an EC P-256 key', () => Promise.resolve(opensslEcCa()), 'ecdsa-with-SHA256'],
  ])(
    'signs clients and CRLs that openssl verifies under a CA made by %s',
    async (_maker, make, algorithm) => {
      // GIVEN a CA made elsewhere
      const issuer = await make();
      const caFile = file('other-ca.crt', issuer.certPem);
      // WHEN it issues an RSA and an EC client and revokes the first
      const rsa = await issueClientCert(issuer, {
        commonName: 'old-rsa',
        validityDays: 10,
        keyType: 'rsa',
        now,
      });
      const ec = await issueClientCert(issuer, {
        commonName: 'old-ec',
        validityDays: 10,
        keyType: 'ec',
        now,
      });
      const crl = file(
        'other.crl',
        buildCrl(issuer, {
          revoked: [{ serial: rsa.serial, revokedAt: now }],
          crlNumber: 7,
          nextUpdate: new Date(now.getTime() + DAY_MS),
        }),
      );
      // THEN openssl verifies the signatures, made with the CA's algorithm, with the CA's SKI as AKI
      expect(text(ec.certPem)).toContain(`Signature Algorithm: ${algorithm}`);
      expect(extensions(ec.certPem)['X509v3 Authority Key Identifier']).toBe(
        extensions(issuer.certPem)['X509v3 Subject Key Identifier'],
      );
      expect(opensslStatus('crl', '-in', crl, '-CAfile', caFile, '-noout')).toStrictEqual({
        status: 0,
        output: 'verify OK\n',
      });
      const ecFile = file('other-ec.crt', ec.certPem);
      expect(opensslStatus('verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crl, ecFile)).toStrictEqual(
        {
          status: 0,
          output: `${ecFile}: OK\n`,
        },
      );
      const revoked = opensslStatus(
        'verify',
        '-crl_check',
        '-CAfile',
        caFile,
        '-CRLfile',
        crl,
        file('other-rsa.crt', rsa.certPem),
      );
      expect(revoked.output).toContain('certificate revoked');
    },
  );
});

describe('a damaged stored CA', () => {
  it.each([
    [
      'certificate (cut short)',
      () => ({
        certPem: ca.certPem.replace(/\n[\s\S]*\n-----END/, '\nMIIBCgKCAQEA\n-----END'),
        keyPem: ca.keyPem,
      }),
    ],
    [
      'key',
      () => ({
        certPem: ca.certPem,
        keyPem: '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n',
      }),
    ],
  ])(
    "is refused as an internal error, never as the caller's input, when its %s does not parse",
    async (_part, damaged) => {
      const error = await issueClientCert(damaged(), { commonName: 'x', keyType: 'ec', now }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InternalError);
      expect((error as InternalError).message).toBe('the stored CA certificate or key does not parse');
    },
  );
});

describe('validity', () => {
  /** Certificates carry whole seconds. */
  const seconds = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

  it.each([
    ['CA', '10 years', 3650, () => Promise.resolve(ca.certPem)],
    ['server', '5 years', 1825, () => Promise.resolve(server.certPem)],
    [
      'client',
      '1 year',
      365,
      async () => (await issueClientCert(ca, { commonName: 'default-validity', now })).certPem,
    ],
  ])(
    'gives the %s certificate %s (%s days) by default, backdated 5 minutes',
    async (_kind, _years, days, pem) => {
      const info = readCertificateInfo(await pem());
      expect({ notBefore: info.notBefore, notAfter: info.notAfter }).toStrictEqual({
        notBefore: seconds(now.getTime() - 5 * 60_000),
        notAfter: seconds(now.getTime() + days * DAY_MS),
      });
    },
  );

  it("defaults clients to the gateway API's clientCertValidityDays default", () => {
    expect(GATEWAY_BODY_DEFAULTS.clientCertValidityDays).toBe(DEFAULT_CLIENT_VALIDITY_DAYS);
  });

  const issue = {
    CA: (validityDays: number, _ca: CaMaterial) => createCa({ commonName: 'x', validityDays, now }),
    'server certificate': (validityDays: number | undefined, issuer: CaMaterial) =>
      issueServerCert(issuer, {
        commonName: 'x',
        ...(validityDays === undefined ? {} : { validityDays }),
        now,
      }),
    'client certificate': (validityDays: number | undefined, issuer: CaMaterial) =>
      issueClientCert(issuer, {
        commonName: 'x',
        ...(validityDays === undefined ? {} : { validityDays }),
        now,
      }),
  } as const;

  it.each(
    (['CA', 'server certificate', 'client certificate'] as const).flatMap((kind) =>
      [0, -1, 1.5, Number.NaN].map((days) => [kind, days] as const),
    ),
  )('rejects a %s validity of %s days', async (kind, days) => {
    const error = await issue[kind](days, ca).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toBe(
      `${kind} validity must be a whole number of days above 0 (got ${days})`,
    );
    expect((error as InputError).problems).toStrictEqual([
      { path: '/validityDays', message: 'must be a whole number above 0' },
    ]);
  });

  it.each(['server certificate', 'client certificate'] as const)(
    "rejects a %s validity beyond the CA's notAfter",
    async (kind) => {
      const error = await issue[kind](3651, ca).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as InputError).message).toMatch(
        new RegExp(`^${kind} validity of 3651 days would end after the CA's own expiry \\(\\d{4}-`),
      );
      expect((error as InputError).problems).toStrictEqual([
        {
          path: '/validityDays',
          message: expect.stringMatching(/^must end before the CA expires/) as unknown,
        },
      ]);
    },
  );

  it.each([
    ['server certificate', 1825],
    ['client certificate', 365],
  ] as const)("rejects a %s's default validity (%s days) beyond a short-lived CA", async (kind, days) => {
    const error = await issue[kind](undefined, await shortLivedCa()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(
      new RegExp(`^${kind} validity of ${days} days would end after the CA's own expiry`),
    );
  });
});

describe('CRL', () => {
  const nextUpdate = new Date(now.getTime() + 30 * DAY_MS);

  it('is a v2 CRL that openssl verifies against the CA, with crlNumber, AKI, and every revoked serial and reason', () => {
    // GIVEN revoked serials with every reason we emit, and one without a reason
    const revokedAt = new Date('2026-11-12T10:20:30Z');
    // WHEN the CRL is signed
    const pem = buildCrl(ca, {
      revoked: [
        { serial: client.serial, revokedAt, reason: 'keyCompromise' },
        { serial: 'ff01', revokedAt },
        { serial: '0a', revokedAt, reason: 'affiliationChanged' },
        { serial: '7f02', revokedAt, reason: 'superseded' },
        { serial: '7f03', revokedAt, reason: 'cessationOfOperation' },
        { serial: '7f04', revokedAt, reason: 'unspecified' },
      ],
      crlNumber: 42,
      thisUpdate: now,
      nextUpdate,
    });
    // THEN openssl verifies its signature and lists each entry with its date and reason
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
    const crl = file('crl.pem', pem);
    expect(opensslStatus('crl', '-in', crl, '-CAfile', file('ca.crt', ca.certPem), '-noout')).toStrictEqual({
      status: 0,
      output: 'verify OK\n',
    });
    const t = openssl('crl', '-in', crl, '-noout', '-text');
    expect(t).toContain('Version 2 (0x1)');
    expect(t).toMatch(/CRL Number:\s+42\n/);
    expect(t).toMatch(/Authority Key Identifier:\s+(keyid:)?[0-9A-F:]+\n/);
    const date = 'Nov 12 10:20:30 2026 GMT';
    expect(revokedEntries(t)).toStrictEqual([
      { serial: client.serial.toUpperCase(), revocationDate: date, reason: 'Key Compromise' },
      { serial: 'FF01', revocationDate: date, reason: 'Unspecified' },
      { serial: '0A', revocationDate: date, reason: 'Affiliation Changed' },
      { serial: '7F02', revocationDate: date, reason: 'Superseded' },
      { serial: '7F03', revocationDate: date, reason: 'Cessation Of Operation' },
      { serial: '7F04', revocationDate: date, reason: 'Unspecified' },
    ]);
  });

  it("gives a new gateway an empty CRL that openssl verifies against the gateway's CA only", async () => {
    // GIVEN the PKI a brand-new gateway gets (revoked: [])
    const fresh = await generatePki({ config: loadConfig({}) }, 'branch-2', now);
    const caFile = file('new-ca.crt', fresh.pki.caCrt);
    const crl = file('new-crl.pem', fresh.pki.crlPem);
    // THEN openssl verifies the CRL against that CA, and lists nothing
    expect(opensslStatus('crl', '-in', crl, '-CAfile', caFile, '-noout')).toStrictEqual({
      status: 0,
      output: 'verify OK\n',
    });
    const t = openssl('crl', '-in', crl, '-noout', '-text');
    expect(t).toMatch(/CRL Number:\s+1\n/);
    expect(t).toContain('\nNo Revoked Certificates.\n');
    expect(revokedEntries(t)).toStrictEqual([]);
    // and the server certificate still verifies with CRL checking on
    const serverFile = file('new-server.crt', fresh.pki.serverCrt);
    expect(
      opensslStatus('verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crl, serverFile),
    ).toStrictEqual({
      status: 0,
      output: `${serverFile}: OK\n`,
    });
    // while another CA of the same name (another key) does not, so the checks above are not vacuous
    // (`openssl crl` exits 0 either way in OpenSSL 3.0: only its output tells)
    const impostor = await createCa({ commonName: 'branch-2 VPN CA', now });
    expect(
      opensslStatus('crl', '-in', crl, '-CAfile', file('impostor.crt', impostor.certPem), '-noout'),
    ).toStrictEqual({ status: 0, output: 'verify failure\n' });
  });

  it('reads back the CRL number openssl reads, whatever its DER length, without the revoked entries', () => {
    // GIVEN numbers of one, two (with a leading zero byte) and several bytes, with and without entries
    for (const crlNumber of [0, 1, 127, 128, 300, 65_536, 2 ** 40 + 7]) {
      const pem = buildCrl(ca, {
        revoked: crlNumber % 2 === 0 ? [] : [{ serial: client.serial, revokedAt: now, reason: 'superseded' }],
        crlNumber,
        thisUpdate: now,
        nextUpdate,
      });
      // THEN the number read is the one openssl prints
      const printed = /CRL Number:\s+(\d+)\n/.exec(
        openssl('crl', '-in', file('n.pem', pem), '-noout', '-text'),
      );
      expect(crlNumberOf(pem)).toBe(crlNumber);
      expect(Number(printed?.[1])).toBe(crlNumber);
    }
    expect(() => crlNumberOf('not a crl')).toThrow(InputError);
  });

  it('revokes the client under openssl verify -crl_check', () => {
    const pem = buildCrl(ca, {
      revoked: [{ serial: client.serial, revokedAt: now }],
      crlNumber: 2,
      nextUpdate: new Date(now.getTime() + DAY_MS),
    });
    const out = opensslStatus(
      'verify',
      '-crl_check',
      '-CAfile',
      file('ca.crt', ca.certPem),
      '-CRLfile',
      file('crl2.pem', pem),
      file('c.crt', client.certPem),
    );
    expect(out.status).not.toBe(0);
    expect(out.output).toContain('certificate revoked');
  });

  it('rejects a nextUpdate before thisUpdate and a bad serial', () => {
    expect(() => buildCrl(ca, { revoked: [], crlNumber: 1, thisUpdate: now, nextUpdate: now })).toThrow(
      InputError,
    );
    expect(() =>
      buildCrl(ca, {
        revoked: [{ serial: 'xyz', revokedAt: now }],
        crlNumber: 1,
        nextUpdate: new Date(now.getTime() + 1000),
      }),
    ).toThrow(InputError);
  });

  it.each([
    [10, false],
    [7, true],
    [3, true],
    [-1, true],
  ])('needs renewal %s days before nextUpdate with a 7-day window: %s', (daysLeft, expected) => {
    expect(crlNeedsRenewal(new Date(now.getTime() + daysLeft * DAY_MS), now, 7)).toBe(expected);
  });
});

describe('tls-crypt key', () => {
  it('is 256 random bytes in OpenVPN static key format', () => {
    const key = generateTlsCryptKey();
    const body =
      /-----BEGIN OpenVPN Static key V1-----\n([\s\S]*)\n-----END OpenVPN Static key V1-----\n$/.exec(
        key,
      )?.[1];
    const lines = body?.split('\n') ?? [];
    expect(lines).toHaveLength(16);
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{32}$/);
    expect(generateTlsCryptKey()).not.toBe(key);
  });
});
