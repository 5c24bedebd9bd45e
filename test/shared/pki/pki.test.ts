import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../../shared/errors.js';
import type { CaMaterial, IssuedCert } from '../../../shared/pki/index.js';
import {
  buildCrl,
  createCa,
  crlNeedsRenewal,
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

const now = new Date();
let ca: CaMaterial;
let server: IssuedCert;
let client: IssuedCert;

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
  const csr = (keySpec: string[]) => {
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
        '/CN=evil/O=ignored',
      ],
      { stdio: 'ignore' },
    );
    return readFileSync(join(dir, 'r.csr'), 'utf8');
  };

  it('takes only the public key: our CN and extensions, no private key returned', async () => {
    const request = csr(['-newkey', 'rsa:2048']);
    const issued = await issueClientCert(ca, {
      commonName: 'branch-x',
      validityDays: 10,
      csrPem: request,
      now,
    });
    expect(issued.keyPem).toBeUndefined();
    const t = text(issued.certPem);
    expect(t).toMatch(/Subject: CN ?= ?branch-x\n/);
    expect(t).toContain('TLS Web Client Authentication');
    const modulus = (args: string[]) => openssl(...args).trim();
    expect(modulus(['x509', '-in', file('i.pem', issued.certPem), '-noout', '-modulus'])).toBe(
      modulus(['rsa', '-in', join(dir, 'csr.key'), '-noout', '-modulus']),
    );
  });

  it.each([
    [
      'malformed PEM',
      () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      /not a valid PEM/,
    ],
    ['a 1024-bit key', () => csr(['-newkey', 'rsa:1024']), /1024 bits/],
    ['an EC key', () => csr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']), /not RSA/],
    [
      'a tampered signature',
      () => {
        const request = csr(['-newkey', 'rsa:2048']);
        const der = Buffer.from(request.replace(/-----[^-]+-----|\s/g, ''), 'base64');
        der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
      },
      /signature does not verify/,
    ],
  ])('rejects %s with a clear InputError', async (_case, make, message) => {
    const error = await issueClientCert(ca, { commonName: 'x', validityDays: 10, csrPem: make(), now }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toMatch(message);
  });
});

describe('validity', () => {
  it.each([0, -1, 1.5])('rejects %s days', async (days) => {
    await expect(issueClientCert(ca, { commonName: 'x', validityDays: days, now })).rejects.toBeInstanceOf(
      InputError,
    );
  });

  it("rejects a client validity beyond the CA's notAfter", async () => {
    await expect(issueClientCert(ca, { commonName: 'x', validityDays: 3651, now })).rejects.toThrow(
      /CA's own expiry/,
    );
  });
});

describe('CRL', () => {
  it('is a v2 CRL that openssl verifies against the CA, with crlNumber, AKI, and reason codes', () => {
    const nextUpdate = new Date(now.getTime() + 30 * 86_400_000);
    const pem = buildCrl(ca, {
      revoked: [
        { serial: client.serial, revokedAt: now, reason: 'keyCompromise' },
        { serial: 'ff01', revokedAt: now },
      ],
      crlNumber: 42,
      thisUpdate: now,
      nextUpdate,
    });
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
    const crl = file('crl.pem', pem);
    expect(
      execFileSync('openssl', ['crl', '-in', crl, '-CAfile', join(dir, 'ca.crt'), '-noout'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim(),
    ).toBe('');
    const verify = execFileSync(
      'sh',
      ['-c', `openssl crl -in ${crl} -CAfile ${join(dir, 'ca.crt')} -noout 2>&1`],
      { encoding: 'utf8' },
    );
    expect(verify).toContain('verify OK');
    const t = openssl('crl', '-in', crl, '-noout', '-text');
    expect(t).toContain('Version 2 (0x1)');
    expect(t).toMatch(/CRL Number:\s+42/);
    expect(t).toContain('Authority Key Identifier');
    expect(t).toContain(`Serial Number: ${client.serial.toUpperCase()}`);
    expect(t).toContain('Serial Number: FF01');
    expect(t).toContain('Key Compromise');
    expect(t).toContain('Unspecified');
  });

  it('revokes the client under openssl verify -crl_check', () => {
    const pem = buildCrl(ca, {
      revoked: [{ serial: client.serial, revokedAt: now }],
      crlNumber: 2,
      nextUpdate: new Date(now.getTime() + 86_400_000),
    });
    const out = execFileSync(
      'sh',
      [
        '-c',
        `openssl verify -crl_check -CAfile ${file('ca.crt', ca.certPem)} -CRLfile ${file('crl2.pem', pem)} ${file('c.crt', client.certPem)} 2>&1 || true`,
      ],
      { encoding: 'utf8' },
    );
    expect(out).toContain('certificate revoked');
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
    expect(crlNeedsRenewal(new Date(now.getTime() + daysLeft * 86_400_000), now, 7)).toBe(expected);
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
