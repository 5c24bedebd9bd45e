import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError, UnauthenticatedError } from '../../../shared/errors.js';
import { issueClient, listClients } from '../../../shared/gateways/clients.js';
import {
  ENROLLMENT_RETENTION_DAYS,
  invalidEnrollmentToken,
  createEnrollment,
  enrollBranch,
  getEnrollment,
  listEnrollments,
  pruneEnrollments,
  revokeEnrollment,
} from '../../../shared/gateways/enrollments.js';
import { parseEnrollmentToken } from '../../../shared/gateways/enrollment-token.js';
import { deleteGateway, putGateway } from '../../../shared/gateways/gateways.js';
import { readCertificateInfo } from '../../../shared/pki/index.js';
import { opensslCsr } from '../../support/openssl-csr.js';
import { makeHarness } from './harness.js';
import { ccdEntries } from '../../support/ccd-entries.js';

const dir = mkdtempSync(join(tmpdir(), 'enroll-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rsaCsr = opensslCsr(dir, 'branch-rsa').csrPem;
const ecCsr = opensslCsr(dir, 'branch-ec', 'ec').csrPem;

const DEFAULTS = { expiresInMinutes: 60 } as const;

async function gateway(keyType: 'rsa' | 'ec' = 'rsa') {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', { keyType });
  const stateOf = async () => (await h.cluster.readConfigMap('vpn-gw', 'state'))!;
  return { h, stateOf };
}

const minutes = (d: Date, m: number) => new Date(d.getTime() + m * 60_000);

describe('createEnrollment', () => {
  it('answers a 256-bit token once, records only its hash and reserves the name and the next address', async () => {
    const { h, stateOf } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', { client: 'branch-a', ...DEFAULTS });
    const parsed = parseEnrollmentToken(token);
    expect(parsed).toStrictEqual({ gateway: 'gw', id: enrollment.id, secret: expect.any(String) as string });
    expect(Buffer.from(parsed!.secret, 'base64url')).toHaveLength(32);
    expect(enrollment).toStrictEqual({
      id: enrollment.id,
      gateway: 'gw',
      client: 'branch-a',
      ip: '10.140.0.2',
      status: 'pending',
      createdAt: '2026-11-22T12:00:00.000Z',
      expiresAt: '2026-11-22T13:00:00.000Z',
      subnets: [],
      keyType: 'rsa',
    });
    const stored = JSON.stringify((await stateOf()).data);
    expect(stored).not.toContain(parsed!.secret);
    expect(stored).toContain(enrollment.id);
    await expect(issueClient(h.deps, 'gw', { name: 'branch-a' })).rejects.toThrow(ConflictError);
    expect((await issueClient(h.deps, 'gw', { name: 'branch-b' })).ip).toBe('10.140.0.3');
    await expect(issueClient(h.deps, 'gw', { name: 'branch-c', staticIp: '10.140.0.2' })).rejects.toThrow(
      ConflictError,
    );
  });

  it('refuses a name a client or another pending enrollment holds, and an address that is taken', async () => {
    const { h, stateOf } = await gateway();
    await issueClient(h.deps, 'gw', { name: 'taken' });
    await createEnrollment(h.deps, 'gw', { client: 'reserved', ...DEFAULTS });
    const before = await stateOf();
    await expect(createEnrollment(h.deps, 'gw', { client: 'taken', ...DEFAULTS })).rejects.toThrow(
      ConflictError,
    );
    await expect(createEnrollment(h.deps, 'gw', { client: 'reserved', ...DEFAULTS })).rejects.toThrow(
      ConflictError,
    );
    await expect(
      createEnrollment(h.deps, 'gw', { client: 'other', staticIp: '10.140.0.3', ...DEFAULTS }),
    ).rejects.toThrow(ConflictError);
    expect((await stateOf()).resourceVersion).toBe(before.resourceVersion);
  });

  it('refuses a validity that would outlive the CA when enrolled at the last moment', async () => {
    const { h } = await gateway();
    await expect(
      createEnrollment(h.deps, 'gw', { client: 'long', validityDays: 3650, ...DEFAULTS }),
    ).rejects.toThrow(InputError);
  });

  it('refuses a gateway that does not exist', async () => {
    const h = makeHarness();
    await expect(createEnrollment(h.deps, 'nope', { client: 'a', ...DEFAULTS })).rejects.toThrow(
      NotFoundError,
    );
  });
});

describe('enrollment status and expiry', () => {
  it('shows expired past expiresAt (nothing written) and frees the name and address from then on', async () => {
    const { h, stateOf } = await gateway();
    const { enrollment } = await createEnrollment(h.deps, 'gw', { client: 'late', expiresInMinutes: 5 });
    const start = new Date('2026-11-22T12:00:00Z');
    h.setNow(minutes(start, 5));
    const version = (await stateOf()).resourceVersion;
    expect((await getEnrollment(h.deps, 'gw', enrollment.id)).status).toBe('expired');
    expect((await listEnrollments(h.deps, 'gw')).map((e) => e.status)).toStrictEqual(['expired']);
    expect((await stateOf()).resourceVersion).toBe(version);
    expect(await issueClient(h.deps, 'gw', { name: 'late' })).toMatchObject({ ip: '10.140.0.2' });
  });

  it('drops used and expired records after the retention time, on the next write or the reconciler', async () => {
    const { h } = await gateway();
    const start = new Date('2026-11-22T12:00:00Z');
    const a = await createEnrollment(h.deps, 'gw', { client: 'a', ...DEFAULTS });
    const b = await createEnrollment(h.deps, 'gw', { client: 'b', ...DEFAULTS });
    // `a` is used a minute before it would expire, `b` expires unused: both are kept 7 days from then.
    h.setNow(minutes(start, 59));
    await enrollBranch(h.deps, { token: a.token, csr: () => Promise.resolve(rsaCsr) });
    h.setNow(minutes(start, 59 + ENROLLMENT_RETENTION_DAYS * 24 * 60 - 1));
    expect((await listEnrollments(h.deps, 'gw')).map((e) => [e.client, e.status])).toStrictEqual([
      ['a', 'used'],
      ['b', 'expired'],
    ]);
    h.setNow(minutes(start, 60 + ENROLLMENT_RETENTION_DAYS * 24 * 60));
    expect(await listEnrollments(h.deps, 'gw')).toStrictEqual([]);
    await expect(getEnrollment(h.deps, 'gw', b.enrollment.id)).rejects.toThrow(NotFoundError);
    expect(await pruneEnrollments(h.deps, 'gw')).toBe(2);
    expect((await h.cluster.readConfigMap('vpn-gw', 'state'))?.data['enrollments.json']).toBeUndefined();
  });
});

describe('revokeEnrollment', () => {
  it('removes a pending enrollment: its token is refused, its name and address are free', async () => {
    const { h } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', { client: 'gone', ...DEFAULTS });
    await revokeEnrollment(h.deps, 'gw', enrollment.id);
    await expect(getEnrollment(h.deps, 'gw', enrollment.id)).rejects.toThrow(NotFoundError);
    await expect(enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) })).rejects.toThrow(
      UnauthenticatedError,
    );
    expect(await issueClient(h.deps, 'gw', { name: 'gone' })).toMatchObject({ ip: '10.140.0.2' });
  });

  it('refuses a used enrollment (the client is revoked instead) and an unknown one', async () => {
    const { h } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', { client: 'used', ...DEFAULTS });
    await enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) });
    await expect(revokeEnrollment(h.deps, 'gw', enrollment.id)).rejects.toThrow(ConflictError);
    await expect(revokeEnrollment(h.deps, 'gw', '0123456789abcdef')).rejects.toThrow(NotFoundError);
  });
});

describe('enrollBranch', () => {
  it('issues the reserved client from the CSR in one write and answers the profile without a key', async () => {
    const { h } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', {
      client: 'branch-a',
      validityDays: 30,
      ...DEFAULTS,
    });
    h.setNow(minutes(new Date('2026-11-22T12:00:00Z'), 10));
    const result = await enrollBranch(h.deps, {
      token,
      csr: () => Promise.resolve(rsaCsr),
      from: '198.51.100.7',
    });
    expect(result).toMatchObject({ gateway: 'gw', enrollment: enrollment.id, client: 'branch-a' });
    expect(result.profile).toContain('<cert>');
    expect(result.profile).not.toContain('<key>');
    expect(result.profile).not.toMatch(/PRIVATE KEY/);
    const [client] = await listClients(h.deps, 'gw');
    expect(client).toMatchObject({ name: 'branch-a', ip: '10.140.0.2', status: 'active', keySource: 'csr' });
    const cert = readCertificateInfo(h.secrets.clients.get('gw/branch-a')!.bundle.certPem);
    expect(cert.notAfter.toISOString()).toBe('2026-12-22T12:10:00.000Z');
    expect(await getEnrollment(h.deps, 'gw', enrollment.id)).toMatchObject({
      status: 'used',
      usedAt: '2026-11-22T12:10:00.000Z',
      usedFrom: '198.51.100.7',
    });
  });

  it('takes an EC P-256 request on a gateway whose keyType is ec', async () => {
    const { h } = await gateway('ec');
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', { client: 'ec', ...DEFAULTS });
    expect(enrollment.keyType).toBe('ec');
    await enrollBranch(h.deps, { token, csr: () => Promise.resolve(ecCsr) });
    expect((await listClients(h.deps, 'gw'))[0]).toMatchObject({ keyType: 'ec', status: 'active' });
  });

  it('refuses every token that does not enroll with the same error, without reading the CSR or writing', async () => {
    const { h, stateOf } = await gateway();
    await putGateway(h.deps, 'other', {});
    const used = await createEnrollment(h.deps, 'gw', { client: 'used', ...DEFAULTS });
    await enrollBranch(h.deps, { token: used.token, csr: () => Promise.resolve(rsaCsr) });
    const revoked = await createEnrollment(h.deps, 'gw', { client: 'revoked', ...DEFAULTS });
    await revokeEnrollment(h.deps, 'gw', revoked.enrollment.id);
    const expired = await createEnrollment(h.deps, 'gw', { client: 'expired', expiresInMinutes: 5 });
    const good = await createEnrollment(h.deps, 'gw', { client: 'good', ...DEFAULTS });
    h.setNow(minutes(new Date('2026-11-22T12:00:00Z'), 5));
    const [g, id, secret] = good.token.split('.') as [string, string, string];
    const flipped = `${secret.slice(0, 10)}${secret[10] === 'A' ? 'B' : 'A'}${secret.slice(11)}`;
    const bad = {
      malformed: 'not-a-token',
      empty: '',
      'unknown id': `${g}.0123456789abcdef.${secret}`,
      'wrong secret': `${g}.${id}.${flipped}`,
      'wrong gateway': `other.${id}.${secret}`,
      'missing gateway': `absent.${id}.${secret}`,
      'gateway name no gateway can have': `${'g'.repeat(58)}.${id}.${secret}`,
      used: used.token,
      revoked: revoked.token,
      expired: expired.token,
    };
    const before = await stateOf();
    let csrReads = 0;
    for (const [what, token] of Object.entries(bad)) {
      const error = await enrollBranch(h.deps, {
        token,
        csr: () => {
          csrReads += 1;
          return Promise.resolve(rsaCsr);
        },
      }).catch((e: unknown) => e);
      expect([what, error]).toStrictEqual([what, invalidEnrollmentToken()]);
    }
    expect(csrReads).toBe(0);
    expect(await stateOf()).toStrictEqual(before);
    expect((await getEnrollment(h.deps, 'gw', good.enrollment.id)).status).toBe('pending');
  });

  it('leaves the token unused when the CSR is bad, and enrolls with a good one afterwards', async () => {
    const { h, stateOf } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', { client: 'branch', ...DEFAULTS });
    const before = await stateOf();
    const lines = rsaCsr.trim().split('\n');
    // A byte of the signature changed: the CSR no longer verifies.
    const sig = lines[lines.length - 2]!;
    lines[lines.length - 2] = `${sig.slice(0, 4)}${sig[4] === 'A' ? 'B' : 'A'}${sig.slice(5)}`;
    const tampered = `${lines.join('\n')}\n`;
    await expect(enrollBranch(h.deps, { token, csr: () => Promise.resolve(tampered) })).rejects.toThrow(
      InputError,
    );
    expect(await stateOf()).toStrictEqual(before);
    expect((await getEnrollment(h.deps, 'gw', enrollment.id)).status).toBe('pending');
    await enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) });
    expect((await getEnrollment(h.deps, 'gw', enrollment.id)).status).toBe('used');
  });

  it('lets exactly one of concurrent uses of one token enroll', async () => {
    const { h } = await gateway();
    const { token } = await createEnrollment(h.deps, 'gw', { client: 'raced', ...DEFAULTS });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, () => enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes.filter((x) => x.status === 'rejected'))
      expect(o.reason).toStrictEqual(invalidEnrollmentToken());
    expect((await listClients(h.deps, 'gw')).map((c) => [c.name, c.status])).toStrictEqual([
      ['raced', 'active'],
    ]);
    expect(h.secrets.clients.size).toBe(1);
  });
});

describe('enrollment subnets', () => {
  it('reserves the LAN subnets like a client holds them, and gives them to the client it issues', async () => {
    const { h } = await gateway();
    const { enrollment, token } = await createEnrollment(h.deps, 'gw', {
      client: 'branch-lan',
      subnets: ['192.168.20.0/24', '192.168.10.0/24'],
      ...DEFAULTS,
    });
    expect(enrollment.subnets).toStrictEqual(['192.168.10.0/24', '192.168.20.0/24']);
    // GIVEN the reservation, neither a client nor another enrollment may claim an overlapping LAN
    await expect(
      issueClient(h.deps, 'gw', { name: 'other', subnets: ['192.168.10.128/25'] }),
    ).rejects.toThrow(/reserved by the pending enrollment of 'branch-lan'/);
    await expect(
      createEnrollment(h.deps, 'gw', { client: 'other', subnets: ['192.168.20.0/24'], ...DEFAULTS }),
    ).rejects.toThrow(ConflictError);
    // WHEN the branch enrolls THEN its client routes them (iroute lines in its CCD entry)
    await enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) });
    expect((await listClients(h.deps, 'gw'))[0]).toMatchObject({
      name: 'branch-lan',
      subnets: ['192.168.10.0/24', '192.168.20.0/24'],
    });
    expect((await ccdEntries(h.cluster, 'gw'))['branch-lan']).toMatch(
      /iroute 192\.168\.10\.0 255\.255\.255\.0\niroute 192\.168\.20\.0 255\.255\.255\.0/,
    );
  });

  it('refuses subnets that overlap the gateway (400) and frees reserved ones once the enrollment expires', async () => {
    const { h } = await gateway();
    await expect(
      createEnrollment(h.deps, 'gw', { client: 'bad', subnets: ['10.140.0.0/25'], ...DEFAULTS }),
    ).rejects.toThrow(InputError);
    await createEnrollment(h.deps, 'gw', {
      client: 'late',
      subnets: ['192.168.30.0/24'],
      expiresInMinutes: 5,
    });
    h.setNow(minutes(new Date('2026-11-22T12:00:00Z'), 5));
    expect(await issueClient(h.deps, 'gw', { name: 'other', subnets: ['192.168.30.0/24'] })).toMatchObject({
      subnets: ['192.168.30.0/24'],
    });
  });

  it('keeps a gateway change from routing over reserved subnets (409)', async () => {
    const { h } = await gateway();
    await createEnrollment(h.deps, 'gw', { client: 'lan', subnets: ['192.168.40.0/24'], ...DEFAULTS });
    await expect(putGateway(h.deps, 'gw', { extraRoutes: ['192.168.0.0/16'] })).rejects.toThrow(
      /pending enrollments/,
    );
  });
});

describe('enrollments of a gateway being deleted', () => {
  it('refuses a new enrollment and a use of a good token (409), writing nothing', async () => {
    const { h, stateOf } = await gateway();
    const { token } = await createEnrollment(h.deps, 'gw', { client: 'late', ...DEFAULTS });
    await deleteGateway(h.deps, 'gw');
    const marked = await stateOf();
    await expect(createEnrollment(h.deps, 'gw', { client: 'other', ...DEFAULTS })).rejects.toThrow(
      /being deleted/,
    );
    await expect(enrollBranch(h.deps, { token, csr: () => Promise.resolve(rsaCsr) })).rejects.toThrow(
      ConflictError,
    );
    expect(await pruneEnrollments(h.deps, 'gw')).toBe(0);
    expect(await stateOf()).toStrictEqual(marked);
  });
});
