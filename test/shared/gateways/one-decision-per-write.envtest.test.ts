/**
 * One decision per write: each pair of conflicting operations runs concurrently, many
 * times, through the real use-cases and the real Kubernetes adapter against a real kube-apiserver, and
 * over the sandbox's embedded cluster. After each round the outcome and the final state must be one that
 * some serial order of the two operations gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../../../shared/errors.js';
import { replaceClientSubnets } from '../../../shared/gateways/client-subnets.js';
import { issueClient, listClients, revokeClient } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import type { ClientResponse } from '../../../shared/api/schemas.js';
import { findState } from '../../../shared/gateways/gateway-state.js';
import { deleteGateway, getGateway, putGateway } from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import type { Logger } from '../../../shared/logging.js';
import { planAddresses } from '../../../shared/openvpn/index.js';
import { MemorySecretStore } from '../../fakes/memory-secret-store.js';
import { InProcessOperations } from '../../../sandbox/in-process-operations.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { depsOver, startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';
import { ccdEntries } from '../../support/ccd-entries.js';

const ROUNDS = 6;
/** Rounds of the issue × delete race: the DELETE starts 0, 10, 20, … ms into the issue, across its steps. */
const DELETE_ROUNDS = 16;
const ROUTES = ['10.0.0.0/16'];
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

type Backend = ClusterBackend;

const BACKENDS: readonly { name: string; start: () => Promise<Backend> }[] = [
  {
    name: 'real kube-apiserver',
    start: startKubeApiserverBackend,
  },
  {
    name: 'embedded cluster',
    start: () => startEmbeddedBackend('avg-decisions-'),
  },
];

type Outcome = 'ok' | 'conflict' | 'invalid' | 'not-found';

/** What an operation answered: success, 409, 400 or 404 (anything else fails the test). */
async function outcome(run: Promise<unknown>): Promise<Outcome> {
  try {
    await run;
    return 'ok';
  } catch (e: unknown) {
    if (e instanceof ConflictError) return 'conflict';
    if (e instanceof InputError) return 'invalid';
    if (e instanceof NotFoundError) return 'not-found';
    throw e;
  }
}

const inSubnet = (ip: string, subnet: string) => {
  const plan = planAddresses(subnet);
  const n = (a: string) => a.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  return n(ip) > n(plan.serverIp) && n(ip) <= n(plan.staticRange.last);
};

describe.each(BACKENDS)('one decision per write ($name)', ({ start }) => {
  let backend: Backend;
  let deps: GatewayDeps;
  const orders: Record<string, number> = {};
  const seen = (pair: string, order: string) => {
    orders[`${pair}: ${order}`] = (orders[`${pair}: ${order}`] ?? 0) + 1;
  };

  beforeAll(async () => {
    backend = await start();
    deps = depsOver(backend.cluster);
  }, 300_000);

  afterAll(async () => {
    console.log(`serial orders seen: ${JSON.stringify(orders)}`);
    await backend?.stop();
  });

  it('issues a client and changes the vpnSubnet as one of the two serial orders, every round', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      // GIVEN a gateway without clients
      const gateway = `subnet-${round}`;
      await putGateway(deps, gateway, { routes: ROUTES });
      // WHEN an issue and a subnet change race
      const [issued, changed] = await Promise.all([
        outcome(issueClient(deps, gateway, { name: 'first' })),
        outcome(putGateway(deps, gateway, { routes: ROUTES, vpnSubnet: '10.150.0.0/24' })),
      ]);
      // THEN either the issue came first (the change is refused: a client holds an address) or the
      // change did (the client's address, and its CCD entry, are in the new subnet)
      const { vpnSubnet } = await getGateway(deps, gateway);
      const [client] = await listClients(deps, gateway);
      const ccd = await ccdEntries(deps.cluster, gateway);
      const order = changed === 'ok' ? 'subnet change, then issue' : 'issue, then subnet change';
      seen('issue × subnet', order);
      expect({ issued, changed, vpnSubnet }).toStrictEqual(
        changed === 'ok'
          ? { issued: 'ok', changed: 'ok', vpnSubnet: '10.150.0.0/24' }
          : { issued: 'ok', changed: 'conflict', vpnSubnet: '10.140.0.0/24' },
      );
      expect(client && inSubnet(client.ip, vpnSubnet)).toBe(true);
      expect(ccd['first']).toBe(`ifconfig-push ${client?.ip ?? ''} ${planAddresses(vpnSubnet).netmask}\n`);
    }
  });

  it('moves the VPN port and maps the same port as one of the two serial orders, every round', async () => {
    const gateway = 'ports';
    await putGateway(deps, gateway, { routes: ROUTES });
    await issueClient(deps, gateway, { name: 'c1' });
    for (let round = 0; round < ROUNDS; round += 1) {
      const port = 8443 + round;
      // WHEN the gateway's port moves to P while a mapping of P is declared
      const [moved, mapped] = await Promise.all([
        outcome(putGateway(deps, gateway, { routes: ROUTES, port })),
        outcome(
          replacePortMappings(deps, gateway, [{ port, client: 'c1', targetPort: 22, protocol: 'tcp' }]),
        ),
      ]);
      // THEN exactly one of them won, and no mapping sits on the VPN port
      const view = await getGateway(deps, gateway);
      seen('port × mapping', moved === 'ok' ? 'port move, then mapping' : 'mapping, then port move');
      expect([moved, mapped]).toStrictEqual(moved === 'ok' ? ['ok', 'invalid'] : ['conflict', 'ok']);
      expect(view.portMappings.filter((m) => m.port === view.port)).toStrictEqual([]);
      // reset for the next round
      await replacePortMappings(deps, gateway, []);
    }
  });

  it('gives two identical issues of one name one client: both the same answer, or one a 409, every round', async () => {
    const gateway = 'names';
    await putGateway(deps, gateway, { routes: ROUTES });
    for (let round = 0; round < ROUNDS; round += 1) {
      const name = `twin-${round}`;
      const answers = await Promise.all([
        issueClient(deps, gateway, { name }).catch((e: unknown) => e),
        issueClient(deps, gateway, { name }).catch((e: unknown) => e),
      ]);
      // The second identical request finds the first one's record pending and completes it (the same
      // request, as a retry would be), or finds it complete and gets 409.
      const issued = answers.filter((a): a is ClientResponse => !(a instanceof Error));
      const refused = answers.filter((a) => a instanceof Error);
      expect(refused.every((e) => e instanceof ConflictError)).toBe(true);
      expect(issued.length).toBeGreaterThan(0);
      expect(new Set(issued.map((c) => c.serial)).size).toBe(1);
      seen('twin issues', issued.length === 2 ? 'joined' : 'one 409');
      expect((await listClients(deps, gateway)).filter((c) => c.name === name)).toHaveLength(1);
    }
  });

  it('gives a LAN claimed by two concurrent issues to exactly one of them, every round', async () => {
    const gateway = 'lans';
    await putGateway(deps, gateway, { routes: ROUTES });
    for (let round = 0; round < ROUNDS; round += 1) {
      // WHEN two issues claim overlapping LANs (a /24 and the /16 holding it) at once
      const [first, second] = await Promise.all([
        outcome(issueClient(deps, gateway, { name: `lan-${round}-a`, subnets: [`192.168.${round}.0/24`] })),
        outcome(issueClient(deps, gateway, { name: `lan-${round}-b`, subnets: ['192.168.0.0/16'] })),
      ]);
      // THEN exactly one was issued; the other was refused (409) and left no record
      expect([first, second].sort()).toStrictEqual(['conflict', 'ok']);
      seen('LAN × LAN', first === 'ok' ? '/24 first' : '/16 first');
      const holders = (await listClients(deps, gateway)).filter((c) => c.name.startsWith(`lan-${round}-`));
      expect(holders.map((c) => c.name)).toStrictEqual([
        first === 'ok' ? `lan-${round}-a` : `lan-${round}-b`,
      ]);
      // free the LANs for the next round
      await revokeClient(deps, gateway, holders[0]?.name ?? '');
    }
  });

  it('issues a client with a LAN and adds an overlapping route as one of the two serial orders, every round', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const gateway = `lan-route-${round}`;
      await putGateway(deps, gateway, { routes: ROUTES });
      // WHEN an issue claiming a LAN races a gateway change pushing a route over it
      const [issued, changed] = await Promise.all([
        outcome(issueClient(deps, gateway, { name: 'branch', subnets: ['172.20.1.0/24'] })),
        outcome(putGateway(deps, gateway, { routes: ROUTES, extraRoutes: ['172.20.0.0/16'] })),
      ]);
      // THEN one of them came first and the other was refused: the issue (400: the route is pushed) or
      // the change (409: a client holds the LAN)
      const view = await getGateway(deps, gateway);
      const clients = await listClients(deps, gateway);
      seen('LAN × route', issued === 'ok' ? 'issue, then route' : 'route, then issue');
      if (issued === 'ok') {
        expect(changed).toBe('conflict');
        expect(view.routes).toStrictEqual(ROUTES);
        expect(clients.map((c) => c.subnets)).toStrictEqual([['172.20.1.0/24']]);
      } else {
        expect({ issued, changed }).toStrictEqual({ issued: 'invalid', changed: 'ok' });
        expect(view.routes).toStrictEqual([...ROUTES, '172.20.0.0/16']);
        expect(clients).toStrictEqual([]);
      }
    }
  });

  it('gives a LAN claimed by an issue and by a subnet change of another client to exactly one, every round', async () => {
    const gateway = 'lan-change';
    await putGateway(deps, gateway, { routes: ROUTES });
    await issueClient(deps, gateway, { name: 'holder' });
    for (let round = 0; round < ROUNDS; round += 1) {
      const lan = `10.${100 + round}.0.0/16`;
      const [issued, changed] = await Promise.all([
        outcome(issueClient(deps, gateway, { name: `newcomer-${round}`, subnets: [lan] })),
        outcome(replaceClientSubnets(deps, gateway, 'holder', [lan])),
      ]);
      expect([issued, changed].sort()).toStrictEqual(['conflict', 'ok']);
      seen('LAN issue × LAN change', issued === 'ok' ? 'issue first' : 'change first');
      const clients = await listClients(deps, gateway);
      const claimants = clients.filter((c) => c.status !== 'revoked' && c.subnets.includes(lan));
      expect(claimants.map((c) => c.name)).toStrictEqual([issued === 'ok' ? `newcomer-${round}` : 'holder']);
      // the holder's CCD entry routes exactly what its record says
      const ccd = await ccdEntries(deps.cluster, gateway);
      expect(ccd['holder']?.includes('iroute')).toBe(changed === 'ok');
      // free the LAN for the next round
      if (issued === 'ok') await revokeClient(deps, gateway, `newcomer-${round}`);
      else await replaceClientSubnets(deps, gateway, 'holder', []);
    }
  });

  it('issues a client and deletes its gateway as one of the two serial orders, leaving no secret, every round', async () => {
    // The deletion runs for real (the orchestrator and its activities, in process). Without a controller
    // manager the real kube-apiserver never finishes a namespace: there the deletion ends when its wait
    // times out, after it has deleted the secrets and asked for the namespace's deletion.
    const secrets = new MemorySecretStore();
    const timing = { pollSeconds: 0.05, timeoutSeconds: 0.2, activityAttempts: 1, retryDelaySeconds: 0.05 };
    const operations: InProcessOperations = new InProcessOperations({
      deps: () => racing,
      timing,
      log: quiet,
    });
    let takenBack = 0;
    const log: Logger = {
      ...quiet,
      warn: (message) => {
        if (message.startsWith('took back secrets')) takenBack += 1;
      },
    };
    const racing: GatewayDeps = { ...deps, secrets, operations, log };
    for (let round = 0; round < DELETE_ROUNDS; round += 1) {
      // GIVEN a gateway with one client
      const gateway = `doomed-${round}`;
      await putGateway(racing, gateway, { routes: ROUTES });
      await issueClient(racing, gateway, { name: 'before' });
      // WHEN an issue and the gateway's DELETE race (the DELETE a little later each round)
      const [issued, deleted] = await Promise.all([
        outcome(issueClient(racing, gateway, { name: 'racer' })),
        new Promise((r) => setTimeout(r, round * 10)).then(() => outcome(deleteGateway(racing, gateway))),
      ]);
      await operations.drain();
      // THEN the DELETE was accepted; the issue came first (201) or was refused (409 being deleted, 404
      // gone); and either way nothing of the gateway is left in the secret store
      expect(deleted).toBe('ok');
      expect(['ok', 'conflict', 'not-found']).toContain(issued);
      seen('issue × delete', issued === 'ok' ? 'issue, then delete' : `delete, then issue (${issued})`);
      if (takenBack > 0) seen('issue × delete', 'material written after the secrets pass, taken back');
      takenBack = 0;
      expect(await secrets.getCa(gateway)).toBeUndefined();
      expect(await secrets.listClients(gateway, ['before', 'racer'])).toStrictEqual([]);
      // and the gateway is gone, or (no namespace controller) marked for deletion with its namespace going
      const state = await findState(racing.cluster, gateway);
      if (state) expect(state.deleting).toBeDefined();
      if (state)
        await expect(issueClient(racing, gateway, { name: 'after' })).rejects.toBeInstanceOf(ConflictError);
    }
  });

  it('gives concurrent issues distinct addresses in the subnet, every round', async () => {
    const gateway = 'addresses';
    await putGateway(deps, gateway, { routes: ROUTES });
    for (let round = 0; round < ROUNDS; round += 1) {
      await Promise.all([0, 1, 2].map((i) => issueClient(deps, gateway, { name: `r${round}-${i}` })));
    }
    const clients = await listClients(deps, gateway);
    expect(new Set(clients.map((c) => c.ip)).size).toBe(ROUNDS * 3);
    expect(clients.every((c) => inSubnet(c.ip, '10.140.0.0/24'))).toBe(true);
  });
});
