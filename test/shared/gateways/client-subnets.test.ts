import { describe, expect, it } from 'vitest';
import { ConflictError, InputError } from '../../../shared/errors.js';
import {
  getClientSubnets,
  hostInSubnets,
  replaceClientSubnets,
} from '../../../shared/gateways/client-subnets.js';
import { getClient, issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import { readState } from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import { planAddresses, renderCcdEntry } from '../../../shared/openvpn/index.js';
import { makeHarness } from './harness.js';
import { ccdEntries } from '../../support/ccd-entries.js';

async function setup() {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', {});
  return h;
}

const ccdOf = async (h: Awaited<ReturnType<typeof setup>>, name: string) =>
  (await ccdEntries(h.cluster, 'gw'))[name];

/** What a refused call left: the whole state ConfigMap and CCD, to compare before and after. */
const snapshot = async (h: Awaited<ReturnType<typeof setup>>) =>
  JSON.stringify([
    (await h.cluster.readConfigMap('vpn-gw', 'state'))?.data,
    await ccdEntries(h.cluster, 'gw'),
  ]);

describe('client subnets at issue', () => {
  it('records them sorted, shows them and writes an iroute per subnet into the CCD entry', async () => {
    const h = await setup();
    // WHEN a client is issued with two LANs, out of order
    const client = await issueClient(h.deps, 'gw', {
      name: 'a',
      subnets: ['192.168.20.0/24', '192.168.10.0/25'],
    });
    // THEN the view lists them in address order, and the CCD entry routes both to the client
    expect(client.subnets).toStrictEqual(['192.168.10.0/25', '192.168.20.0/24']);
    expect(await ccdOf(h, 'a')).toBe(
      'ifconfig-push 10.140.0.2 255.255.255.0\n' +
        'iroute 192.168.10.0 255.255.255.128\n' +
        'iroute 192.168.20.0 255.255.255.0\n',
    );
    expect((await getClient(h.deps, 'gw', 'a')).subnets).toStrictEqual([
      '192.168.10.0/25',
      '192.168.20.0/24',
    ]);
  });

  it('shows an empty list for a client without subnets, whose CCD entry is the address only', async () => {
    const h = await setup();
    expect((await issueClient(h.deps, 'gw', { name: 'a' })).subnets).toStrictEqual([]);
    expect(await ccdOf(h, 'a')).toBe('ifconfig-push 10.140.0.2 255.255.255.0\n');
  });

  it.each([
    ['the VPN subnet', '10.140.0.0/16', 'overlaps the VPN subnet'],
    ['a pushed route', '10.0.4.0/24', 'overlaps the pushed route 10.0.0.0/16'],
    ['a special-purpose block', '169.254.0.0/24', 'link-local'],
    ['a block wider than /8', '128.0.0.0/4', 'wider than /8'],
  ])('refuses a subnet overlapping %s (400, nothing recorded)', async (_what, subnet, message) => {
    const h = await setup();
    const before = await snapshot(h);
    const refused = await issueClient(h.deps, 'gw', { name: 'a', subnets: [subnet] }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(InputError);
    expect((refused as InputError).problems[0]?.path).toBe('/subnets/0');
    expect((refused as InputError).problems[0]?.message).toContain(message);
    expect(await snapshot(h)).toBe(before);
  });

  it('refuses a subnet overlapping a cluster CIDR the gateway does not push', async () => {
    const h = await setup();
    await putGateway(h.deps, 'gw2', { routes: ['172.16.0.0/16'] });
    const refused = await issueClient(h.deps, 'gw2', { name: 'a', subnets: ['10.244.1.0/24'] }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(InputError);
    expect((refused as InputError).problems[0]?.message).toContain('the cluster CIDR 10.244.0.0/16');
  });

  it('refuses two subnets of one client that overlap each other', async () => {
    const h = await setup();
    const refused = await issueClient(h.deps, 'gw', {
      name: 'a',
      subnets: ['192.168.0.0/16', '192.168.4.0/24'],
    }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InputError);
    expect((refused as InputError).problems).toStrictEqual([
      { path: '/subnets/1', message: '192.168.4.0/24 overlaps 192.168.0.0/16, listed before it' },
    ]);
  });

  it('refuses a subnet overlapping one another client holds (409, nothing recorded)', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    const before = await snapshot(h);
    await expect(issueClient(h.deps, 'gw', { name: 'b', subnets: ['192.168.0.0/16'] })).rejects.toThrow(
      ConflictError,
    );
    expect(await snapshot(h)).toBe(before);
  });

  it("frees a revoked client's subnets for another client", async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    await revokeClient(h.deps, 'gw', 'a');
    const b = await issueClient(h.deps, 'gw', { name: 'b', subnets: ['192.168.10.0/24'] });
    expect(b.subnets).toStrictEqual(['192.168.10.0/24']);
  });
});

describe('replaceClientSubnets', () => {
  it('replaces the set, rewrites only that CCD entry and starts no roll', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a' });
    await issueClient(h.deps, 'gw', { name: 'b', subnets: ['192.168.20.0/24'] });
    const bEntry = await ccdOf(h, 'b');
    // WHEN a's subnets are set, then replaced
    await replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.10.0/24']);
    const result = await replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.11.0/24', '192.168.12.0/24']);
    // THEN
    expect(result).toStrictEqual({ subnets: ['192.168.11.0/24', '192.168.12.0/24'] });
    expect(await getClientSubnets(h.deps, 'gw', 'a')).toStrictEqual(result);
    expect(await ccdOf(h, 'a')).toBe(
      'ifconfig-push 10.140.0.2 255.255.255.0\n' +
        'iroute 192.168.11.0 255.255.255.0\n' +
        'iroute 192.168.12.0 255.255.255.0\n',
    );
    expect(await ccdOf(h, 'b')).toBe(bEntry);
    expect(h.operations.started.filter((o) => o.kind === 'roll')).toHaveLength(0);
    // AND an empty list removes every subnet
    await replaceClientSubnets(h.deps, 'gw', 'a', []);
    expect(await ccdOf(h, 'a')).toBe('ifconfig-push 10.140.0.2 255.255.255.0\n');
    expect((await readState(h.deps.cluster, 'gw')).clients[0]?.subnets).toBeUndefined();
  });

  it("lets a client keep its own subnets when it replaces them (they are not another client's)", async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    await replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.10.0/24', '192.168.11.0/24']);
    expect((await getClientSubnets(h.deps, 'gw', 'a')).subnets).toHaveLength(2);
  });

  it('refuses a revoked client (409)', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a' });
    await revokeClient(h.deps, 'gw', 'a');
    await expect(replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.10.0/24'])).rejects.toThrow(ConflictError);
  });

  it('refuses a set that leaves a mapped LAN host outside (409), and accepts one that keeps it', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    await replacePortMappings(h.deps, 'gw', [
      { port: 8081, client: 'a', targetPort: 80, targetHost: '192.168.10.5', protocol: 'tcp' },
    ]);
    const before = await snapshot(h);
    await expect(replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.11.0/24'])).rejects.toThrow(
      /192\.168\.10\.5/,
    );
    expect(await snapshot(h)).toBe(before);
    await replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.10.0/25']);
  });

  it('converges when two replacements of one client race: the CCD entry is the last state written', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a' });
    // GIVEN the first replacement's CCD write reaches the API server only after the second has finished
    const patch = h.cluster.patchConfigMapData.bind(h.cluster);
    let releaseFirst: () => void = () => undefined;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    let patches = 0;
    h.cluster.patchConfigMapData = async (...args) => {
      patches += 1;
      if (patches === 1) await firstHeld;
      return patch(...args);
    };
    const first = replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.10.0/24']);
    await new Promise((resolve) => setImmediate(resolve));
    await replaceClientSubnets(h.deps, 'gw', 'a', ['192.168.20.0/24']);
    releaseFirst();
    await first;
    const latest = (await readState(h.deps.cluster, 'gw')).clients[0];
    expect(await ccdOf(h, 'a')).toBe(
      renderCcdEntry(planAddresses('10.140.0.0/24'), '10.140.0.2', latest?.subnets),
    );
  });
});

describe('gateway changes against client subnets', () => {
  it('refuses a route that would overlap a client subnet (409, spec unchanged)', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    const before = await snapshot(h);
    await expect(putGateway(h.deps, 'gw', { extraRoutes: ['192.168.0.0/16'] })).rejects.toThrow(
      ConflictError,
    );
    expect(await snapshot(h)).toBe(before);
  });

  it('accepts that route once the client holding the subnet is revoked', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    await revokeClient(h.deps, 'gw', 'a');
    const result = await putGateway(h.deps, 'gw', { extraRoutes: ['192.168.0.0/16'] });
    expect(result.gateway.routes).toContain('192.168.0.0/16');
  });
});

describe('port mappings to a LAN host', () => {
  it('renders the LAN host as the target address of the mapping', async () => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    await replacePortMappings(h.deps, 'gw', [
      { port: 8081, client: 'a', targetPort: 80, targetHost: '192.168.10.5', protocol: 'tcp' },
    ]);
    const file = (await h.cluster.readConfigMap('vpn-gw', 'port-mappings'))?.data['mappings.txt'];
    expect(file?.split('\n')).toContain('tcp 8081 192.168.10.5 80  # a');
  });

  it.each([
    ['outside every subnet', '192.168.11.5'],
    ["the subnet's network address", '192.168.10.0'],
    ["the subnet's broadcast address", '192.168.10.255'],
    ["the client's tunnel address", '10.140.0.2'],
  ])('refuses a targetHost that is %s (400 at /mappings/0/targetHost)', async (_what, host) => {
    const h = await setup();
    await issueClient(h.deps, 'gw', { name: 'a', subnets: ['192.168.10.0/24'] });
    const refused = await replacePortMappings(h.deps, 'gw', [
      { port: 8081, client: 'a', targetPort: 80, targetHost: host, protocol: 'tcp' },
    ]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InputError);
    expect((refused as InputError).problems.map((p) => p.path)).toStrictEqual(['/mappings/0/targetHost']);
  });
});

describe('hostInSubnets', () => {
  it.each([
    [['192.168.10.0/24'], '192.168.10.1', true],
    [['192.168.10.0/24'], '192.168.10.254', true],
    [['192.168.10.0/24'], '192.168.10.0', false],
    [['192.168.10.0/31'], '192.168.10.0', true],
    [['192.168.10.7/32'], '192.168.10.7', true],
    [[], '192.168.10.7', false],
  ])('in %j, %s is a host: %s', (subnets, host, expected) => {
    expect(hostInSubnets(subnets, host)).toBe(expected);
  });
});
