/**
 * The real thing: the project's PKI, renderers, manifest builder and entrypoint script with the gateway image's
 * own `openvpn`, `iptables` and `socat`, in network namespaces made by this test:
 *
 *   outside 192.0.2.20 ─┐
 *   client-a 192.0.2.11 ─┤ lan bridge ├─ 192.0.2.1 server (gateway pod) 10.99.0.1 ── 10.99.0.10 pod network
 *   client-b 192.0.2.12 ─┤
 *   client-x 192.0.2.13 ─┤
 *   client-e 192.0.2.15 ─┘ (an EC P-256 key)
 *
 * The server is the gateway pod as the Deployment from the manifest builder declares it (support/pod.ts): its
 * init container, then its container's command, inside the image's root filesystem (scripts/image-rootfs.sh),
 * with the ConfigMaps and the Secret at their mountPaths. The test changes those volumes' files as the kubelet
 * delivers an update. The clients use the host's openvpn. Each step prints its timing; no step asserts on time.
 */
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySpec } from '../../shared/model/gateway.js';
import { CONFIG_KEYS } from '../../shared/model/names.js';
import {
  POD_PATHS,
  renderClientProfile,
  renderPortMappingsFile,
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
import { atomicWrite, Netns, logSize, waitForLog } from './support/netns.js';
import { gatewayObjects } from './support/gateway.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const SERVER_PUBLIC = '192.0.2.1';
const POD_HOST = '10.99.0.10';
const INIT_DONE = /Initialization Sequence Completed/;

const spec: GatewaySpec = {
  name: 'e2e',
  vpnSubnet: '10.140.0.0/24',
  routes: ['10.99.0.0/24'],
  port: 443,
  loadBalancer: { internal: false, sourceRanges: [] },
  clientCertValidityDays: 30,
};
const net = new Netns();
let dir: string;
let pod: GatewayPod;
let ca: CaMaterial;
let tlsCrypt: string;
const certs: Record<string, IssuedCert> = {};
const ns: Record<string, string> = {};
let server: ChildProcess | undefined;
const clients: Record<string, ChildProcess> = {};
let crlNumber = 1;

const timings: string[] = [];
function timed(step: string, ms: number): void {
  timings.push(`${step}: ${ms} ms`);
  console.log(`e2e: ${step} ${ms} ms`);
}

function signCrl(
  revoked: string[],
  nextUpdate = new Date(Date.now() + 30 * 86_400_000),
  thisUpdate = new Date(),
): string {
  crlNumber += 1;
  return buildCrl(ca, {
    revoked: revoked.map((name) => ({
      serial: certs[name]!.serial,
      revokedAt: thisUpdate,
      reason: 'cessationOfOperation' as const,
    })),
    crlNumber,
    thisUpdate,
    nextUpdate,
  });
}

/** Re-signs the CRL into the running pod's Secret volume. */
function writeCrl(revoked: string[], nextUpdate?: Date, thisUpdate?: Date): void {
  atomicWrite(join(pod.hostPath(POD_PATHS.pkiDir), 'crl.pem'), signCrl(revoked, nextUpdate, thisUpdate));
}

const serverLog = () => join(dir, 'server.log');
const clientLog = (name: string) => join(dir, `client-${name}.log`);

/** Starts (or restarts) the pod's container; a shorter watch interval than the pod's default keeps the suite quick. */
async function startServer(): Promise<number> {
  const from = logSize(serverLog());
  server = pod.start(pod.containerNames[0]!, serverLog(), { env: { OVPN_WATCH_INTERVAL: '1' } });
  return waitForLog(serverLog(), INIT_DONE, 20_000, from);
}

function startClient(name: string): number {
  const from = logSize(clientLog(name));
  const profile = join(dir, `${name}.ovpn`);
  writeFileSync(
    profile,
    renderClientProfile({
      remoteHost: SERVER_PUBLIC,
      port: spec.port,
      serverCommonName: serverCommonName(spec.name),
      caPem: ca.certPem,
      certPem: certs[name]!.certPem,
      keyPem: certs[name]!.keyPem,
      tlsCryptKey: tlsCrypt,
    }),
  );
  clients[name] = net.start(ns[name]!, ['openvpn', '--config', profile], clientLog(name));
  return from;
}

/** Starts an HTTP server answering `body` in a namespace; resolves once it listens. */
async function webServer(
  inNs: string,
  host: string,
  port: number,
  body: string,
  name: string,
): Promise<void> {
  const log = join(dir, `${name}.log`);
  const code = `require('http').createServer((q, s) => s.end('${body}')).listen(${port}, '${host}', () => console.log('listening'))`;
  net.start(inNs, ['node', '-e', code], log);
  await waitForLog(log, /listening/, 30_000);
}

beforeAll(async () => {
  // The host runs the clients and builds each container (util-linux); the server's programs come from the image.
  for (const tool of ['openvpn', 'ip', 'curl', 'unshare', 'setpriv', 'chroot', 'mount'])
    expect(net.sh(['sh', '-c', `command -v ${tool}`]).trim(), `${tool} must be installed`).not.toBe('');
  let t = Date.now();
  const rootfs = imageRootfs();
  timed('image root filesystem (scripts/image-rootfs.sh)', Date.now() - t);
  dir = mkdtempSync(join(tmpdir(), 'ovpn-e2e-'));

  t = Date.now();
  ca = await createCa({ commonName: 'e2e VPN CA' });
  const serverCert = await issueServerCert(ca, { commonName: serverCommonName(spec.name) });
  for (const name of ['a', 'b', 'x', 'r'])
    certs[name] = await issueClientCert(ca, { commonName: name, validityDays: 30 });
  // e has an EC P-256 key under the same RSA CA.
  certs['e'] = await issueClientCert(ca, { commonName: 'e', validityDays: 30, keyType: 'ec' });
  tlsCrypt = generateTlsCryptKey();
  timed('PKI (CA, server, 5 clients)', Date.now() - t);

  // a, b and r are active clients with CCD entries, x has none; r is revoked in the CRL from the start (and
  // only there, so the CRL check refuses it, not ccd-exclusive). Port 8081 maps to a:80.
  const client = (name: string, ip: string) => ({ name, ip, cert: certs[name]! });
  const objects = gatewayObjects({
    spec,
    pki: {
      caCrt: ca.certPem,
      serverCrt: serverCert.certPem,
      serverKey: serverCert.keyPem!,
      tlsCryptKey: tlsCrypt,
      crlPem: signCrl(['r']),
    },
    server: serverCert,
    clients: [
      client('a', '10.140.0.2'),
      client('b', '10.140.0.3'),
      client('r', '10.140.0.4'),
      client('e', '10.140.0.5'),
    ],
    portMappings: [{ port: 8081, client: 'a', targetPort: 80, protocol: 'tcp' }],
  });

  t = Date.now();
  const lan = net.addNamespace('lan');
  net.sh(['ip', 'link', 'add', 'br0', 'type', 'bridge'], { ns: lan });
  net.sh(['ip', 'link', 'set', 'br0', 'up'], { ns: lan });
  const hosts: [string, string][] = [
    ['server', `${SERVER_PUBLIC}/24`],
    ['a', '192.0.2.11/24'],
    ['b', '192.0.2.12/24'],
    ['x', '192.0.2.13/24'],
    ['r', '192.0.2.14/24'],
    ['e', '192.0.2.15/24'],
    ['outside', '192.0.2.20/24'],
  ];
  for (const [role, ip] of hosts) {
    ns[role] = net.addNamespace(role);
    const { b } = net.link({ ns: ns[role], ip }, { ns: lan }, role.slice(0, 2));
    net.sh(['ip', 'link', 'set', b, 'master', 'br0'], { ns: lan });
  }
  ns['pod'] = net.addNamespace('pod');
  net.link({ ns: ns['server']!, ip: '10.99.0.1/24' }, { ns: ns['pod'], ip: `${POD_HOST}/24` }, 'pd');
  timed('network namespaces and links', Date.now() - t);

  pod = new GatewayPod({ net, ns: ns['server']!, rootfs, objects, dir: join(dir, 'pod') });
  t = Date.now();
  pod.runInitContainers();
  timed(`init containers (${pod.initContainerNames.join(', ')})`, Date.now() - t);

  // a web server on the "pod network"
  const podWeb = webServer(ns['pod'], POD_HOST, 8080, 'pod-ok', 'pod-web');
  timed('server start (entrypoint → openvpn ready)', await startServer());
  await podWeb;
}, 120_000);

afterAll(async () => {
  await net.teardown();
  // E2E_KEEP=1 keeps the logs and files for a look after a failure.
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  console.log(`e2e timings:\n  ${timings.join('\n  ')}`);
});

describe('OpenVPN end to end (the gateway pod in the image, real clients, network namespaces)', () => {
  it('runs the server’s openvpn inside the container’s root filesystem, not the host’s', () => {
    const inServerNamespace = net.sh(['ip', 'netns', 'pids', ns['server']!]).split('\n').filter(Boolean);
    // The watcher's short-lived children (sleep, socat, curl, ip) may exit between the listing and the read:
    // a process gone by then is not the long-running server, so it is passed over, not an error.
    const commOf = (pid: string) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      } catch {
        return undefined;
      }
    };
    const roots = inServerNamespace
      .filter((pid) => commOf(pid) === 'openvpn')
      .map((pid) => readlinkSync(`/proc/${pid}/root`));
    const containerRoot = `${join(dir, 'pod', 'containers', pod.containerNames[0]!)}-\\d+/root`;
    expect(roots).toStrictEqual([expect.stringMatching(new RegExp(`^${containerRoot}$`))]);
  });

  it('connects a client with a CCD entry at exactly its static address, with the pushed route, to the pod network', async () => {
    startClient('a');
    timed('client a connect', await waitForLog(clientLog('a'), INIT_DONE, 30_000));
    expect(net.sh(['ip', '-4', '-o', 'addr', 'show', 'dev', 'tun0'], { ns: ns['a'] })).toContain(
      'inet 10.140.0.2/24',
    );
    expect(net.sh(['ip', 'route', 'show', '10.99.0.0/24'], { ns: ns['a'] })).toMatch(
      /10\.99\.0\.0\/24 via 10\.140\.0\.1 dev tun0/,
    );
    const t = Date.now();
    expect(net.curl(ns['a']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
    timed('client a → pod network HTTP', Date.now() - t);
  });

  it('connects a client with an EC P-256 key signed by the RSA CA at its static address', async () => {
    // GIVEN a client certificate whose key is EC on P-256
    const key = new X509Certificate(certs['e']!.certPem).publicKey;
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toStrictEqual(['ec', 'prime256v1']);
    // WHEN it connects with its generated profile THEN OpenVPN 2.6 accepts it and routes it to the pod network
    startClient('e');
    timed('EC client e connect', await waitForLog(clientLog('e'), INIT_DONE, 30_000));
    expect(net.sh(['ip', '-4', '-o', 'addr', 'show', 'dev', 'tun0'], { ns: ns['e'] })).toContain(
      'inet 10.140.0.5/24',
    );
    expect(net.curl(ns['e']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
    await net.stop(clients['e']!);
  });

  it('refuses a client without a CCD entry (ccd-exclusive)', async () => {
    const from = logSize(serverLog());
    startClient('x');
    timed(
      'client x refused',
      await waitForLog(
        serverLog(),
        /client-config-dir authentication failed for common name 'x'/,
        30_000,
        from,
      ),
    );
    await net.stop(clients['x']!);
    expect(net.sh(['ip', '-o', 'link', 'show'], { ns: ns['x'] })).not.toContain('tun0: <');
  });

  it('refuses a client revoked in the CRL', async () => {
    const from = logSize(serverLog());
    startClient('r');
    timed(
      'revoked client r refused',
      await waitForLog(serverLog(), /CRL CHECK FAILED.*CN=r|certificate revoked/, 30_000, from),
    );
    await net.stop(clients['r']!);
  });

  it('reaches an HTTP server on the client tunnel address through a port mapping, and follows a mapping change', async () => {
    await webServer(ns['a']!, '10.140.0.2', 80, 'branch-a', 'branch-a-web');
    let t = Date.now();
    expect(net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('branch-a');
    timed('outside → 8081 → client a:80', Date.now() - t);

    t = Date.now();
    atomicWrite(
      join(pod.hostPath(POD_PATHS.portMappingsDir), CONFIG_KEYS.mappings),
      renderPortMappingsFile([
        { port: 8082, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' },
      ]),
    );
    await waitForLog(serverLog(), /port mappings applied[\s\S]*port mappings applied/, 15_000);
    expect(net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8082/`)).toBe('branch-a');
    expect(net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('');
    timed('mapping change picked up by the watcher', Date.now() - t);
  });

  it('drops the live session of a revoked client and refuses its next handshake (CRL re-signed while running)', async () => {
    startClient('b');
    await waitForLog(clientLog('b'), INIT_DONE, 30_000);
    const from = logSize(serverLog());
    const t = Date.now();
    // revocation as the API does it: CRL re-signed (atomic replace) and the CCD entry removed
    writeCrl(['r', 'a']);
    unlinkSync(join(pod.hostPath(POD_PATHS.ccdDir), 'a'));
    timed(
      'live session of a dropped by the watcher',
      await waitForLog(serverLog(), /dropping a: no CCD entry/, 15_000, from),
    );
    timed(
      'a re-handshake refused by the new CRL',
      await waitForLog(serverLog(), /CRL CHECK FAILED.*CN=a|certificate revoked/, 30_000, from),
    );
    expect(Date.now() - t).toBeGreaterThan(0);
    // b is untouched
    expect(net.curl(ns['b']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
  });

  it('reconnects a connected client on its own after the server restarts', async () => {
    await net.stop(server!);
    const from = logSize(clientLog('b'));
    const t = Date.now();
    await startServer();
    await waitForLog(clientLog('b'), INIT_DONE, 60_000, from);
    timed('client b reconnect after server restart', Date.now() - t);
    expect(net.curl(ns['b']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
  });

  it('locks every client out once the CRL nextUpdate has passed', async () => {
    const past = new Date(Date.now() - 86_400_000);
    writeCrl(['r', 'a'], past, new Date(past.getTime() - 86_400_000));
    const from = logSize(serverLog());
    await net.stop(clients['b']!);
    startClient('b');
    timed(
      'client b refused with an expired CRL',
      await waitForLog(serverLog(), /CRL has expired|CRL CHECK FAILED.*CN=b/, 30_000, from),
    );
    expect(logSize(clientLog('b'))).toBeGreaterThan(0);
  });
});
