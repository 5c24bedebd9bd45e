/**
 * Branch enrollment over HTTP through the sandbox host (embedded cluster, directory secret store): the
 * operator's routes with the function-key side of the API, `POST /api/enroll` with nothing but the token.
 * Every refused enrollment leaves the cluster (every object of its API server) and the secret store
 * byte-for-byte unchanged.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createdEnrollmentSchema, enrollmentListSchema, enrollmentSchema } from '../../shared/api/schemas.js';
import { updateState } from '../../shared/gateways/gateway-state.js';
import { opensslCsr } from '../support/openssl-csr.js';
import type { SandboxUnderTest } from './harness.js';
import { api, directoryHash, removeDir, settledHash, startTestSandbox, waitForOperation } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'enroll-api-'));
const branch = opensslCsr(dir, 'branch');
const derOf = (pem: string) =>
  Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');

let sut: SandboxUnderTest;
let base = '';

const snapshot = async () => ({
  cluster: await settledHash(join(sut.dataDir, 'cluster')),
  secrets: await directoryHash(sut.secretsDir),
});

/** POST /api/enroll as a branch sends it: the token as a bearer credential, the DER request as application/pkcs10. */
function enroll(
  token: string | undefined,
  body: Uint8Array | string = derOf(branch.csrPem),
  contentType = 'application/pkcs10',
) {
  return fetch(`${base}/enroll`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    body,
  });
}

async function newEnrollment(client: string) {
  const r = await api(base, 'POST', '/gateways/g1/enrollments', { client });
  expect(r.status).toBe(201);
  return createdEnrollmentSchema.parse(r.json());
}

const enrollmentStatus = async (id: string) =>
  enrollmentSchema.parse((await api(base, 'GET', `/gateways/g1/enrollments/${id}`)).json()).status;

/** The problem of a refused token, without what differs per request. */
async function refusal(response: Response) {
  const body = (await response.json()) as Record<string, unknown>;
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    contentType: response.headers.get('content-type'),
    type: body['type'],
    title: body['title'],
    detail: body['detail'],
  };
}

const REFUSED = {
  status: 401,
  challenge: 'Bearer realm="enroll", error="invalid_token"',
  contentType: 'application/problem+json',
  type: expect.stringMatching(/unauthenticated$/) as string,
  title: 'Unauthenticated',
  detail: 'the enrollment token is not valid',
};

beforeAll(async () => {
  sut = await startTestSandbox();
  base = sut.sandbox.url;
  const put = await api(base, 'PUT', '/gateways/g1', {});
  expect(put.status).toBe(201);
  expect((await waitForOperation(put.headers.get('operation-location') ?? '')).status).toBe('Succeeded');
}, 120_000);

afterAll(async () => {
  await sut?.stop();
  if (sut) await removeDir(sut.dataDir);
  rmSync(dir, { recursive: true, force: true });
});

describe('branch enrollment over HTTP (sandbox)', () => {
  it('enrolls a branch that holds only the token: the profile has no key, the enrollment shows used', async () => {
    const created = await newEnrollment('branch-a');
    const secret = created.token.split('.')[2] ?? '';
    expect(created).toMatchObject({ gateway: 'g1', client: 'branch-a', status: 'pending', keyType: 'rsa' });
    expect(created.enrollUrl).toBe(`${base}/enroll?keyType=rsa`);
    const list = await api(base, 'GET', '/gateways/g1/enrollments');
    expect(enrollmentListSchema.parse(list.json()).value.map((e) => e.id)).toContain(created.id);
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain('tokenHash');
    // The reserved name is taken for the API too.
    expect((await api(base, 'POST', '/gateways/g1/clients', { name: 'branch-a' })).status).toBe(409);

    const response = await fetch(created.enrollUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.token}`, 'content-type': 'application/pkcs10' },
      body: derOf(branch.csrPem),
    });
    const profile = await response.text();
    expect([response.status, response.headers.get('content-type')]).toStrictEqual([
      200,
      'application/x-openvpn-profile',
    ]);
    expect(profile).not.toContain('<key>');
    const certPem = /<cert>\n([\s\S]*?)<\/cert>/.exec(profile)?.[1] ?? '';
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=branch-a');
    expect(cert.publicKey.export({ format: 'pem', type: 'spki' })).toBe(
      createPublicKey(readFileSync(branch.keyPath)).export({ format: 'pem', type: 'spki' }),
    );
    const used = enrollmentSchema.parse(
      (await api(base, 'GET', `/gateways/g1/enrollments/${created.id}`)).json(),
    );
    expect(used).toMatchObject({ status: 'used', usedFrom: '127.0.0.1' });
    expect((await api(base, 'GET', '/gateways/g1/clients/branch-a')).json()).toMatchObject({
      status: 'active',
      keySource: 'csr',
      ip: created.ip,
    });
    // The audit trail names the enrollment, never the token.
    const audit = sut.log.filter((l) => l.includes('"message":"audit"') && l.includes('"enroll"'));
    expect(
      audit.some((l) => l.includes(`enrollment ${created.id}`) && l.includes('"client":"branch-a"')),
    ).toBe(true);
    expect(sut.log.join('\n')).not.toContain(secret);
  });

  it('takes the CSR as JSON {csr} too', async () => {
    const created = await newEnrollment('branch-json');
    const response = await enroll(created.token, JSON.stringify({ csr: branch.csrPem }), 'application/json');
    expect(response.status).toBe(200);
    expect(await enrollmentStatus(created.id)).toBe('used');
  });

  it('revokes a pending enrollment: 204, then 404, and the name can be issued', async () => {
    const created = await newEnrollment('branch-revoked');
    expect((await api(base, 'DELETE', `/gateways/g1/enrollments/${created.id}`)).status).toBe(204);
    expect((await api(base, 'GET', `/gateways/g1/enrollments/${created.id}`)).status).toBe(404);
    expect((await api(base, 'POST', '/gateways/g1/clients', { name: 'branch-revoked' })).status).toBe(201);
  });
});

describe('refused enrollments change nothing (sandbox)', () => {
  it('answers reused, expired, revoked, unknown, malformed, other-gateway and missing tokens with the same 401', async () => {
    const reused = await newEnrollment('reused');
    expect((await enroll(reused.token)).status).toBe(200);
    const revoked = await newEnrollment('revoked');
    expect((await api(base, 'DELETE', `/gateways/g1/enrollments/${revoked.id}`)).status).toBe(204);
    const expired = await newEnrollment('expired');
    // Time passes: the enrollment's expiry is moved into the past, as the clock would.
    await updateState(sut.sandbox.cluster!, 'g1', (s) => ({
      ...s,
      enrollments: s.enrollments?.map((e) =>
        e.id === expired.id ? { ...e, expiresAt: new Date(Date.now() - 1000).toISOString() } : e,
      ),
    }));
    expect(await enrollmentStatus(expired.id)).toBe('expired');
    const good = await newEnrollment('good');
    const [, id, secret] = good.token.split('.') as [string, string, string];
    const tokens: Record<string, string | undefined> = {
      reused: reused.token,
      expired: expired.token,
      revoked: revoked.token,
      'unknown id': `g1.0123456789abcdef.${secret}`,
      'wrong secret': `g1.${id}.${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`,
      'other gateway': `g2.${id}.${secret}`,
      malformed: 'g1.not-a-token',
      missing: undefined,
    };
    const before = await snapshot();
    for (const [what, token] of Object.entries(tokens))
      expect([what, await refusal(await enroll(token))]).toStrictEqual([what, REFUSED]);
    // A bad body does not change the answer to a bad token.
    expect(await refusal(await enroll(reused.token, 'junk', 'text/plain'))).toStrictEqual(REFUSED);
    expect(await snapshot()).toStrictEqual(before);
    expect(await enrollmentStatus(good.id)).toBe('pending');
  });

  it('refuses a tampered CSR (400) and an unsupported body (415) with a good token, which stays unused', async () => {
    const created = await newEnrollment('tampered');
    const der = derOf(branch.csrPem);
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
    const before = await snapshot();
    expect((await enroll(created.token, der)).status).toBe(400);
    expect((await enroll(created.token, branch.csrPem)).status).toBe(400);
    expect((await enroll(created.token, branch.csrPem, 'text/plain')).status).toBe(415);
    expect((await enroll(created.token, JSON.stringify({ csr: 'nope' }), 'application/json')).status).toBe(
      400,
    );
    expect(await snapshot()).toStrictEqual(before);
    expect(await enrollmentStatus(created.id)).toBe('pending');
    expect((await enroll(created.token)).status).toBe(200);
  });

  it('answers 50 wrong tokens in a row with 401 and changes nothing; the right token still enrolls', async () => {
    const created = await newEnrollment('guessed');
    const [gateway, id] = created.token.split('.') as [string, string];
    const before = await snapshot();
    for (let i = 0; i < 50; i += 1) {
      const guess = `${gateway}.${id}.${Buffer.alloc(32, i).toString('base64url')}`;
      expect([i, (await enroll(guess)).status]).toStrictEqual([i, 401]);
    }
    expect(await snapshot()).toStrictEqual(before);
    expect((await enroll(created.token)).status).toBe(200);
  });
});
