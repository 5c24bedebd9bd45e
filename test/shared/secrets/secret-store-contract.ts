/** The SecretStore contract, written once and run against every adapter. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretStore } from '../../../shared/secrets/secret-store.js';

export interface SecretStoreTarget {
  readonly store: SecretStore;
  /** A second store over the same backing data (a restart). */
  reopen(): SecretStore;
  close(): Promise<void>;
}

const ca = {
  certPem: '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN RSA PRIVATE KEY-----\nS0VZ\n-----END RSA PRIVATE KEY-----\n',
};
const bundle = (n: string) => ({ certPem: `cert-${n}`, keyPem: `key-${n}`, profile: `profile-${n}` });

export function describeSecretStoreContract(name: string, start: () => Promise<SecretStoreTarget>): void {
  describe(`SecretStore contract: ${name}`, () => {
    let t: SecretStoreTarget;
    beforeAll(async () => {
      t = await start();
    });
    afterAll(async () => t?.close());

    it('stores and returns the CA, and survives a restart', async () => {
      expect(await t.store.getCa('gw-a')).toBeUndefined();
      await t.store.putCa('gw-a', ca);
      expect(await t.store.getCa('gw-a')).toStrictEqual(ca);
      expect(await t.reopen().getCa('gw-a')).toStrictEqual(ca);
    });

    it('stores client bundles with and without a key', async () => {
      await t.store.putClient('gw-a', 'c1', bundle('1'), {
        serial: '0a',
        notAfter: '2027-11-22T12:00:00.000Z',
      });
      await t.store.putClient(
        'gw-a',
        'c2',
        { certPem: 'cert-2', profile: 'profile-2' },
        { serial: '0b', notAfter: '2027-11-22T12:00:00.000Z' },
      );
      expect(await t.store.getClient('gw-a', 'c1')).toStrictEqual(bundle('1'));
      expect(await t.store.getClient('gw-a', 'c2')).toStrictEqual({
        certPem: 'cert-2',
        profile: 'profile-2',
      });
      expect(await t.store.getClient('gw-a', 'nobody')).toBeUndefined();
    });

    it('revokes by disabling: kept and listed for audit, no longer returned', async () => {
      await t.store.revokeClient('gw-a', 'c1');
      await t.store.revokeClient('gw-a', 'c1');
      await t.store.revokeClient('gw-a', 'nobody');
      expect(await t.store.getClient('gw-a', 'c1')).toBeUndefined();
      const listed = (await t.store.listClients('gw-a')).sort((a, b) => a.client.localeCompare(b.client));
      expect(listed).toStrictEqual([
        { gateway: 'gw-a', client: 'c1', serial: '0a', notAfter: '2027-11-22T12:00:00.000Z', enabled: false },
        { gateway: 'gw-a', client: 'c2', serial: '0b', notAfter: '2027-11-22T12:00:00.000Z', enabled: true },
      ]);
    });

    it('lists only the gateway asked for, across many clients', async () => {
      for (let i = 0; i < 30; i += 1)
        await t.store.putClient('gw-b', `c${i}`, bundle(String(i)), {
          serial: `${i + 10}`,
          notAfter: '2027-11-22T12:00:00.000Z',
        });
      expect(await t.store.listClients('gw-b')).toHaveLength(30);
      expect(await t.store.listClients('gw-a')).toHaveLength(2);
    });

    it('deletes everything of a gateway, tolerating what is already gone, and can re-create it', async () => {
      await t.store.deleteGateway('gw-b');
      await t.store.deleteGateway('gw-b');
      await t.store.deleteGateway('never-existed');
      expect(await t.store.listClients('gw-b')).toStrictEqual([]);
      expect(await t.store.getClient('gw-b', 'c1')).toBeUndefined();
      await t.store.putClient('gw-b', 'c1', bundle('again'), {
        serial: '99',
        notAfter: '2027-11-22T12:00:00.000Z',
      });
      expect(await t.store.getClient('gw-b', 'c1')).toStrictEqual(bundle('again'));
      expect(await t.store.getCa('gw-a')).toStrictEqual(ca);
    });

    it("keeps gateway 'a' apart from gateway 'a--b' when listing and deleting", async () => {
      const info = { serial: '01', notAfter: '2027-11-22T12:00:00.000Z' };
      await t.store.putCa('a', { certPem: 'ca-a', keyPem: 'key-a' });
      await t.store.putClient('a', 'c', bundle('a/c'), info);
      await t.store.putCa('a--b', { certPem: 'ca-a--b', keyPem: 'key-a--b' });
      await t.store.putClient('a--b', 'c', bundle('a--b/c'), info);
      await t.store.putClient('a--b', 'd', bundle('a--b/d'), info);

      expect((await t.store.listClients('a')).map((c) => [c.gateway, c.client])).toStrictEqual([['a', 'c']]);
      await t.store.deleteGateway('a');

      expect(await t.store.getCa('a')).toBeUndefined();
      expect(await t.store.listClients('a')).toStrictEqual([]);
      expect(await t.store.getCa('a--b')).toStrictEqual({ certPem: 'ca-a--b', keyPem: 'key-a--b' });
      expect(await t.store.getClient('a--b', 'c')).toStrictEqual(bundle('a--b/c'));
      expect((await t.store.listClients('a--b')).map((c) => [c.gateway, c.client]).sort()).toStrictEqual([
        ['a--b', 'c'],
        ['a--b', 'd'],
      ]);
    });
  });
}
