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
const notAfter = '2027-11-22T12:00:00.000Z';
/** A 63-character DNS label (the longest), differing from its siblings only in its last character. */
const longest = (last: string) => `${'x-'.repeat(31)}${last}`;

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

    it('stores gateways and clients with the longest names (63 characters each) apart', async () => {
      const [g1, g2, c1, c2] = [longest('1'), longest('2'), longest('a'), longest('b')];
      expect([g1, c1].map((n) => n.length)).toStrictEqual([63, 63]);
      await t.store.putCa(g1, { certPem: 'ca-1', keyPem: 'key-1' });
      await t.store.putCa(g2, { certPem: 'ca-2', keyPem: 'key-2' });
      for (const [g, c] of [
        [g1, c1],
        [g1, c2],
        [g2, c1],
      ] as const)
        await t.store.putClient(g, c, bundle(`${g.at(-1)}/${c.at(-1)}`), { serial: '01', notAfter });

      expect(await t.store.getCa(g1)).toStrictEqual({ certPem: 'ca-1', keyPem: 'key-1' });
      expect(await t.store.getClient(g1, c2)).toStrictEqual(bundle('1/b'));
      expect(await t.store.getClient(g2, c1)).toStrictEqual(bundle('2/a'));
      await t.store.revokeClient(g1, c1);
      expect(await t.store.getClient(g1, c1)).toBeUndefined();
      expect(await t.store.getClient(g2, c1)).toStrictEqual(bundle('2/a'));
      expect((await t.store.listClients(g1)).map((c) => [c.client, c.enabled]).sort()).toStrictEqual([
        [c1, false],
        [c2, true],
      ]);
      await t.store.deleteGateway(g1);
      expect(await t.store.getCa(g1)).toBeUndefined();
      expect(await t.store.listClients(g1)).toStrictEqual([]);
      expect(await t.store.getCa(g2)).toStrictEqual({ certPem: 'ca-2', keyPem: 'key-2' });
      expect((await t.store.listClients(g2)).map((c) => c.client)).toStrictEqual([c1]);
    });

    it.each([
      // gateway 'x' + client 'y--ca' and the CA of gateway 'x--client--y' read alike when joined with '--'
      ["a client and another gateway's CA", ['x', 'y--ca'], ['x--client--y']],
      // gateway 'p' + client 'q--client--r' and gateway 'p--client--q' + client 'r' likewise
      ['two clients of different gateways', ['p', 'q--client--r'], ['p--client--q', 'r']],
    ] as const)('keeps %s apart whose names joined with "--" are equal', async (_case, first, second) => {
      const put = async ([g, c]: readonly string[], n: string) =>
        c === undefined
          ? t.store.putCa(g!, { certPem: `ca-${n}`, keyPem: `key-${n}` })
          : t.store.putClient(g!, c, bundle(n), { serial: '01', notAfter });
      const get = async ([g, c]: readonly string[]) =>
        c === undefined ? t.store.getCa(g!) : t.store.getClient(g!, c);
      const clientsOf = async (g: string) => (await t.store.listClients(g)).map((c) => [c.gateway, c.client]);
      await put(first, 'first');
      await put(second, 'second');

      expect(await get(first)).toStrictEqual(bundle('first'));
      expect(await get(second)).toStrictEqual(
        second.length === 1 ? { certPem: 'ca-second', keyPem: 'key-second' } : bundle('second'),
      );
      expect(await clientsOf(first[0])).toStrictEqual([[...first]]);
      expect(await clientsOf(second[0])).toStrictEqual(second.length === 1 ? [] : [[...second]]);
      await t.store.deleteGateway(second[0]);
      expect(await get(second)).toBeUndefined();
      expect(await get(first)).toStrictEqual(bundle('first'));
      await t.store.deleteGateway(first[0]);
    });
  });
}
