import { describe, expect, it } from 'vitest';
import { InputError } from '../../../shared/errors.js';
import { issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { readState } from '../../../shared/gateways/gateway-state.js';
import { wantedPortMappingsSet } from '../../../shared/gateways/gateway-status.js';
import { getPortMappings, replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import type { PortMapping } from '../../../shared/model/gateway.js';
import { makeHarness } from './harness.js';

async function setup() {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', {});
  await issueClient(h.deps, 'gw', { name: 'a' });
  await issueClient(h.deps, 'gw', { name: 'b' });
  await issueClient(h.deps, 'gw', { name: 'gone' });
  await revokeClient(h.deps, 'gw', 'gone');
  return h;
}

const m = (port: number, client: string, targetPort = 80): PortMapping => ({
  port,
  client,
  targetPort,
  protocol: 'tcp',
});

describe('replacePortMappings', () => {
  it('records the set, creates one ClusterIP Service per mapping, deletes stale ones, and starts no roll', async () => {
    const h = await setup();
    const hashBefore = (await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations;
    const first = await replacePortMappings(h.deps, 'gw', [m(8081, 'a'), m(8082, 'b', 22)]);
    const second = await replacePortMappings(h.deps, 'gw', [m(8082, 'b', 22)]);
    expect(second.mappings).toStrictEqual([m(8082, 'b', 22)]);
    expect(await getPortMappings(h.deps, 'gw')).toStrictEqual({ mappings: [m(8082, 'b', 22)] });
    expect(h.cluster.objects.has('Service/vpn-gw/pm-8081')).toBe(false);
    expect(h.cluster.objects.has('Service/vpn-gw/pm-8082')).toBe(true);
    // THEN the pod template is untouched (no roll), and each change waits for the pod's report instead
    expect((await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations).toStrictEqual(hashBefore);
    expect(h.operations.started.filter((o) => o.kind !== 'provision')).toStrictEqual([
      { kind: 'live-apply', gateway: 'gw' },
      { kind: 'live-apply', gateway: 'gw' },
    ]);
    expect([first.operationId, second.operationId].every((id) => id.startsWith('op-'))).toBe(true);
  });

  it('writes the set hash the pod reports into the mappings file', async () => {
    const h = await setup();
    await replacePortMappings(h.deps, 'gw', [m(8081, 'a')]);
    const file = (await h.cluster.readConfigMap('vpn-gw', 'port-mappings'))?.data['mappings.txt'] ?? '';
    const state = await readState(h.cluster, 'gw');
    expect(file.split('\n')).toContain(`# set ${wantedPortMappingsSet(state)}`);
  });

  it('converges when two replacements race: the deployed set is the one the state ends with', async () => {
    const h = await setup();
    // GIVEN the first replacement's apply reaches the API server only after the second one has finished
    const apply = h.cluster.apply.bind(h.cluster);
    let releaseFirst: () => void = () => undefined;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    let applies = 0;
    h.cluster.apply = async (objects) => {
      applies += 1;
      if (applies === 1) await firstHeld;
      return apply(objects);
    };
    const first = replacePortMappings(h.deps, 'gw', [m(8081, 'a')]);
    await new Promise((resolve) => setImmediate(resolve));
    await replacePortMappings(h.deps, 'gw', [m(8082, 'b', 22)]);
    releaseFirst();
    await first;

    // the second replacement wrote the state last
    expect((await getPortMappings(h.deps, 'gw')).mappings).toStrictEqual([m(8082, 'b', 22)]);
    const deployed = (await h.cluster.readConfigMap('vpn-gw', 'port-mappings'))?.data['mappings.txt'];
    expect(deployed).toContain(' 8082 ');
    expect(deployed).not.toContain(' 8081 ');
    expect([...h.cluster.objects.keys()].filter((k) => k.startsWith('Service/vpn-gw/pm-'))).toStrictEqual([
      'Service/vpn-gw/pm-8082',
    ]);
  });

  it.each([
    ['the VPN port', [m(443, 'a')], '/mappings/0/port'],
    ['a duplicate port', [m(8081, 'a'), m(8081, 'b')], '/mappings/1/port'],
    ['an unknown client', [m(8081, 'nobody')], '/mappings/0/client'],
    ['a revoked client', [m(8081, 'gone')], '/mappings/0/client'],
  ])('rejects %s with the field path and changes nothing', async (_case, mappings, path) => {
    const h = await setup();
    const snapshot = h.cluster.snapshot();
    const error = await replacePortMappings(h.deps, 'gw', mappings).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems.map((p) => p.path)).toContain(path);
    expect(h.cluster.snapshot()).toBe(snapshot);
  });
});
