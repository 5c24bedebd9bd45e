/**
 * Branch LANs on the real OpenVPN: the gateway pod (the Deployment's containers in the image's root
 * filesystem, support/pod.ts) routes the subnets behind its clients, and the watcher applies a subnet
 * change live, dropping only the client whose subnets changed.
 *
 *                         ┌─ site 192.0.2.31 ── 192.168.50.1 │ 192.168.50.10 site-host (default via site)
 *   server 192.0.2.1 ─ lan bridge ─ late 192.0.2.32 ── 192.168.60.1 │ 192.168.60.10 late-host (default via late)
 *   (gateway pod)         └─ b 192.0.2.33 (a branch without a LAN)
 *   server 10.99.0.1 ── 10.99.0.10 pod network (a web server answering with the caller's address)
 *
 * site's LAN is in its CCD entry from the start, with port 8083 mapped to site-host:80 (`targetHost`); late
 * gets its LAN while every branch is connected. Each timing is printed; no step asserts on time, every wait
 * has a deadline that fails with what it saw.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySpec } from '../../shared/model/gateway.js';
import {
  LAN_ROUTE_PROTOCOL,
  POD_PATHS,
  planAddresses,
  renderCcdEntry,
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
import { atomicWrite, Netns, logSize, waitForLog } from './support/netns.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const SERVER_PUBLIC = '192.0.2.1';
const SERVER_POD_SIDE = '10.99.0.1';
const POD_HOST = '10.99.0.10';
const INIT_DONE = /Initialization Sequence Completed/;
/** What a client's log shows when its session ends or restarts. */
const SESSION_ENDED = /Initialization Sequence Completed|SIGUSR1|SIGHUP|Restart pause|Connection reset/;

const spec: GatewaySpec = {
  name: 'lans',
  vpnSubnet: '10.140.0.0/24',
  routes: ['10.99.0.0/24'],
  port: 443,
  loadBalancer: { internal: false, sourceRanges: [] },
  clientCertValidityDays: 30,
};
const plan = planAddresses(spec.vpnSubnet);
const BRANCHES = {
  site: { ip: '10.140.0.2', public: '192.0.2.31/24', lan: '192.168.50.0/24', router: '192.168.50.1/24' },
  late: { ip: '10.140.0.4', public: '192.0.2.32/24', lan: '192.168.60.0/24', router: '192.168.60.1/24' },
  b: { ip: '10.140.0.3', public: '192.0.2.33/24' },
} as const;
const SITE_HOST = '192.168.50.10';
const LATE_HOST = '192.168.60.10';

const net = new Netns();
const ns: Record<string, string> = {};
const certs: Record<string, IssuedCert> = {};
let dir: string;
let pod: GatewayPod;
let ca: CaMaterial;
let tlsCrypt: string;

function timed(step: string, ms: number): void {
  console.log(`e2e branch LANs: ${step} ${ms} ms`);
}

const serverLog = () => join(dir, 'server.log');
const clientLog = (name: string) => join(dir, `client-${name}.log`);

function startClient(name: string): void {
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
  net.start(ns[name]!, ['openvpn', '--config', profile], clientLog(name));
}

/** An HTTP server in a namespace answering `<body> <caller's address>`; resolves once it listens. */
async function webServer(inNs: string, host: string, port: number, body: string): Promise<void> {
  const log = join(dir, `web-${body}.log`);
  const code = `require('http').createServer((q, s) => s.end('${body} ' + q.socket.remoteAddress)).listen(${port}, '${host}', () => console.log('listening'))`;
  net.start(inNs, ['node', '-e', code], log);
  await waitForLog(log, /listening/, 30_000);
}

/** Probes here answer at once or not at all: 2 s unless given. */
const curl = (from: string, url: string, maxSeconds = 2) => net.curl(from, url, maxSeconds);

/** Polls `probe` until it answers `expected`; the time it took, or an error naming the last answer. */
async function until(
  what: string,
  probe: () => string,
  expected: string,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    last = probe();
    if (last === expected) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`${what}: still '${last}' after ${timeoutMs} ms (expected '${expected}')`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The gateway pod's routes tagged as branch-LAN routes. */
const lanRoutes = () =>
  net.sh(['ip', '-4', 'route', 'show', 'proto', String(LAN_ROUTE_PROTOCOL)], { ns: ns['server'] }).trim();

/** A branch: its namespace on the lan bridge, a LAN behind it (when it has one) with one host, forwarding on. */
function addBranch(name: keyof typeof BRANCHES, hostNs?: string, host?: string): void {
  const branch = BRANCHES[name];
  ns[name] = net.addNamespace(name);
  const { b } = net.link({ ns: ns[name], ip: branch.public }, { ns: ns['lan']! }, name.slice(0, 2));
  net.sh(['ip', 'link', 'set', b, 'master', 'br0'], { ns: ns['lan'] });
  if (!('lan' in branch) || !hostNs || !host) return;
  ns[hostNs] = net.addNamespace(hostNs);
  net.link({ ns: ns[name], ip: branch.router }, { ns: ns[hostNs], ip: `${host}/24` }, `${name.slice(0, 1)}h`);
  net.sh(['ip', 'route', 'add', 'default', 'via', branch.router.split('/')[0]!], { ns: ns[hostNs] });
  net.sh(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'], { ns: ns[name] });
}

beforeAll(async () => {
  const rootfs = imageRootfs();
  dir = mkdtempSync(join(tmpdir(), 'lans-e2e-'));
  ca = await createCa({ commonName: 'e2e LAN CA' });
  const serverCert = await issueServerCert(ca, { commonName: serverCommonName(spec.name) });
  for (const name of Object.keys(BRANCHES))
    certs[name] = await issueClientCert(ca, { commonName: name, validityDays: 30 });
  tlsCrypt = generateTlsCryptKey();
  const objects = gatewayObjects({
    spec,
    pki: {
      caCrt: ca.certPem,
      serverCrt: serverCert.certPem,
      serverKey: serverCert.keyPem!,
      tlsCryptKey: tlsCrypt,
      crlPem: buildCrl(ca, {
        revoked: [],
        crlNumber: 1,
        thisUpdate: new Date(),
        nextUpdate: new Date(Date.now() + 30 * 86_400_000),
      }),
    },
    server: serverCert,
    clients: [
      { name: 'site', ip: BRANCHES.site.ip, cert: certs['site']!, subnets: [BRANCHES.site.lan] },
      { name: 'b', ip: BRANCHES.b.ip, cert: certs['b']! },
      { name: 'late', ip: BRANCHES.late.ip, cert: certs['late']! },
    ],
    portMappings: [{ port: 8083, client: 'site', targetPort: 80, targetHost: SITE_HOST, protocol: 'tcp' }],
  });

  ns['lan'] = net.addNamespace('lan');
  net.sh(['ip', 'link', 'add', 'br0', 'type', 'bridge'], { ns: ns['lan'] });
  net.sh(['ip', 'link', 'set', 'br0', 'up'], { ns: ns['lan'] });
  ns['server'] = net.addNamespace('server');
  const { b } = net.link({ ns: ns['server'], ip: `${SERVER_PUBLIC}/24` }, { ns: ns['lan'] }, 'sv');
  net.sh(['ip', 'link', 'set', b, 'master', 'br0'], { ns: ns['lan'] });
  ns['pod'] = net.addNamespace('pod');
  net.link({ ns: ns['server'], ip: `${SERVER_POD_SIDE}/24` }, { ns: ns['pod'], ip: `${POD_HOST}/24` }, 'pd');
  addBranch('site', 'sitehost', SITE_HOST);
  addBranch('late', 'latehost', LATE_HOST);
  addBranch('b');

  pod = new GatewayPod({ net, ns: ns['server'], rootfs, objects, dir: join(dir, 'pod') });
  pod.runInitContainers();
  await Promise.all([
    webServer(ns['pod'], POD_HOST, 8080, 'pod-ok'),
    webServer(ns['sitehost']!, SITE_HOST, 80, 'site-host'),
    webServer(ns['latehost']!, LATE_HOST, 80, 'late-host'),
  ]);
  pod.start(pod.containerNames[0]!, serverLog(), { env: { OVPN_WATCH_INTERVAL: '1' } });
  await waitForLog(serverLog(), INIT_DONE, 20_000);
  for (const name of Object.keys(BRANCHES)) startClient(name);
  await Promise.all(Object.keys(BRANCHES).map((name) => waitForLog(clientLog(name), INIT_DONE, 30_000)));
}, 180_000);

afterAll(async () => {
  await net.teardown();
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
});

describe('branch LANs end to end (the gateway pod in the image, real clients, network namespaces)', () => {
  it('routes a LAN behind its client: the pod network reaches a LAN host through a port mapping with targetHost', async () => {
    // THEN the pod routes the LAN of site's CCD entry on the tunnel, tagged as its own
    await until('the route to site’s LAN', lanRoutes, `${BRANCHES.site.lan} dev tun0 scope link`, 15_000);
    // AND the "pod network" reaches site-host through the mapping; the host sees the server's tunnel address
    const ms = await until(
      'pod network → 8083 → site-host:80',
      () => curl(ns['pod']!, `http://${SERVER_POD_SIDE}:8083/`),
      `site-host ${plan.serverIp}`,
      15_000,
    );
    timed('pod network → mapping → LAN host answered after', ms);
  });

  it('lets a LAN host reach the pushed cluster route, masqueraded in the pod like the tunnel', () => {
    // the pod network's server sees the pod's address, so its reply comes back through the gateway
    expect(curl(ns['sitehost']!, `http://${POD_HOST}:8080/`)).toBe(`pod-ok ${SERVER_POD_SIDE}`);
  });

  it('refuses client-to-client: a branch with a route of its own reaches neither another LAN nor another branch', async () => {
    // GIVEN b routes site's LAN and tunnel address into its tunnel by hand
    net.sh(['ip', 'route', 'add', BRANCHES.site.lan, 'dev', 'tun0'], { ns: ns['b'] });
    await webServer(ns['site']!, BRANCHES.site.ip, 8088, 'site-tunnel');
    // WHEN b tries both THEN nothing answers
    expect(curl(ns['b']!, `http://${SITE_HOST}/`)).toBe('');
    expect(curl(ns['b']!, `http://${BRANCHES.site.ip}:8088/`)).toBe('');
    // AND it is the pod's forwarding rule that refused them (its counter moved), while the same hosts
    // answer from the pod network
    const rule = pod.run(pod.containerNames[0]!, {
      command: ['iptables', '-L', 'AVG-FWD', '-n', '-v', '-x'],
    });
    const dropped = /^\s*(\d+)\s+\d+\s+DROP\s.*tun0\s+tun0/m.exec(rule.output);
    expect(Number(dropped?.[1] ?? 0), rule.output).toBeGreaterThan(0);
    expect(curl(ns['pod']!, `http://${SERVER_POD_SIDE}:8083/`)).toBe(`site-host ${plan.serverIp}`);
  });

  it('adds a LAN to another client live: only that client reconnects, and the new route works', async () => {
    // GIVEN every branch connected, and late's LAN not routed yet
    expect(curl(ns['latehost']!, `http://${POD_HOST}:8080/`, 1)).toBe('');
    const from = Object.fromEntries(['site', 'b', 'late'].map((n) => [n, logSize(clientLog(n))]));
    const serverFrom = logSize(serverLog());
    // WHEN late's CCD entry gains its LAN (as the API writes it, delivered like the kubelet does)
    const started = Date.now();
    atomicWrite(
      join(pod.hostPath(POD_PATHS.ccdDir), 'late'),
      renderCcdEntry(plan, BRANCHES.late.ip, [BRANCHES.late.lan]),
    );
    // THEN the pod routes it, late alone is dropped and reconnects, and late-host reaches the cluster route
    await until(
      'the route to late’s LAN',
      () => (lanRoutes().includes(BRANCHES.late.lan) ? 'yes' : 'no'),
      'yes',
      15_000,
    );
    const routed = Date.now() - started;
    await waitForLog(clientLog('late'), INIT_DONE, 30_000, from['late']);
    const reconnected = Date.now() - started;
    await until(
      'late-host → pod network',
      () => curl(ns['latehost']!, `http://${POD_HOST}:8080/`, 1),
      `pod-ok ${SERVER_POD_SIDE}`,
      30_000,
    );
    const works = Date.now() - started;
    timed('CCD change → kernel route in the pod', routed);
    timed('CCD change → late reconnected', reconnected);
    timed('CCD change → late-host reaches the cluster route', works);
    // AND no other session ended: nothing in site's or b's log since, and the server dropped only late
    const since = (name: string) => readSince(clientLog(name), from[name] ?? 0);
    expect({ site: SESSION_ENDED.test(since('site')), b: SESSION_ENDED.test(since('b')) }).toStrictEqual({
      site: false,
      b: false,
    });
    const dropped = [
      ...readSince(serverLog(), serverFrom).matchAll(/reconnecting ([a-z0-9-]+)|dropping ([a-z0-9-]+)/g),
    ];
    expect(dropped.map((m) => m[1] ?? m[2])).toStrictEqual(['late']);
    console.log(
      `e2e branch LANs: sessions dropped by the subnet change: ${dropped.length} (late's own), others 0`,
    );
    expect(curl(ns['b']!, `http://${POD_HOST}:8080/`)).toBe(`pod-ok ${SERVER_POD_SIDE}`);
  });

  it('removes the route of a LAN taken away, and only the routes it added', async () => {
    // GIVEN a route on the tunnel that the entrypoint did not add
    net.sh(['ip', 'route', 'add', '192.168.70.0/24', 'dev', 'tun0'], { ns: ns['server'] });
    // WHEN late's LAN is removed
    atomicWrite(join(pod.hostPath(POD_PATHS.ccdDir), 'late'), renderCcdEntry(plan, BRANCHES.late.ip));
    // THEN its route goes, site's and the foreign one stay
    await until('late’s route removed', lanRoutes, `${BRANCHES.site.lan} dev tun0 scope link`, 15_000);
    expect(net.sh(['ip', '-4', 'route', 'show', '192.168.70.0/24'], { ns: ns['server'] })).toContain(
      'dev tun0',
    );
  });
});

function readSince(path: string, offset: number): string {
  return readFileSync(path, 'utf8').slice(offset);
}
