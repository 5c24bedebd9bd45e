import type { AccessToken, TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../shared/errors.js';
import { KeyVaultSecretStore } from '../../../shared/secrets/key-vault-store.js';
import type { FakeKeyVault } from '../../fakes/key-vault-server.js';
import { startFakeKeyVault } from '../../fakes/key-vault-server.js';
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

describeSecretStoreContract('key vault', async () => {
  const kv = await startFakeKeyVault({ pageSize: 3 });
  return { store: storeFor(kv), reopen: () => storeFor(kv), close: () => kv.close() };
});

describe('KeyVaultSecretStore on the wire', () => {
  let kv: FakeKeyVault;
  beforeAll(async () => {
    kv = await startFakeKeyVault({ pageSize: 2 });
  });
  afterAll(async () => kv?.close());

  it('names, tags, content type and expiry of a client secret', async () => {
    const store = storeFor(kv);
    await store.putClient(
      'gw',
      'site-a',
      { certPem: 'c', keyPem: 'k', profile: 'p' },
      { serial: '7f01', notAfter: '2027-11-22T12:00:00.000Z' },
    );
    const [version] = kv.secrets.get('gw--client--site-a')!;
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

  it('answers the challenge before sending a token', () => {
    expect(kv.requests[0]).toMatchObject({ status: 401 });
  });

  it('pages through listings with nextLink', async () => {
    const store = storeFor(kv);
    for (let i = 0; i < 7; i += 1)
      await store.putClient(
        'paged',
        `c${i}`,
        { certPem: 'c', profile: 'p' },
        { serial: `${i}`, notAfter: '2027-01-01T00:00:00.000Z' },
      );
    const before = kv.requests.length;
    expect(await store.listClients('paged')).toHaveLength(7);
    const listCalls = kv.requests.slice(before).filter((r) => r.path.startsWith('/secrets?'));
    // two secrets a page: every page was fetched by following nextLink
    expect(listCalls.length).toBe(Math.ceil(kv.secrets.size / 2));
  });

  it('recovers a soft-deleted name when the gateway is created again', async () => {
    const store = storeFor(kv);
    await store.putCa('again', { certPem: 'old', keyPem: 'old' });
    await store.deleteGateway('again');
    expect(kv.deleted.has('again--ca')).toBe(true);
    await store.putCa('again', { certPem: 'new', keyPem: 'new' });
    expect(await store.getCa('again')).toStrictEqual({ certPem: 'new', keyPem: 'new' });
    expect(kv.deleted.has('again--ca')).toBe(false);
  });

  it.each([
    ['429 with Retry-After', { status: 429, retryAfterSeconds: 1 }],
    ['a 500', { status: 500 }],
    ['a connection reset', { reset: true }],
  ])('retries %s and succeeds', async (_case, fault) => {
    const store = storeFor(kv);
    await store.putCa('retry', { certPem: 'c', keyPem: 'k' });
    kv.addFault({ method: 'GET', path: /^\/secrets\/retry--ca/, nth: 1, ...fault });
    try {
      expect(await store.getCa('retry')).toStrictEqual({ certPem: 'c', keyPem: 'k' });
    } finally {
      kv.clearFaults();
    }
  });

  it('gives up on a persistent 503 with a transient UpstreamError (no raw SDK error)', async () => {
    const store = storeFor(kv, 1);
    for (let nth = 1; nth <= 3; nth += 1)
      kv.addFault({ method: 'GET', path: /^\/secrets\/retry--ca/, nth, status: 503 });
    try {
      const error = await store.getCa('retry').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).transient).toBe(true);
    } finally {
      kv.clearFaults();
    }
  });
});
