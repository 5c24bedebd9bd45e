/**
 * Every spec the API accepts must render a configuration the real server starts with:
 * the smallest VPN subnet accepted and a sample of other accepted specs, each run as the gateway pod (the
 * manifest builder's Deployment, in the image's root filesystem: support/pod.ts) in a network namespace.
 * With the smallest subnet a client also connects at the highest static address, next to OpenVPN's pool.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySpec } from '../../shared/model/gateway.js';
import {
  MAX_PREFIX,
  gatewaySpecProblems,
  planAddresses,
  renderClientProfile,
  serverCommonName,
} from '../../shared/openvpn/index.js';
import type { CaMaterial, IssuedCert } from '../../shared/pki/index.js';
import {
  buildCrl,
  createCa,
  generateTlsCryptKey,
  issueClientCert,
  issueServerCert,
} from '../../shared/pki/index.js';
import { gatewayObjects } from './support/gateway.js';
import { Netns, waitForLog } from './support/netns.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const SERVER_PUBLIC = '192.0.2.1';
const INIT_DONE = /Initialization Sequence Completed/;
const lb = { internal: false, sourceRanges: [] };

/** A sample of accepted specs: the extremes of each field the server reads. */
const SPECS: readonly GatewaySpec[] = [
  {
    name: 'smallest',
    vpnSubnet: `10.140.7.0/${MAX_PREFIX}`,
    routes: ['10.99.0.0/24'],
    port: 443,
    loadBalancer: lb,
    clientCertValidityDays: 30,
  },
  {
    name: 'largest',
    vpnSubnet: '172.20.0.0/16',
    routes: ['10.0.0.0/8'],
    port: 1194,
    publicHost: '198.51.100.7',
    loadBalancer: lb,
    clientCertValidityDays: 30,
  },
  {
    name: 'many-routes',
    vpnSubnet: '100.64.0.0/24',
    routes: Array.from({ length: 32 }, (_, i) => `10.${i}.0.0/16`),
    port: 65535,
    loadBalancer: lb,
    clientCertValidityDays: 30,
  },
  {
    name: 'public-route',
    vpnSubnet: '192.168.255.0/24',
    routes: ['20.0.0.0/8', '172.16.0.0/12'],
    port: 1,
    publicHost: 'vpn.example.com',
    loadBalancer: lb,
    clientCertValidityDays: 30,
  },
];

const net = new Netns();
let dir: string;
let rootfs: string;
let ca: CaMaterial;
let tlsCrypt: string;
const ns: Record<string, string> = {};
let running: ChildProcess | undefined;

/**
 * Runs the gateway pod of `spec` (after stopping the previous server: each one creates tun0) with `clients`
 * active; resolves once it serves.
 */
async function startServer(
  spec: GatewaySpec,
  clients: { name: string; ip: string; cert: IssuedCert }[] = [],
): Promise<void> {
  if (running) await net.stop(running);
  const server = await issueServerCert(ca, { commonName: serverCommonName(spec.name) });
  const now = new Date();
  const objects = gatewayObjects({
    spec,
    pki: {
      caCrt: ca.certPem,
      serverCrt: server.certPem,
      serverKey: server.keyPem ?? '',
      tlsCryptKey: tlsCrypt,
      crlPem: buildCrl(ca, {
        revoked: [],
        crlNumber: 1,
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + 86_400_000),
      }),
    },
    server,
    clients,
  });
  const pod = new GatewayPod({ net, ns: ns['server'] ?? '', rootfs, objects, dir: join(dir, spec.name) });
  pod.runInitContainers();
  const log = join(dir, `${spec.name}.log`);
  running = pod.start(pod.containerNames[0] ?? '', log);
  const ms = await waitForLog(log, INIT_DONE, 20_000);
  console.log(
    `accepted-specs e2e: ${spec.name} (${spec.vpnSubnet}, ${spec.routes.length} routes) up in ${ms} ms`,
  );
}

beforeAll(async () => {
  rootfs = imageRootfs();
  dir = mkdtempSync(join(tmpdir(), 'ovpn-specs-'));
  ca = await createCa({ commonName: 'specs e2e VPN CA' });
  tlsCrypt = generateTlsCryptKey();
  ns['server'] = net.addNamespace('ssrv');
  ns['client'] = net.addNamespace('scli');
  net.link({ ns: ns['server'], ip: `${SERVER_PUBLIC}/24` }, { ns: ns['client'], ip: '192.0.2.11/24' }, 'sp');
}, 120_000);

afterAll(async () => {
  await net.teardown();
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
});

describe('accepted specs on the real OpenVPN server', () => {
  it('accepts every spec of the sample (so the sample tests what the API lets through)', () => {
    expect(SPECS.map((s) => gatewaySpecProblems(s))).toStrictEqual(SPECS.map(() => []));
  });

  it.each(SPECS.slice(1))('starts the server for $name', async (spec) => {
    await startServer(spec);
  });

  it('starts the smallest subnet and connects a client at its highest static address', async () => {
    const spec = SPECS[0] as GatewaySpec;
    const plan = planAddresses(spec.vpnSubnet);
    const cert = await issueClientCert(ca, { commonName: 'edge', validityDays: 30 });
    await startServer(spec, [{ name: 'edge', ip: plan.staticRange.last, cert }]);
    const profile = join(dir, 'edge.ovpn');
    writeFileSync(
      profile,
      renderClientProfile({
        remoteHost: SERVER_PUBLIC,
        port: spec.port,
        serverCommonName: serverCommonName(spec.name),
        caPem: ca.certPem,
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        tlsCryptKey: tlsCrypt,
      }),
    );
    const log = join(dir, 'edge-client.log');
    net.start(ns['client'] ?? '', ['openvpn', '--config', profile], log);
    await waitForLog(log, INIT_DONE, 30_000);
    expect(net.sh(['ip', '-4', '-o', 'addr', 'show', 'dev', 'tun0'], { ns: ns['client'] })).toContain(
      `inet ${plan.staticRange.last}/${MAX_PREFIX}`,
    );
  });
});
