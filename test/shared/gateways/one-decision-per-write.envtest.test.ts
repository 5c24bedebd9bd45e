/**
 * One decision per write: each pair of conflicting operations runs concurrently, many
 * times, through the real use-cases and the real Kubernetes adapter against a real kube-apiserver, and
 * over the sandbox's embedded cluster. After each round the outcome and the final state must be one that
 * some serial order of the two operations gives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { ConflictError, InputError } from '../../../shared/errors.js';
import { issueClient, listClients } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import type { ClientResponse } from '../../../shared/api/schemas.js';
import { getGateway, putGateway } from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import type { Logger } from '../../../shared/logging.js';
import { planAddresses } from '../../../shared/openvpn/index.js';
import { MemorySecretStore } from '../../fakes/memory-secret-store.js';
import { RecordingOperations } from '../../fakes/recording-operations.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';

const ROUNDS = 6;
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

type Outcome = 'ok' | 'conflict' | 'invalid';

/** What an operation answered: success, 409 or 400 (anything else fails the test). */
async function outcome(run: Promise<unknown>): Promise<Outcome> {
  try {
    await run;
    return 'ok';
  } catch (e: unknown) {
    if (e instanceof ConflictError) return 'conflict';
    if (e instanceof InputError) return 'invalid';
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
    deps = {
      cluster: backend.cluster,
      secrets: new MemorySecretStore(),
      clusterInfo: { describe: () => Promise.resolve({ notes: [] }) },
      operations: new RecordingOperations(),
      config: loadConfig({}),
      clock: () => new Date(),
      log: quiet,
    };
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
      const ccd = await deps.cluster.readConfigMap(`vpn-${gateway}`, 'ccd');
      const order = changed === 'ok' ? 'subnet change, then issue' : 'issue, then subnet change';
      seen('issue × subnet', order);
      expect({ issued, changed, vpnSubnet }).toStrictEqual(
        changed === 'ok'
          ? { issued: 'ok', changed: 'ok', vpnSubnet: '10.150.0.0/24' }
          : { issued: 'ok', changed: 'conflict', vpnSubnet: '10.140.0.0/24' },
      );
      expect(client && inSubnet(client.ip, vpnSubnet)).toBe(true);
      expect(ccd?.data['first']).toBe(
        `ifconfig-push ${client?.ip ?? ''} ${planAddresses(vpnSubnet).netmask}\n`,
      );
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
