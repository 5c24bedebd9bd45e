import { describe, expect, it } from 'vitest';
import { writeCcdEntries } from '../../../shared/gateways/ccd.js';
import { convergeCcd } from '../../../shared/gateways/ccd-convergence.js';
import { completeIssue } from '../../../shared/gateways/client-lifecycle.js';
import { replaceClientSubnets } from '../../../shared/gateways/client-subnets.js';
import { issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import { readState, updateState } from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { reconcileGateway } from '../../../shared/gateways/reconcile.js';
import type { KubeObject } from '../../../shared/model/cluster-port.js';
import type { ClientRecord, GatewayState } from '../../../shared/model/gateway.js';
import { CCD_SHARDS, ccdObjectOf, ccdShardName } from '../../../shared/model/names.js';
import { planAddresses, renderCcdEntry } from '../../../shared/openvpn/index.js';
import { storedCcdEntries } from '../../support/ccd-entries.js';
import { clientInvariantViolations } from '../../support/client-invariants.js';
import { makeLegacyCcd } from '../../support/legacy-ccd.js';
import type { Harness } from './harness.js';
import { makeHarness } from './harness.js';

const entryOf = (ip: string, subnets?: readonly string[]) =>
  renderCcdEntry(planAddresses('10.140.0.0/24'), ip, subnets);

/** The CCD volume of the gateway's Deployment. */
function ccdVolume(h: Harness): unknown {
  const deployment = [...h.cluster.objects.values()].find((o) => o.kind === 'Deployment') as KubeObject & {
    spec: { template: { spec: { volumes: { name: string }[] } } };
  };
  return deployment.spec.template.spec.volumes.find((v) => v.name === 'ccd' || v.name === 'ccd-shards');
}

const configMaps = (h: Harness) =>
  [...h.cluster.objects.values()]
    .filter((o) => o.kind === 'ConfigMap' && /^ccd(-\d+)?$/.test(o.metadata.name))
    .map((o) => o.metadata.name)
    .sort();

const shardNames = Array.from({ length: CCD_SHARDS }, (_, i) => ccdShardName(i)).sort();

/** A legacy gateway `gw` (single `ccd`, no layout recorded) with clients c0 … c<n-1>, issued on that layout. */
async function legacyGateway(clients: number): Promise<Harness> {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', {});
  await makeLegacyCcd(h.deps, 'gw');
  for (let i = 0; i < clients; i += 1) await issueClient(h.deps, 'gw', { name: `c${i}` });
  return h;
}

/** Records a pending issue of `name` at `ip` (the first write of an issue), as a request holding `state` would. */
async function reservePending(h: Harness, name: string, ip: string): Promise<[GatewayState, ClientRecord]> {
  const record: ClientRecord = {
    name,
    ip,
    serial: `5e${ip.split('.').at(-1) ?? '0'}`,
    issuedAt: '2026-11-22T12:00:00.000Z',
    notAfter: '2027-11-22T12:00:00.000Z',
    status: 'pending',
    keySource: 'generated',
  };
  const state = await updateState(h.cluster, 'gw', (s) => ({ ...s, clients: [...s.clients, record] }));
  return [state, record];
}

describe('CCD shards', () => {
  it('spreads a new gateway’s CCD entries over the shards, each in its name’s shard, mounted as one projected volume', async () => {
    // GIVEN a new gateway WHEN 40 clients are issued
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    for (let i = 0; i < 40; i += 1) await issueClient(h.deps, 'gw', { name: `c${i}` });
    // THEN its state records the layout, every shard exists, and each entry sits in its own shard
    expect((await readState(h.cluster, 'gw')).ccdShards).toBe(CCD_SHARDS);
    expect(configMaps(h)).toStrictEqual(shardNames);
    const stored = await storedCcdEntries(h.cluster, 'gw');
    expect(stored.misplaced).toStrictEqual([]);
    expect(Object.keys(stored.entries)).toHaveLength(40);
    const used = new Set(Object.keys(stored.entries).map((c) => ccdObjectOf(c, CCD_SHARDS)));
    expect(used.size).toBeGreaterThan(8);
    expect(ccdVolume(h)).toStrictEqual({
      name: 'ccd-shards',
      projected: {
        sources: Array.from({ length: CCD_SHARDS }, (_, i) => ({ configMap: { name: `ccd-${i}` } })),
      },
    });
    expect(await clientInvariantViolations(h.deps, 'gw')).toStrictEqual([]);
  });

  it('keeps issuing, changing subnets and revoking on the legacy `ccd` of a gateway made before shards', async () => {
    // GIVEN a legacy gateway with three clients issued on it
    const h = await legacyGateway(3);
    // WHEN one gets a LAN and another is revoked
    await replaceClientSubnets(h.deps, 'gw', 'c0', ['192.168.10.0/24']);
    await revokeClient(h.deps, 'gw', 'c1');
    // THEN the entries are in the legacy ConfigMap, and no shard was made
    expect(configMaps(h)).toStrictEqual(['ccd']);
    expect((await h.cluster.readConfigMap('vpn-gw', 'ccd'))?.data).toStrictEqual({
      c0: entryOf('10.140.0.2', ['192.168.10.0/24']),
      c2: entryOf('10.140.0.4'),
    });
    expect(ccdVolume(h)).toStrictEqual({ name: 'ccd', configMap: { name: 'ccd' } });
    expect((await readState(h.cluster, 'gw')).ccdShards).toBeUndefined();
    expect(await clientInvariantViolations(h.deps, 'gw')).toStrictEqual([]);
  });

  it('leaves a legacy gateway on its layout when the reconciler runs (only a PUT moves it and rolls its pod)', async () => {
    // GIVEN a legacy gateway older than the reconciler's creation-completion age
    const h = await legacyGateway(2);
    h.setNow(new Date('2026-11-23T12:00:00Z'));
    const before = h.cluster.snapshot();
    // WHEN the reconciler runs THEN nothing changed
    const report = await reconcileGateway(h.deps, 'gw');
    expect(report.errors).toStrictEqual([]);
    expect(h.cluster.snapshot()).toBe(before);
  });

  it('moves a legacy gateway to shards on its next PUT with every entry kept, and a repeated PUT changes nothing', async () => {
    // GIVEN a legacy gateway with 30 clients, one of them with a LAN, one revoked
    const h = await legacyGateway(30);
    await replaceClientSubnets(h.deps, 'gw', 'c3', ['192.168.10.0/24']);
    await revokeClient(h.deps, 'gw', 'c7');
    const legacyEntries = (await h.cluster.readConfigMap('vpn-gw', 'ccd'))?.data;
    expect(Object.keys(legacyEntries ?? {})).toHaveLength(29);
    // WHEN the gateway is PUT again with its spec unchanged
    const result = await putGateway(h.deps, 'gw', {});
    // THEN the state records the shards, they hold exactly the legacy entries, the legacy ConfigMap is gone,
    // and the Deployment mounts the shards (a new pod template: the Deployment rolls the pod itself)
    expect(result.created).toBe(false);
    expect((await readState(h.cluster, 'gw')).ccdShards).toBe(CCD_SHARDS);
    expect(configMaps(h)).toStrictEqual(shardNames);
    const stored = await storedCcdEntries(h.cluster, 'gw');
    expect(stored.entries).toStrictEqual(legacyEntries);
    expect(stored.misplaced).toStrictEqual([]);
    expect(ccdVolume(h)).toMatchObject({ projected: { sources: expect.any(Array) as unknown } });
    expect(await clientInvariantViolations(h.deps, 'gw')).toStrictEqual([]);
    // AND WHEN it is PUT once more THEN nothing changes
    const moved = h.cluster.snapshot();
    await putGateway(h.deps, 'gw', {});
    expect(h.cluster.snapshot()).toBe(moved);
  });

  it('puts the shards’ volume back at the next PUT when a roll back restored a template from before the move', async () => {
    // GIVEN a legacy gateway's pod template captured (as a roll does before it patches), then the move
    const h = await legacyGateway(2);
    const captured = (await h.cluster.readRollout('vpn-gw', 'openvpn')).template;
    await putGateway(h.deps, 'gw', {});
    // WHEN the roll restores the captured template, then the gateway is PUT unchanged
    await h.cluster.restorePodTemplate('vpn-gw', 'openvpn', captured);
    expect(ccdVolume(h)).toStrictEqual({ name: 'ccd', configMap: { name: 'ccd' } });
    await putGateway(h.deps, 'gw', {});
    // THEN the Deployment mounts the shards again
    expect(ccdVolume(h)).toMatchObject({ name: 'ccd-shards' });
    expect(await clientInvariantViolations(h.deps, 'gw')).toStrictEqual([]);
  });

  it('rewrites into its shard an entry a writer holding the legacy layout put into the legacy ConfigMap just before the switch', async () => {
    // GIVEN a legacy gateway, and an issue that records its pending client on the legacy layout right after the
    // move applied the shards (so they lack it), and whose CCD write lands in the legacy ConfigMap after the
    // layout was recorded, just before the move deletes it
    const h = await legacyGateway(2);
    const apply = h.cluster.apply.bind(h.cluster);
    const del = h.cluster.delete.bind(h.cluster);
    let held: [GatewayState, ClientRecord] | undefined;
    let raced: ClientRecord | undefined;
    h.cluster.apply = async (objects) => {
      await apply(objects);
      if (!held && objects.some((o) => o.metadata.name === 'ccd-0'))
        held = await reservePending(h, 'late', '10.140.0.9');
    };
    h.cluster.delete = async (ref) => {
      if (held && !raced && ref.kind === 'ConfigMap' && ref.name === 'ccd') {
        raced = await completeIssue(h.deps, ...held);
        expect((await h.cluster.readConfigMap('vpn-gw', 'ccd'))?.data['late']).toBe(entryOf('10.140.0.9'));
      }
      return del(ref);
    };
    // WHEN the gateway is PUT
    await putGateway(h.deps, 'gw', {});
    // THEN the issue completed, and the move's convergence wrote its entry (lost with the legacy ConfigMap)
    // into its shard
    expect(raced?.status).toBe('active');
    const stored = await storedCcdEntries(h.cluster, 'gw');
    expect(stored.entries['late']).toBe(entryOf('10.140.0.9'));
    expect(configMaps(h)).toStrictEqual(shardNames);
    expect(h.logs.some((l) => l.includes('CCD entries out of line') && l.includes('late'))).toBe(true);
    expect(await clientInvariantViolations(h.deps, 'gw')).toStrictEqual([]);
  });

  it('writes into the shards when a writer holding the legacy layout comes after the move', async () => {
    // GIVEN an issue that recorded its pending client on the legacy layout, then the move
    const h = await legacyGateway(2);
    const [held, record] = await reservePending(h, 'later', '10.140.0.9');
    await putGateway(h.deps, 'gw', {});
    // WHEN the issue goes on with the legacy state it holds, and a removal by another such writer follows
    const done = await completeIssue(h.deps, held, record);
    await writeCcdEntries(h.deps, held, { c0: null });
    // THEN its write (refused by the deleted legacy ConfigMap) went into the shard, as did the removal
    expect(done.status).toBe('active');
    expect(configMaps(h)).toStrictEqual(shardNames);
    const stored = await storedCcdEntries(h.cluster, 'gw');
    expect(stored.entries['later']).toBe(entryOf('10.140.0.9'));
    expect(stored.entries['c0']).toBeUndefined();
    expect(stored.entries['c1']).toBe(entryOf('10.140.0.3'));
  });

  it('moves an entry sitting in a wrong shard into its own (convergeCcd)', async () => {
    // GIVEN a client's entry in its own shard and a copy in another one
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'a' });
    const own = ccdObjectOf('a', CCD_SHARDS);
    const wrong = own === 'ccd-0' ? 'ccd-1' : 'ccd-0';
    await h.cluster.patchConfigMapData('vpn-gw', own, { a: null });
    await h.cluster.patchConfigMapData('vpn-gw', wrong, { a: entryOf('10.140.0.2') });
    expect((await storedCcdEntries(h.cluster, 'gw')).misplaced).toStrictEqual([`a in ${wrong}`]);
    // WHEN the CCD is converged THEN the entry is in its shard only
    expect(await convergeCcd(h.deps, 'gw')).toBe(2);
    expect((await h.cluster.readConfigMap('vpn-gw', own))?.data).toStrictEqual({ a: entryOf('10.140.0.2') });
    expect((await h.cluster.readConfigMap('vpn-gw', wrong))?.data).toStrictEqual({});
  });
});
