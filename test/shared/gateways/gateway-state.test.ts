import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../../shared/errors.js';
import { readState, updateState } from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { issueClient } from '../../../shared/gateways/clients.js';
import { makeHarness } from './harness.js';

describe('the state as this process holds it', () => {
  it('reads the version this process last wrote as the state it wrote, without decoding it again', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'branch-a' });
    // GIVEN a state this process wrote
    const written = await updateState(h.deps.cluster, 'gw', (s) => ({
      ...s,
      crl: { ...s.crl, number: s.crl.number + 1 },
    }));
    // WHEN the next request reads the gateway, THEN it gets that very state back (nothing decoded)
    expect(await readState(h.deps.cluster, 'gw')).toBe(written);
  });

  it('asks a refusal made on a stale held state again on the current one', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'erin' });
    // GIVEN a request holding a state with erin, and erin removed since (another request's write)
    const stale = await readState(h.deps.cluster, 'gw');
    await updateState(h.deps.cluster, 'gw', (s) => ({
      ...s,
      clients: s.clients.filter((c) => c.name !== 'erin'),
    }));
    // WHEN it writes from the stale state with a decision that refuses while erin exists
    const written = await updateState(
      h.deps.cluster,
      'gw',
      (s) => {
        if (s.clients.some((c) => c.name === 'erin')) throw new ConflictError('erin exists');
        return { ...s, crl: { ...s.crl, number: s.crl.number + 1 } };
      },
      { from: stale },
    );
    // THEN the refusal was not given on the stale state: the write went through on the current one
    expect(written.clients.map((c) => c.name)).toStrictEqual([]);
  });

  it('decodes a version of the same resourceVersion but other data (another cluster, a recreated gateway)', async () => {
    // GIVEN two clusters whose gateways of one name are at the same resourceVersion with other clients
    const [a, b] = [makeHarness(), makeHarness()];
    for (const h of [a, b]) await putGateway(h.deps, 'gw', {});
    await issueClient(a.deps, 'gw', { name: 'only-in-a' });
    await issueClient(b.deps, 'gw', { name: 'only-in-b' });
    const [inA, inB] = [
      await a.cluster.readConfigMap('vpn-gw', 'state'),
      await b.cluster.readConfigMap('vpn-gw', 'state'),
    ];
    expect(inA?.resourceVersion).toBe(inB?.resourceVersion);
    // WHEN each is read, THEN each is its own
    expect((await readState(a.deps.cluster, 'gw')).clients.map((c) => c.name)).toStrictEqual(['only-in-a']);
    expect((await readState(b.deps.cluster, 'gw')).clients.map((c) => c.name)).toStrictEqual(['only-in-b']);
  });
});
