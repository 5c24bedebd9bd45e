import { describe, expect, it } from 'vitest';
import { ConflictError, UpstreamError } from '../../../shared/errors.js';
import { issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import { deleteGateway, putGateway } from '../../../shared/gateways/gateways.js';
import { makeActivities } from '../../../shared/operations/activities.js';
import { ACTIVITY } from '../../../shared/operations/activity-contract.js';
import { makeHarness } from '../gateways/harness.js';

describe('the deletion activities', () => {
  it('delete the secrets of every client the state names, revoked ones too, and the CA', async () => {
    // GIVEN a gateway with an active and a revoked client, and another gateway
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await putGateway(h.deps, 'other', {});
    await issueClient(h.deps, 'gw', { name: 'site-a' });
    await issueClient(h.deps, 'gw', { name: 'site-b' });
    await revokeClient(h.deps, 'gw', 'site-b');
    await issueClient(h.deps, 'other', { name: 'site-a' });
    await deleteGateway(h.deps, 'gw');
    const activities = makeActivities(h.deps);
    // WHEN the names are read from the marked state, and the secrets deleted by them
    const clients = await activities[ACTIVITY.readClientNames]!('gw');
    expect(clients).toStrictEqual(['site-a', 'site-b']);
    await activities[ACTIVITY.deleteSecrets]!({ gateway: 'gw', clients });
    // THEN nothing of the gateway is left in the store, and the other gateway keeps everything
    expect(await h.secrets.getCa('gw')).toBeUndefined();
    expect(await h.secrets.listClients('gw', ['site-a', 'site-b'])).toStrictEqual([]);
    expect(await h.secrets.getCa('other')).toBeDefined();
    expect((await h.secrets.listClients('other', ['site-a'])).map((c) => c.client)).toStrictEqual(['site-a']);
  });

  it('read no names once the state is gone (a deletion that already ran)', async () => {
    const h = makeHarness();
    expect(await makeActivities(h.deps)[ACTIVITY.readClientNames]!('gone')).toBeNull();
  });

  it('refuse to read names of a gateway not marked for deletion (one of the same name made since)', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await expect(makeActivities(h.deps)[ACTIVITY.readClientNames]!('gw')).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await h.secrets.getCa('gw')).toBeDefined();
  });
});

describe('the activities', () => {
  it('read the desired hash without writing: a missing server PKI fails the read and repairs nothing', async () => {
    // GIVEN a gateway whose server-pki Secret is gone
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await h.cluster.delete({ kind: 'Secret', namespace: 'vpn-gw', name: 'server-pki' });
    const before = h.cluster.snapshot();
    const caBefore = await h.secrets.getCa('gw');
    // WHEN the roll asks for the desired hash
    const read = makeActivities(h.deps)[ACTIVITY.desiredConfigHash]!('gw');
    // THEN it fails, and neither the cluster nor the secret store changed
    await expect(read).rejects.toBeInstanceOf(UpstreamError);
    expect(h.cluster.snapshot()).toBe(before);
    expect(await h.secrets.getCa('gw')).toStrictEqual(caBefore);
  });

  it('refuse an input that does not match the activity contract before doing anything', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const before = h.cluster.snapshot();
    await expect(
      makeActivities(h.deps)[ACTIVITY.beginRoll]!({ gateway: 'gw', force: 'yes', restartedAt: 'now' }),
    ).rejects.toThrow(/force|restartedAt/);
    expect(h.cluster.snapshot()).toBe(before);
  });
});
