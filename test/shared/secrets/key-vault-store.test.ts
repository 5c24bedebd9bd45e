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
  { pagedListing: true, softDelete: true, retriedFaults: ['throttled', 'server-error', 'connection-reset'] },
  async () => {
    const kv = await startFakeKeyVault({ pageSize: 3 });
    return {
      store: storeFor(kv),
      reopen: () => storeFor(kv),
      close: () => kv.close(),
      paging: {
        pageSize: 3,
        listRequests: () =>
          kv.requests.filter((r) => r.method === 'GET' && /^\/secrets\?/.test(r.path)).length,
      },
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
    await store.deleteGateway('outage');
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
    await store.deleteGateway('someone-else');
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
      await store.deleteGateway('racing');
    } finally {
      kv.clearFaults();
    }
    expect(race.hits()).toBe(1);
    const notFound = kv.requests.slice(before).filter((r) => r.method === 'DELETE' && r.status === 404);
    expect(notFound.map((r) => r.path.split('?')[0])).toStrictEqual([`/secrets/${deletedMeanwhile[0]}`]);
    expect(await store.getCa('racing')).toBeUndefined();
    expect(await store.listClients('racing')).toStrictEqual([]);
    expect([...kv.deleted.keys()].filter((n) => n.startsWith('racing--')).sort()).toStrictEqual(
      [secretName('racing'), secretName('racing', 'c1'), secretName('racing', 'c2')].sort(),
    );
  });

  it('answers the challenge before sending a token', () => {
    expect(kv.requests[0]).toMatchObject({ status: 401 });
  });
});
