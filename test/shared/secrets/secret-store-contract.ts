/**
 * The SecretStore contract, written once and run against every adapter.
 *
 * Some behaviours only some stores have (soft delete, retried transient faults). A store
 * declares them in `behaviours` when the suite is registered, and cases for behaviours it lacks are not
 * generated for it at all (never registered as skipped); each such case names its behaviour in its title.
 * Every store gets the cases that make sense everywhere: many clients listed completely by name, delete
 * and re-create, and an outage of the backing store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainError } from '../../../shared/errors.js';
import { ConflictError } from '../../../shared/errors.js';
import type { SecretStore } from '../../../shared/model/secret-store.js';

/** Faults a store is expected to ride out by retrying: the call succeeds as if nothing happened. */
export type TransientFault = 'throttled' | 'server-error' | 'connection-reset';

export interface SecretStoreBehaviours {
  /** Deleted items stay recoverable for a while (a `softDelete` hook is required). */
  readonly softDelete: boolean;
  /** Transient faults the store retries (`faults.failNext` is required when not empty). */
  readonly retriedFaults: readonly TransientFault[];
}

export interface SecretStoreTarget {
  readonly store: SecretStore;
  /** A second store over the same backing data (a restart). */
  reopen(): SecretStore;
  close(): Promise<void>;
  readonly softDelete?: {
    /** How many items of the gateway are soft-deleted (recoverable). */
    deletedOf(gateway: string): number;
    /** Recovering a soft-deleted item fails (as when the identity may not recover) until `faults.clear`. */
    refuseRecovery(): void;
  };
  readonly faults: {
    /** The backend's next request fails this way, once; `hits` tells whether it has. */
    failNext?(fault: TransientFault): { hits(): number };
    /** Every operation on the backing store fails until `clear`. */
    startOutage(): void | Promise<void>;
    /** Ends any fault or outage. */
    clear(): void | Promise<void>;
    /** What an outage surfaces as: this type, with these fields. */
    readonly outageError: {
      readonly type: abstract new (...args: never[]) => DomainError;
      readonly fields: Readonly<Record<string, unknown>>;
    };
  };
}

function need<T>(hook: T | undefined, what: string): T {
  if (hook === undefined) throw new Error(`the target declares ${what} but has no hook for it`);
  return hook;
}

const ca = {
  certPem: '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n',
  keyPem: '-----BEGIN RSA PRIVATE KEY-----\nS0VZ\n-----END RSA PRIVATE KEY-----\n',
};
const bundle = (n: string) => ({ certPem: `cert-${n}`, keyPem: `key-${n}`, profile: `profile-${n}` });
const notAfter = '2027-11-22T12:00:00.000Z';
/** A 63-character DNS label (the longest), differing from its siblings only in its last character. */
const longest = (last: string) => `${'x-'.repeat(31)}${last}`;

export function describeSecretStoreContract(
  name: string,
  behaviours: SecretStoreBehaviours,
  start: () => Promise<SecretStoreTarget>,
): void {
  const declared = [
    behaviours.softDelete ? 'soft delete' : 'hard delete',
    behaviours.retriedFaults.length ? `retries ${behaviours.retriedFaults.join(', ')}` : 'no retries',
  ];
  describe(`SecretStore contract: ${name} (${declared.join('; ')})`, () => {
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
      const listed = (await t.store.listClients('gw-a', ['c1', 'c2', 'nobody'])).sort((a, b) =>
        a.client.localeCompare(b.client),
      );
      expect(listed).toStrictEqual([
        { gateway: 'gw-a', client: 'c1', serial: '0a', notAfter: '2027-11-22T12:00:00.000Z', enabled: false },
        { gateway: 'gw-a', client: 'c2', serial: '0b', notAfter: '2027-11-22T12:00:00.000Z', enabled: true },
      ]);
    });

    describe('many clients', () => {
      it('every store: lists all 30 named clients of a gateway, only those it holds, and only that gateway', async () => {
        for (let i = 0; i < 30; i += 1)
          await t.store.putClient('gw-b', `c${i}`, bundle(String(i)), {
            serial: `${i + 10}`,
            notAfter: '2027-11-22T12:00:00.000Z',
          });
        const names = Array.from({ length: 30 }, (_, i) => `c${i}`);
        const listed = await t.store.listClients('gw-b', [...names, 'never-issued', 'c0']);
        expect(listed.map((c) => c.client).sort()).toStrictEqual([...names].sort());
        expect(listed.every((c) => c.gateway === 'gw-b' && c.enabled)).toBe(true);
        expect(await t.store.listClients('gw-a', names)).toHaveLength(2);
      });
    });

    it('deletes everything of a gateway, tolerating what is already gone, and can re-create it', async () => {
      const names = Array.from({ length: 30 }, (_, i) => `c${i}`);
      await t.store.deleteGateway('gw-b', names);
      await t.store.deleteGateway('gw-b', names);
      await t.store.deleteGateway('never-existed', ['c1']);
      expect(await t.store.listClients('gw-b', names)).toStrictEqual([]);
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

      expect((await t.store.listClients('a', ['c', 'd'])).map((c) => [c.gateway, c.client])).toStrictEqual([
        ['a', 'c'],
      ]);
      await t.store.deleteGateway('a', ['c', 'd']);

      expect(await t.store.getCa('a')).toBeUndefined();
      expect(await t.store.listClients('a', ['c', 'd'])).toStrictEqual([]);
      expect(await t.store.getCa('a--b')).toStrictEqual({ certPem: 'ca-a--b', keyPem: 'key-a--b' });
      expect(await t.store.getClient('a--b', 'c')).toStrictEqual(bundle('a--b/c'));
      expect(
        (await t.store.listClients('a--b', ['c', 'd'])).map((c) => [c.gateway, c.client]).sort(),
      ).toStrictEqual([
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
      expect(
        (await t.store.listClients(g1, [c1, c2])).map((c) => [c.client, c.enabled]).sort(),
      ).toStrictEqual([
        [c1, false],
        [c2, true],
      ]);
      await t.store.deleteGateway(g1, [c1, c2]);
      expect(await t.store.getCa(g1)).toBeUndefined();
      expect(await t.store.listClients(g1, [c1, c2])).toStrictEqual([]);
      expect(await t.store.getCa(g2)).toStrictEqual({ certPem: 'ca-2', keyPem: 'key-2' });
      expect((await t.store.listClients(g2, [c1, c2])).map((c) => c.client)).toStrictEqual([c1]);
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
      // Every client name of both cases, asked of every gateway: only a gateway's own come back.
      const names = ['y--ca', 'q--client--r', 'r'];
      const clientsOf = async (g: string) =>
        (await t.store.listClients(g, names)).map((c) => [c.gateway, c.client]);
      await put(first, 'first');
      await put(second, 'second');

      expect(await get(first)).toStrictEqual(bundle('first'));
      expect(await get(second)).toStrictEqual(
        second.length === 1 ? { certPem: 'ca-second', keyPem: 'key-second' } : bundle('second'),
      );
      expect(await clientsOf(first[0])).toStrictEqual([[...first]]);
      expect(await clientsOf(second[0])).toStrictEqual(second.length === 1 ? [] : [[...second]]);
      await t.store.deleteGateway(second[0], names);
      expect(await get(second)).toBeUndefined();
      expect(await get(first)).toStrictEqual(bundle('first'));
      await t.store.deleteGateway(first[0], names);
    });

    describe('soft delete', () => {
      it('every store: a deleted gateway is created again under the same names, and nothing deleted comes back', async () => {
        await t.store.putCa('again', { certPem: 'old', keyPem: 'old' });
        await t.store.putClient('again', 'kept', bundle('old-kept'), { serial: '01', notAfter });
        await t.store.putClient('again', 'gone', bundle('old-gone'), { serial: '02', notAfter });
        await t.store.revokeClient('again', 'kept');
        await t.store.deleteGateway('again', ['kept', 'gone']);

        await t.store.putCa('again', { certPem: 'new', keyPem: 'new' });
        await t.store.putClient('again', 'kept', bundle('new-kept'), { serial: '03', notAfter });
        expect(await t.store.getCa('again')).toStrictEqual({ certPem: 'new', keyPem: 'new' });
        expect(await t.store.getClient('again', 'kept')).toStrictEqual(bundle('new-kept'));
        expect(await t.store.getClient('again', 'gone')).toBeUndefined();
        expect(await t.store.listClients('again', ['kept', 'gone'])).toStrictEqual([
          { gateway: 'again', client: 'kept', serial: '03', notAfter, enabled: true },
        ]);
      });

      if (behaviours.softDelete)
        it('soft-deleting stores only: deleted items stay recoverable, and writing one recovers it', async () => {
          const softDelete = need(t.softDelete, 'softDelete');
          await t.store.putCa('recoverable', { certPem: 'old', keyPem: 'old' });
          await t.store.putClient('recoverable', 'c1', bundle('old'), { serial: '01', notAfter });
          await t.store.deleteGateway('recoverable', ['c1']);
          expect(softDelete.deletedOf('recoverable')).toBe(2);

          await t.store.putCa('recoverable', { certPem: 'new', keyPem: 'new' });
          expect(softDelete.deletedOf('recoverable')).toBe(1);
          expect(await t.store.getCa('recoverable')).toStrictEqual({ certPem: 'new', keyPem: 'new' });
          expect(await t.store.getClient('recoverable', 'c1')).toBeUndefined();
        });

      if (behaviours.softDelete)
        it('soft-deleting stores only: writing a soft-deleted name that cannot be recovered is a ConflictError saying so', async () => {
          const softDelete = need(t.softDelete, 'softDelete');
          await t.store.putCa('blocked', { certPem: 'old', keyPem: 'old' });
          await t.store.deleteGateway('blocked', []);
          softDelete.refuseRecovery();
          try {
            const error = await t.store.putCa('blocked', ca).catch((e: unknown) => e);
            expect(error).toBeInstanceOf(ConflictError);
            expect((error as ConflictError).message).toMatch(
              /\bblocked\b.* is soft-deleted and could not be recovered \(purge it, or wait for the retention period\)/,
            );
            expect((error as ConflictError).cause).toBeDefined();
            expect(softDelete.deletedOf('blocked')).toBe(1);
          } finally {
            await t.faults.clear();
          }
          await t.store.putCa('blocked', ca);
          expect(await t.store.getCa('blocked')).toStrictEqual(ca);
        });
    });

    describe('injected faults', () => {
      it('every store: an outage of the backing store fails every operation with a typed error, losing nothing', async () => {
        await t.store.putCa('outage', ca);
        await t.store.putClient('outage', 'c1', bundle('1'), { serial: '01', notAfter });
        const { type, fields } = t.faults.outageError;
        await t.faults.startOutage();
        try {
          const operations: [string, () => Promise<unknown>][] = [
            ['putCa', () => t.store.putCa('outage', { certPem: 'lost', keyPem: 'lost' })],
            ['getCa', () => t.store.getCa('outage')],
            ['putClient', () => t.store.putClient('outage', 'c2', bundle('2'), { serial: '02', notAfter })],
            ['getClient', () => t.store.getClient('outage', 'c1')],
            ['revokeClient', () => t.store.revokeClient('outage', 'c1')],
            ['listClients', () => t.store.listClients('outage', ['c1'])],
            ['deleteGateway', () => t.store.deleteGateway('outage', ['c1'])],
          ];
          for (const [operation, run] of operations) {
            const error = await run().then(
              () => new Error(`${operation} succeeded during the outage`),
              (e: unknown) => e,
            );
            expect(error, operation).toBeInstanceOf(type);
            for (const [field, value] of Object.entries(fields))
              expect((error as Record<string, unknown>)[field], `${operation}: ${field}`).toBe(value);
          }
        } finally {
          await t.faults.clear();
        }
        expect(await t.store.getCa('outage')).toStrictEqual(ca);
        expect(await t.store.getClient('outage', 'c1')).toStrictEqual(bundle('1'));
        expect(await t.store.listClients('outage', ['c1', 'c2'])).toStrictEqual([
          { gateway: 'outage', client: 'c1', serial: '01', notAfter, enabled: true },
        ]);
      });

      for (const fault of behaviours.retriedFaults)
        it(`retrying stores only: a read and a write ride out one ${fault}`, async () => {
          const failNext = need(t.faults.failNext, `retriedFaults: ${fault}`);
          await t.store.putCa('faults', ca);
          try {
            const onRead = failNext(fault);
            expect(await t.store.getCa('faults')).toStrictEqual(ca);
            expect(onRead.hits()).toBe(1);
            const onWrite = failNext(fault);
            await t.store.putClient('faults', fault, bundle(fault), { serial: '01', notAfter });
            expect(onWrite.hits()).toBe(1);
          } finally {
            await t.faults.clear();
          }
          expect(await t.store.getClient('faults', fault)).toStrictEqual(bundle(fault));
        });
    });
  });
}
