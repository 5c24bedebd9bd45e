/**
 * The real thing: the project's PKI, renderers and entrypoint script with the real `openvpn` binary,
 * in network namespaces made by this test:
 *
 *   outside 192.0.2.20 ─┐
 *   client-a 192.0.2.11 ─┤ lan bridge ├─ 192.0.2.1 server (entrypoint.sh → openvpn) 10.99.0.1 ── 10.99.0.10 pod
 *   client-b 192.0.2.12 ─┤
 *   client-x 192.0.2.13 ─┘
 *
 * The server runs exactly the files the ConfigMaps and the Secret would hold, from a root directory laid
 * out like the pod's /etc/openvpn (OVPN_ROOT). Each step prints its timing; no step asserts on time.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewaySpec } from '../../shared/model/gateway.js';
import {
  planAddresses,
  renderCcdEntry,
  renderClientProfile,
  renderEntrypoint,
  renderPortMappingsFile,
  renderServerConf,
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
import { Netns, logSize, waitForLog } from './support/netns.js';

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
const plan = planAddresses(spec.vpnSubnet);

const net = new Netns();
let dir: string;
let root: string;
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

/** Writes like the kubelet does: a new file renamed over the old one (new inode, new mtime). */
function atomicWrite(path: string, content: string): void {
  const temp = `${path}.tmp-${Math.random().toString(16).slice(2)}`;
  writeFileSync(temp, content);
  renameSync(temp, path);
}

function writeCrl(
  revoked: string[],
  nextUpdate = new Date(Date.now() + 30 * 86_400_000),
  thisUpdate = new Date(),
): void {
  crlNumber += 1;
  atomicWrite(
    join(root, 'pki', 'crl.pem'),
    buildCrl(ca, {
      revoked: revoked.map((name) => ({
        serial: certs[name]!.serial,
        revokedAt: thisUpdate,
        reason: 'cessationOfOperation' as const,
      })),
      crlNumber,
      thisUpdate,
      nextUpdate,
    }),
  );
}

const serverLog = () => join(dir, 'server.log');
const clientLog = (name: string) => join(dir, `client-${name}.log`);

async function startServer(): Promise<number> {
  const from = logSize(serverLog());
  server = net.start(ns['server']!, ['sh', join(root, 'server', 'entrypoint.sh')], serverLog(), {
    OVPN_ROOT: root,
    OVPN_WATCH_INTERVAL: '1',
  });
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

function curl(from: string, url: string): string {
  return net.sh(['curl', '-sS', '--max-time', '5', url], { ns: from, allowFail: true }).trim();
}

beforeAll(async () => {
  for (const tool of ['openvpn', 'iptables', 'ip', 'socat', 'curl'])
    expect(net.sh(['sh', '-c', `command -v ${tool}`]).trim(), `${tool} must be installed`).not.toBe('');
  dir = mkdtempSync(join(tmpdir(), 'ovpn-e2e-'));
  root = join(dir, 'root');
  for (const sub of ['server', 'pki', 'ccd', 'port-mappings', 'run'])
    mkdirSync(join(root, sub), { recursive: true });

  let t = Date.now();
  ca = await createCa({ commonName: 'e2e VPN CA' });
  const serverCert = await issueServerCert(ca, { commonName: serverCommonName(spec.name) });
  for (const name of ['a', 'b', 'x', 'r'])
    certs[name] = await issueClientCert(ca, { commonName: name, validityDays: 30 });
  tlsCrypt = generateTlsCryptKey();
  timed('PKI (CA, server, 4 clients)', Date.now() - t);

  writeFileSync(join(root, 'server', 'server.conf'), renderServerConf(spec));
  writeFileSync(join(root, 'server', 'entrypoint.sh'), renderEntrypoint(spec));
  writeFileSync(join(root, 'pki', 'ca.crt'), ca.certPem);
  writeFileSync(join(root, 'pki', 'server.crt'), serverCert.certPem);
  writeFileSync(join(root, 'pki', 'server.key'), serverCert.keyPem!, { mode: 0o600 });
  writeFileSync(join(root, 'pki', 'tls-crypt.key'), tlsCrypt, { mode: 0o600 });
  // client r is revoked from the start; a and b have CCD entries, x does not
  writeCrl(['r']);
  writeFileSync(join(root, 'ccd', 'a'), renderCcdEntry(plan, '10.140.0.2'));
  writeFileSync(join(root, 'ccd', 'b'), renderCcdEntry(plan, '10.140.0.3'));
  writeFileSync(join(root, 'ccd', 'r'), renderCcdEntry(plan, '10.140.0.4'));
  writeFileSync(
    join(root, 'port-mappings', 'mappings.txt'),
    renderPortMappingsFile([
      { port: 8081, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' },
    ]),
  );

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

  // a web server on the "pod network"
  net.start(
    ns['pod'],
    ['node', '-e', `require('http').createServer((q, s) => s.end('pod-ok')).listen(8080, '${POD_HOST}')`],
    join(dir, 'pod.log'),
  );
  timed('server start (entrypoint → openvpn ready)', await startServer());
}, 120_000);

afterAll(async () => {
  await net.teardown();
  // E2E_KEEP=1 keeps the logs and files for a look after a failure.
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  console.log(`e2e timings:\n  ${timings.join('\n  ')}`);
});

describe('OpenVPN end to end (real openvpn in network namespaces)', () => {
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
    expect(curl(ns['a']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
    timed('client a → pod network HTTP', Date.now() - t);
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
    net.start(
      ns['a']!,
      ['node', '-e', "require('http').createServer((q, s) => s.end('branch-a')).listen(80, '10.140.0.2')"],
      join(dir, 'branch-a-web.log'),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    let t = Date.now();
    expect(curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('branch-a');
    timed('outside → 8081 → client a:80', Date.now() - t);

    t = Date.now();
    atomicWrite(
      join(root, 'port-mappings', 'mappings.txt'),
      renderPortMappingsFile([
        { port: 8082, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' },
      ]),
    );
    await waitForLog(serverLog(), /port mappings applied[\s\S]*port mappings applied/, 15_000);
    expect(curl(ns['outside']!, `http://${SERVER_PUBLIC}:8082/`)).toBe('branch-a');
    expect(curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('');
    timed('mapping change picked up by the watcher', Date.now() - t);
  });

  it('drops the live session of a revoked client and refuses its next handshake (CRL re-signed while running)', async () => {
    startClient('b');
    await waitForLog(clientLog('b'), INIT_DONE, 30_000);
    const from = logSize(serverLog());
    const t = Date.now();
    // revocation as the API does it: CRL re-signed (atomic replace) and the CCD entry removed
    writeCrl(['r', 'a']);
    unlinkSync(join(root, 'ccd', 'a'));
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
    expect(curl(ns['b']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
  });

  it('reconnects a connected client on its own after the server restarts', async () => {
    await net.stop(server!);
    const from = logSize(clientLog('b'));
    const t = Date.now();
    await startServer();
    await waitForLog(clientLog('b'), INIT_DONE, 60_000, from);
    timed('client b reconnect after server restart', Date.now() - t);
    expect(curl(ns['b']!, `http://${POD_HOST}:8080/`)).toBe('pod-ok');
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
