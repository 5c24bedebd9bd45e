import type { AccessToken, TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InternalError, UpstreamError } from '../../../shared/errors.js';
import { KeyVaultSecretStore, secretName } from '../../../shared/secrets/key-vault-store.js';
import type { FakeKeyVault, KvFault } from '../../fakes/key-vault-server.js';
import { startFakeKeyVault } from '../../fakes/key-vault-server.js';
import type { TransientFault } from './secret-store-contract.js';
import { describeSecretStoreContract } from './secret-store-contract.js';

/** Our own credential (not an SDK double): a fixed token for the fake vault. */
const credentialFor = (kv: FakeKeyVault): TokenCredential => ({
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: kv.token, expiresOnTimestamp: Date.now() + 3_600_000 }),
});

const storeFor = (kv: FakeKeyVault, maxRetries = 3) =>
  new KeyVaultSecretStore({
    vaultUrl: kv.url,
    credential: credentialFor(kv),
    clientOptions: { tlsOptions: { ca: kv.ca }, disableChallengeResourceVerification: true },
    retry: { maxRetries, retryDelayInMs: 20, maxRetryDelayInMs: 1500 },
    pollIntervalMs: 20,
  });

const transientFaults: Record<TransientFault, Omit<KvFault, 'path'>> = {
  throttled: { status: 429, retryAfterSeconds: 1 },
  'server-error': { status: 500 },
  'connection-reset': { reset: true },
};

describeSecretStoreContract(
  'key vault',
  { softDelete: true, retriedFaults: ['throttled', 'server-error', 'connection-reset'] },
  async () => {
    const kv = await startFakeKeyVault({ pageSize: 3 });
    return {
      store: storeFor(kv),
      reopen: () => storeFor(kv),
      close: () => kv.close(),
      softDelete: {
        deletedOf: (gateway) =>
          [...kv.deleted.values()].filter((d) => d.versions.at(-1)?.tags?.['gateway'] === gateway).length,
        refuseRecovery: () =>
          void kv.addFault({
            method: 'POST',
            path: /^\/deletedsecrets\/[^/]+\/recover$/,
            every: true,
            status: 403,
          }),
      },
      faults: {
        failNext: (fault) => kv.addFault({ path: /^\/secrets/, nth: 1, ...transientFaults[fault] }),
        startOutage: () => void kv.addFault({ path: /^\//, every: true, status: 503 }),
        clear: () => kv.clearFaults(),
        // after the SDK's retries: an UpstreamError the caller may retry later
        outageError: { type: UpstreamError, fields: { transient: true } },
      },
    };
  },
);

describe('KeyVaultSecretStore on the wire', () => {
  let kv: FakeKeyVault;
  beforeAll(async () => {
    kv = await startFakeKeyVault({ pageSize: 2 });
  });
  afterAll(async () => kv?.close());

  it('a recovery that fails on a Key Vault outage is a transient UpstreamError, not "cannot be recovered"', async () => {
    const store = storeFor(kv, 1);
    await store.putCa('outage', { certPem: 'c', keyPem: 'k' });
    await store.deleteGateway('outage', []);
    const fault = kv.addFault({
      method: 'POST',
      path: /^\/deletedsecrets\/[^/]+\/recover$/,
      every: true,
      status: 503,
    });
    const error = await store.putCa('outage', { certPem: 'c2', keyPem: 'k2' }).catch((e: unknown) => e);
    kv.clearFaults();
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as UpstreamError).transient).toBe(true);
    expect((error as Error).message).toMatch(/recovering soft-deleted/);
    // the SDK retried the recovery once (maxRetries 1) before giving up
    expect(fault.hits()).toBe(2);
    // once the vault is back, the same call recovers and overwrites
    await store.putCa('outage', { certPem: 'c3', keyPem: 'k3' });
    expect(await store.getCa('outage')).toStrictEqual({ certPem: 'c3', keyPem: 'k3' });
  });

  it('names, tags, content type and expiry of a client secret', async () => {
    const store = storeFor(kv);
    await store.putClient(
      'gw',
      'site-a',
      { certPem: 'c', keyPem: 'k', profile: 'p' },
      { serial: '7f01', notAfter: '2027-11-22T12:00:00.000Z' },
    );
    const name = secretName('gw', 'site-a');
    expect(name).toMatch(/^gw--client--site-a--[0-9a-f]{32}$/);
    const [version] = kv.secrets.get(name)!;
    expect(version!.contentType).toBe('application/json');
    expect(version!.tags).toStrictEqual({
      kind: 'client',
      gateway: 'gw',
      client: 'site-a',
      serial: '7f01',
      notAfter: '2027-11-22T12:00:00.000Z',
    });
    expect(version!.attributes.exp).toBe(Date.parse('2027-11-22T12:00:00.000Z') / 1000);
    expect(JSON.parse(version!.value)).toStrictEqual({ certPem: 'c', keyPem: 'k', profile: 'p' });
  });

  it.each([
    ['a CA', () => secretName('z'.repeat(63)), /^z{63}--ca--[0-9a-f]{32}$/],
    ['a client', () => secretName('z'.repeat(63), 'z'.repeat(63)), /^z{63}--client--z{20}--[0-9a-f]{32}$/],
  ])('names %s of the longest gateway and client within 127 characters', (_case, name, expected) => {
    expect(name()).toMatch(expected);
    expect(name().length).toBeLessThanOrEqual(127);
  });

  it('refuses a secret whose tags name another item, and never deletes it with the gateway of those tags', async () => {
    const store = storeFor(kv);
    await store.putCa('tagged', { certPem: 'c', keyPem: 'k' });
    const [version] = kv.secrets.get(secretName('tagged'))!;
    version!.tags = { kind: 'ca', gateway: 'someone-else' };
    const error = await store.getCa('tagged').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalError);
    expect((error as Error).message).toMatch(/is tagged .*someone-else.*not as the item its name is for/);
    // nor counts it as the other gateway's: deleting that gateway leaves it alone
    await store.deleteGateway('someone-else', []);
    expect(kv.secrets.has(secretName('tagged'))).toBe(true);
  });

  it('deletes a gateway when one of its secrets disappears between listing and deleting (404 tolerated)', async () => {
    const store = storeFor(kv);
    await store.putCa('racing', { certPem: 'c', keyPem: 'k' });
    for (const client of ['c1', 'c2'])
      await store.putClient(
        'racing',
        client,
        { certPem: 'c', profile: 'p' },
        { serial: '01', notAfter: '2027-01-01T00:00:00.000Z' },
      );
    const deletedMeanwhile: string[] = [];
    // another instance soft-deletes the first secret we are about to delete
    const race = kv.addFault({
      method: 'DELETE',
      path: /^\/secrets\/racing--/,
      meanwhile: (name) => {
        kv.deleted.set(name, { versions: kv.secrets.get(name)!, deletedDate: Math.floor(Date.now() / 1000) });
        kv.secrets.delete(name);
        deletedMeanwhile.push(name);
      },
    });
    const before = kv.requests.length;
    try {
      await store.deleteGateway('racing', ['c1', 'c2']);
    } finally {
      kv.clearFaults();
    }
    expect(race.hits()).toBe(1);
    const notFound = kv.requests.slice(before).filter((r) => r.method === 'DELETE' && r.status === 404);
    expect(notFound.map((r) => r.path.split('?')[0])).toStrictEqual([`/secrets/${deletedMeanwhile[0]}`]);
    expect(await store.getCa('racing')).toBeUndefined();
    expect(await store.listClients('racing', ['c1', 'c2'])).toStrictEqual([]);
    expect([...kv.deleted.keys()].filter((n) => n.startsWith('racing--')).sort()).toStrictEqual(
      [secretName('racing'), secretName('racing', 'c1'), secretName('racing', 'c2')].sort(),
    );
  });

  describe("a gateway's secrets, by the names in its state", () => {
    const info = (serial: string) => ({ serial, notAfter: '2027-01-01T00:00:00.000Z' });
    const material = { certPem: 'c', profile: 'p' };
    /** The requests made since `from`, as `METHOD /path` without the query and the challenge round. */
    const madeSince = (from: number) =>
      kv.requests
        .slice(from)
        .filter((r) => r.status !== 401)
        .map((r) => `${r.method} ${r.path.split('?')[0] ?? ''}`);
    const vaultListings = (made: string[]) =>
      made.filter((r) => r === 'GET /secrets' || r === 'GET /secrets/');

    beforeAll(async () => {
      // GIVEN a vault where 24 secrets are other gateways', and gateway `mine` has a CA and 3 clients,
      // `c` re-issued twice and `b` revoked
      const store = storeFor(kv);
      for (let i = 0; i < 24; i += 1) await store.putClient(`other-${i % 4}`, `x${i}`, material, info('01'));
      await store.putCa('mine', { certPem: 'c', keyPem: 'k' });
      for (const client of ['a', 'b', 'c']) await store.putClient('mine', client, material, info('0a'));
      for (const serial of ['0b', '0c']) await store.putClient('mine', 'c', material, info(serial));
      await store.revokeClient('mine', 'b');
    });

    it('lists them with one request per named client and never lists the vault', async () => {
      const before = kv.requests.length;
      // WHEN the store lists the clients the state names (one of which it never stored)
      const listed = await storeFor(kv).listClients('mine', ['a', 'b', 'c', 'absent']);
      // THEN it finds each with its latest serial and whether it is enabled
      expect(listed.sort((x, y) => x.client.localeCompare(y.client))).toStrictEqual([
        { gateway: 'mine', client: 'a', ...info('0a'), enabled: true },
        { gateway: 'mine', client: 'b', ...info('0a'), enabled: false },
        { gateway: 'mine', client: 'c', ...info('0c'), enabled: true },
      ]);
      // by reading the versions of those four names, one request each, and nothing else
      const made = madeSince(before);
      expect(vaultListings(made)).toStrictEqual([]);
      expect(made.sort()).toStrictEqual(
        ['a', 'b', 'c', 'absent'].map((c) => `GET /secrets/${secretName('mine', c)}/versions`).sort(),
      );
    });

    it('deletes the CA and the named clients only, by name, and never lists the vault', async () => {
      const others = [...kv.secrets.keys()].filter((n) => n.startsWith('other-'));
      const before = kv.requests.length;
      // WHEN the gateway is deleted with the names its state held
      await storeFor(kv).deleteGateway('mine', ['a', 'b', 'c', 'absent']);
      // THEN one DELETE per name (the absent one a tolerated 404), then the polls of those deletions
      const made = madeSince(before);
      expect(vaultListings(made)).toStrictEqual([]);
      const names = [secretName('mine'), ...['a', 'b', 'c', 'absent'].map((c) => secretName('mine', c))];
      expect(made.filter((r) => r.startsWith('DELETE')).sort()).toStrictEqual(
        names.map((n) => `DELETE /secrets/${n}`).sort(),
      );
      expect(
        made.every((r) => r.startsWith('DELETE ') || names.some((n) => r === `GET /deletedsecrets/${n}`)),
      ).toBe(true);
      // and the other gateways' 24 secrets are untouched
      expect([...kv.secrets.keys()].filter((n) => n.startsWith('other-'))).toStrictEqual(others);
      expect(others).toHaveLength(24);
      expect([...kv.secrets.keys()].filter((n) => n.startsWith('mine--'))).toStrictEqual([]);
    });
  });

  it('answers the challenge before sending a token', () => {
    expect(kv.requests[0]).toMatchObject({ status: 401 });
  });
});
