/**
 * `keyType` over HTTP: the gateway's default for generated client keys (`rsa` unless the PUT says `ec`),
 * the per-issue override, a CSR's key deciding for itself, the CA staying RSA, and every bad `keyType`
 * refused with a 400 that changes nothing (the cluster and the secret store read back byte for byte).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiBackend } from './harness.js';
import { api, memoryBackend } from './harness.js';

const ROUTES = ['10.0.0.0/16', '10.244.0.0/16'];

/** A CSR made by the `openssl` binary, as a branch would make it: `rsa:2048` or `ec` on P-256. */
function opensslCsr(key: 'rsa' | 'ec'): string {
  const dir = mkdtempSync(join(tmpdir(), 'key-type-csr-'));
  try {
    const newKey =
      key === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        ...newKey,
        '-nodes',
        '-keyout',
        join(dir, 'k'),
        '-out',
        join(dir, 'r'),
        '-subj',
        '/CN=branch',
      ],
      {
        stdio: 'ignore',
      },
    );
    return readFileSync(join(dir, 'r'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PEM block `<tag>…</tag>` of an OpenVPN profile. */
function inline(profile: string, tag: string): string {
  const match = new RegExp(`<${tag}>\\n([\\s\\S]*?)</${tag}>`).exec(profile);
  if (!match?.[1]) throw new Error(`the profile has no <${tag}> block`);
  return match[1];
}

/** The key types a client's profile really carries: certificate key, private key, CA key. */
async function profileKeys(base: string, gateway: string, client: string) {
  const profile = await api(base, 'GET', `/gateways/${gateway}/clients/${client}/profile`);
  expect(profile.status).toBe(200);
  const cert = new X509Certificate(inline(profile.text, 'cert'));
  const ca = new X509Certificate(inline(profile.text, 'ca'));
  const key = createPrivateKey(inline(profile.text, 'key'));
  return {
    cert: cert.publicKey.asymmetricKeyType,
    curve: cert.publicKey.asymmetricKeyDetails?.namedCurve,
    key: key.asymmetricKeyType,
    ca: ca.publicKey.asymmetricKeyType,
    signedByCa: cert.verify(ca.publicKey),
  };
}

describe('keyType over HTTP', () => {
  let backend: ApiBackend;
  let base = '';
  let rsaCsr = '';
  let ecCsr = '';

  beforeAll(async () => {
    backend = await memoryBackend();
    base = backend.url;
    expect((await api(base, 'PUT', '/gateways/plain', { routes: ROUTES })).status).toBe(201);
    expect((await api(base, 'PUT', '/gateways/ec', { routes: ROUTES, keyType: 'ec' })).status).toBe(201);
    rsaCsr = opensslCsr('rsa');
    ecCsr = opensslCsr('ec');
  }, 120_000);

  afterAll(async () => {
    await backend?.stop();
  });

  it('defaults a gateway to RSA client keys and says so', async () => {
    // WHEN a client is issued on a gateway created without keyType
    const issued = await api(base, 'POST', '/gateways/plain/clients', { name: 'site-rsa' });
    // THEN the gateway and the client say rsa, and the profile carries an RSA certificate and key
    expect(issued.status).toBe(201);
    expect(issued.json().keyType).toBe('rsa');
    expect((await api(base, 'GET', '/gateways/plain')).json().keyType).toBe('rsa');
    expect(await profileKeys(base, 'plain', 'site-rsa')).toStrictEqual({
      cert: 'rsa',
      curve: undefined,
      key: 'rsa',
      ca: 'rsa',
      signedByCa: true,
    });
  });

  it('issues P-256 keys signed by an RSA CA on a gateway whose keyType is ec', async () => {
    // WHEN a client is issued on the ec gateway without keyType
    const issued = await api(base, 'POST', '/gateways/ec/clients', { name: 'site-ec' });
    // THEN its key is EC on P-256 and the CA that signed it is still RSA
    expect(issued.status).toBe(201);
    expect(issued.json().keyType).toBe('ec');
    expect((await api(base, 'GET', '/gateways/ec/clients/site-ec')).json().keyType).toBe('ec');
    expect(await profileKeys(base, 'ec', 'site-ec')).toStrictEqual({
      cert: 'ec',
      curve: 'prime256v1',
      key: 'ec',
      ca: 'rsa',
      signedByCa: true,
    });
  });

  it("lets one issue override the gateway's keyType", async () => {
    // WHEN an issue on the ec gateway asks for rsa
    const issued = await api(base, 'POST', '/gateways/ec/clients', { name: 'old-router', keyType: 'rsa' });
    // THEN that one client is RSA
    expect(issued.status).toBe(201);
    expect(issued.json().keyType).toBe('rsa');
    expect((await profileKeys(base, 'ec', 'old-router')).cert).toBe('rsa');
  });

  it("certifies a CSR's own key whatever the gateway's keyType", async () => {
    // WHEN an RSA CSR is sent to the ec gateway and an EC CSR (with a matching keyType) to the plain one
    const rsa = await api(base, 'POST', '/gateways/ec/clients', { name: 'csr-rsa', csr: rsaCsr });
    const ec = await api(base, 'POST', '/gateways/plain/clients', {
      name: 'csr-ec',
      csr: ecCsr,
      keyType: 'ec',
    });
    // THEN each certificate carries the request's key
    expect([rsa.status, rsa.json().keyType, rsa.json().keySource]).toStrictEqual([201, 'rsa', 'csr']);
    expect([ec.status, ec.json().keyType, ec.json().keySource]).toStrictEqual([201, 'ec', 'csr']);
  });

  it("changes a gateway's keyType without a roll and keeps its clients' keys", async () => {
    // WHEN the plain gateway's PUT repeats its spec with keyType ec
    const put = await api(base, 'PUT', '/gateways/plain', { routes: ROUTES, keyType: 'ec' });
    // THEN it is a 200 that starts no work, new clients are EC and the earlier one stays RSA
    expect([put.status, put.headers.get('operation-location'), put.json().keyType]).toStrictEqual([
      200,
      null,
      'ec',
    ]);
    expect((await api(base, 'POST', '/gateways/plain/clients', { name: 'site-new' })).json().keyType).toBe(
      'ec',
    );
    expect((await api(base, 'GET', '/gateways/plain/clients/site-rsa')).json().keyType).toBe('rsa');
  });

  it('documents keyType in the OpenAPI document with its default', async () => {
    const doc = (await api(base, 'GET', '/openapi.json')).json<{
      components: {
        schemas: Record<string, { properties: Record<string, { enum?: string[]; default?: string }> }>;
      };
    }>();
    const { putGatewayRequest, issueClientRequest } = doc.components.schemas;
    expect(putGatewayRequest?.properties['keyType']).toMatchObject({ enum: ['rsa', 'ec'], default: 'rsa' });
    expect(issueClientRequest?.properties['keyType']?.enum).toStrictEqual(['rsa', 'ec']);
    expect(issueClientRequest?.properties['keyType']?.default).toBeUndefined();
  });

  describe.each<{ name: string; method: 'PUT' | 'POST'; path: string; body: () => unknown }>([
    {
      name: 'an unknown gateway keyType',
      method: 'PUT',
      path: '/gateways/g9',
      body: () => ({ routes: ROUTES, keyType: 'dsa' }),
    },
    {
      name: 'an upper-case keyType on an existing gateway',
      method: 'PUT',
      path: '/gateways/ec',
      body: () => ({ routes: ROUTES, keyType: 'EC' }),
    },
    {
      name: 'a gateway keyType that is a number',
      method: 'PUT',
      path: '/gateways/g9',
      body: () => ({ routes: ROUTES, keyType: 256 }),
    },
    {
      name: 'an unknown client keyType',
      method: 'POST',
      path: '/gateways/ec/clients',
      body: () => ({ name: 'x1', keyType: 'ed25519' }),
    },
    {
      name: 'a null client keyType',
      method: 'POST',
      path: '/gateways/ec/clients',
      body: () => ({ name: 'x2', keyType: null }),
    },
    {
      name: "keyType ec with an RSA CSR (the request's key decides)",
      method: 'POST',
      path: '/gateways/ec/clients',
      body: () => ({ name: 'x3', keyType: 'ec', csr: rsaCsr }),
    },
    {
      name: 'keyType rsa with an EC CSR',
      method: 'POST',
      path: '/gateways/plain/clients',
      body: () => ({ name: 'x4', keyType: 'rsa', csr: ecCsr }),
    },
  ])('refuses $name', ({ method, path, body }) => {
    it('with a 400 at /keyType and changes nothing', async () => {
      // GIVEN everything stored
      const before = await backend.snapshot();
      // WHEN
      const response = await api(base, method, path, body());
      // THEN
      expect([response.status, response.headers.get('content-type')]).toStrictEqual([
        400,
        'application/problem+json',
      ]);
      expect(response.json<{ errors: { path: string }[] }>().errors.map((e) => e.path)).toContain('/keyType');
      expect(await backend.snapshot()).toStrictEqual(before);
    });
  });
});
