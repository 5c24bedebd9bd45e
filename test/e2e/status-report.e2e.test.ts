/**
 * The gateway reports back, for real: the pod (its container in the image's root filesystem, support/pod.ts)
 * patches its `status` ConfigMap on a real kube-apiserver (test/support/envtest.ts) with its own ServiceAccount
 * token, through the Role the manifest builder declares, while real OpenVPN clients connect, a port mapping
 * changes live and a client is revoked:
 *
 *   outside 192.0.2.20 ─┐
 *   client-a 192.0.2.11 ─┤ lan bridge ├─ 192.0.2.1 server (gateway pod) ── 10.0.0.1:443 "kubernetes" Service
 *   client-b 192.0.2.12 ─┘                                                       │ (a forwarder, as kube-proxy)
 *                                                                  the test's kube-apiserver on the host's loopback
 *
 * The gateway's objects are applied by the product's adapter as the API's identity (a user holding only the
 * ClusterRole), so RBAC's escalation check passes only if that role holds what the pod's Role grants. The
 * pod's token comes from the TokenRequest API. Each step prints its timing; no step asserts on time.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appliedView, parsePodReport } from '../../shared/gateways/gateway-status.js';
import { buildStatusConfigMap } from '../../shared/kube/manifests.js';
import { KubeCluster } from '../../shared/kube/kube-cluster.js';
import type { GatewaySpec, GatewayState, ResolvedPortMapping } from '../../shared/model/gateway.js';
import { CONFIG_KEYS, CRL_NUMBER_KEY, OBJECTS, STATUS_KEYS } from '../../shared/model/names.js';
import {
  POD_PATHS,
  SERVICE_ACCOUNT_DIR,
  portMappingsSetHash,
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
import type { Envtest } from '../support/envtest.js';
import { startEnvtest } from '../support/envtest.js';
import { gatewayObjects } from './support/gateway.js';
import { atomicWrite, Netns, logSize, waitForLog } from './support/netns.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const SERVER_PUBLIC = '192.0.2.1';
/** The `kubernetes` Service address (the first of envtest's service range, in its certificate). */
const KUBERNETES_SERVICE = '10.0.0.1';
/** Where the forwarder to the API server listens in the pod's namespace (the Service's 443 is DNATed to it). */
const FORWARDER_PORT = 6443;
const INIT_DONE = /Initialization Sequence Completed/;
const LABEL_DOMAIN = 'vpn.example.io';

const spec: GatewaySpec = {
  name: 'e2e-status',
  vpnSubnet: '10.140.0.0/24',
  routes: ['10.99.0.0/24'],
  port: 443,
  loadBalancer: { internal: false, sourceRanges: [] },
  clientCertValidityDays: 30,
};
const namespace = `vpn-${spec.name}`;
const net = new Netns();
let dir: string;
let envtest: Envtest;
let apiForwarder: ChildProcess | undefined;
let pod: GatewayPod;
let ca: CaMaterial;
let tlsCrypt: string;
const certs: Record<string, IssuedCert> = {};
const ns: Record<string, string> = {};
const clients: Record<string, ChildProcess> = {};
let server: ChildProcess;
let crlNumber = 1;
let configHash = '';
const mappingA: ResolvedPortMapping = {
  port: 8081,
  client: 'a',
  clientIp: '10.140.0.2',
  targetPort: 80,
  protocol: 'tcp',
};

const timings: string[] = [];
function timed(step: string, ms: number): void {
  timings.push(`${step}: ${ms} ms`);
  console.log(`e2e: ${step} ${ms} ms`);
}

const serverLog = () => join(dir, 'server.log');
const clientLog = (name: string) => join(dir, `client-${name}.log`);

/** One request to the test's API server, as the cluster admin (client certificate) or with a bearer token. */
function kube(
  method: string,
  path: string,
  options: { body?: unknown; token?: string; contentType?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${envtest.server}${path}`,
      {
        method,
        ca: envtest.tls.ca,
        ...(options.token
          ? { headers: { authorization: `Bearer ${options.token}` } }
          : { cert: envtest.tls.cert, key: envtest.tls.key }),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }),
        );
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.setHeader('content-type', options.contentType ?? 'application/json');
    req.end(body);
  });
}

async function statusData(): Promise<Record<string, string>> {
  const r = await kube('GET', `/api/v1/namespaces/${namespace}/configmaps/${OBJECTS.status}`);
  expect(r.status).toBe(200);
  return (r.json['data'] ?? {}) as Record<string, string>;
}

/** Polls the status ConfigMap until `ready` holds; returns the data and how long it took. */
async function waitForStatus(
  ready: (data: Record<string, string>) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<{ data: Record<string, string>; ms: number }> {
  const started = Date.now();
  for (;;) {
    const data = await statusData();
    if (ready(data)) return { data, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs)
      throw new Error(`the status never showed ${what}: ${JSON.stringify(data)}\n${readServerLogTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const readServerLogTail = () => readFileSync(serverLog(), 'utf8').slice(-3000);
const connectedNames = (data: Record<string, string>) =>
  parsePodReport(data).connections.map((c) => c.client);

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
  clients[name] = net.start(ns[name]!, ['openvpn', '--config', profile], clientLog(name));
}

function signCrl(revoked: string[]): string {
  crlNumber += 1;
  const now = new Date();
  return buildCrl(ca, {
    revoked: revoked.map((name) => ({
      serial: certs[name]!.serial,
      revokedAt: now,
      reason: 'cessationOfOperation' as const,
    })),
    crlNumber,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 30 * 86_400_000),
  });
}

/**
 * The API server, reachable from the pod's network namespace at the `kubernetes` Service address: a forwarder
 * in that namespace to a Unix socket, and one on the host from it to the API server's loopback port. Both are
 * processes of their own (socat): the test's event loop blocks while a container runs to its end.
 */
async function forwardApiServer(podNs: string): Promise<void> {
  const socket = join(dir, 'apiserver.sock');
  const port = new URL(envtest.server).port;
  const hostLog = join(dir, 'apiserver-forwarder.log');
  apiForwarder = spawn('socat', ['-d', '-d', `UNIX-LISTEN:${socket},fork`, `TCP:127.0.0.1:${port}`], {
    stdio: ['ignore', openSync(hostLog, 'a'), openSync(hostLog, 'a')],
  });
  await waitForLog(hostLog, /listening on/, 30_000);
  // The Service's port 443 is the gateway's VPN port in this namespace: the forwarder listens on another one,
  // and a DNAT rule of locally sent packets (kube-proxy's way) leads the Service address's 443 to it.
  net.sh(['ip', 'addr', 'add', `${KUBERNETES_SERVICE}/32`, 'dev', 'lo'], { ns: podNs });
  net.sh(
    [
      'iptables',
      '-t',
      'nat',
      '-A',
      'OUTPUT',
      '-d',
      KUBERNETES_SERVICE,
      '-p',
      'tcp',
      '--dport',
      '443',
      '-j',
      'DNAT',
      '--to-destination',
      `${KUBERNETES_SERVICE}:${FORWARDER_PORT}`,
    ],
    { ns: podNs },
  );
  const podLog = join(dir, 'kube-proxy.log');
  net.start(
    podNs,
    [
      'socat',
      '-d',
      '-d',
      `TCP-LISTEN:${FORWARDER_PORT},bind=${KUBERNETES_SERVICE},fork,reuseaddr`,
      `UNIX-CONNECT:${socket}`,
    ],
    podLog,
  );
  await waitForLog(podLog, /listening on/, 30_000);
}

beforeAll(async () => {
  let t = Date.now();
  const rootfs = imageRootfs();
  timed('image root filesystem', Date.now() - t);
  dir = mkdtempSync(join(tmpdir(), 'ovpn-status-e2e-'));
  t = Date.now();
  envtest = await startEnvtest({ controllerManager: false });
  timed('kube-apiserver ready', Date.now() - t);

  ca = await createCa({ commonName: 'e2e status CA' });
  const serverCert = await issueServerCert(ca, { commonName: serverCommonName(spec.name) });
  for (const name of ['a', 'b'])
    certs[name] = await issueClientCert(ca, { commonName: name, validityDays: 30 });
  tlsCrypt = generateTlsCryptKey();
  const client = (name: string, ip: string) => ({ name, ip, cert: certs[name]! });
  const objects = gatewayObjects({
    spec,
    pki: {
      caCrt: ca.certPem,
      serverCrt: serverCert.certPem,
      serverKey: serverCert.keyPem!,
      tlsCryptKey: tlsCrypt,
      crlPem: signCrl([]),
    },
    server: serverCert,
    clients: [client('a', '10.140.0.2'), client('b', '10.140.0.3')],
    portMappings: [{ port: 8081, client: 'a', targetPort: 80, protocol: 'tcp' }],
  });
  const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as {
    spec: { template: { metadata: { annotations: Record<string, string> } } };
  };
  configHash = deployment.spec.template.metadata.annotations[`${LABEL_DOMAIN}/config-hash`] ?? '';

  // GIVEN the gateway's objects applied as the API does it, by the API's identity
  t = Date.now();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(envtest.api.kubeConfigYaml);
  const cluster = new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' });
  await cluster.apply(objects);
  await cluster.create(buildStatusConfigMap(spec.name, LABEL_DOMAIN));
  timed(`gateway objects applied as the API identity (${objects.length + 1})`, Date.now() - t);

  // AND a token of the pod's ServiceAccount, as the kubelet would request it
  const token = await kube(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${OBJECTS.serviceAccount}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  expect(token.status).toBe(201);

  const lan = net.addNamespace('lan');
  net.sh(['ip', 'link', 'add', 'br0', 'type', 'bridge'], { ns: lan });
  net.sh(['ip', 'link', 'set', 'br0', 'up'], { ns: lan });
  for (const [role, ip] of [
    ['server', `${SERVER_PUBLIC}/24`],
    ['a', '192.0.2.11/24'],
    ['b', '192.0.2.12/24'],
    ['outside', '192.0.2.20/24'],
  ] as const) {
    ns[role] = net.addNamespace(role);
    const { b } = net.link({ ns: ns[role], ip }, { ns: lan }, `s${role.slice(0, 1)}`);
    net.sh(['ip', 'link', 'set', b, 'master', 'br0'], { ns: lan });
  }
  await forwardApiServer(ns['server']!);

  pod = new GatewayPod({
    net,
    ns: ns['server']!,
    rootfs,
    objects,
    dir: join(dir, 'pod'),
    serviceAccount: {
      token: String((token.json['status'] as { token: string }).token),
      caCrt: envtest.tls.ca,
      namespace,
      host: KUBERNETES_SERVICE,
      port: 443,
    },
  });
  pod.runInitContainers();
  // A web server on client a's tunnel address, behind the port mappings.
  server = pod.start(pod.containerNames[0]!, serverLog(), { env: { OVPN_WATCH_INTERVAL: '1' } });
  timed('server start', await waitForLog(serverLog(), INIT_DONE, 30_000));
}, 180_000);

afterAll(async () => {
  await net.teardown();
  apiForwarder?.kill('SIGKILL');
  await envtest?.stop();
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  console.log(`e2e status timings:\n  ${timings.join('\n  ')}`);
});

describe('the gateway pod reports what it runs (real OpenVPN, real kube-apiserver, the pod’s own token)', () => {
  it('reports the config hash, the applied mapping set and the CRL number once it runs', async () => {
    const { data, ms } = await waitForStatus((d) => Boolean(d[STATUS_KEYS.reportedAt]), 'a first report');
    timed('first report after openvpn ready', ms);
    expect(data).toMatchObject({
      [STATUS_KEYS.configHash]: configHash,
      [STATUS_KEYS.portMappings]: portMappingsSetHash([mappingA]),
      [STATUS_KEYS.crlNumber]: String(crlNumber),
      [STATUS_KEYS.watcherError]: '',
      [STATUS_KEYS.clients]: '',
    });
    expect(configHash).toMatch(/^[0-9a-f]{32}$/);
  });

  it('reports a connected client with its CN, real address, tunnel address and since', async () => {
    const before = Math.floor(Date.now() / 1000);
    startClient('a');
    await waitForLog(clientLog('a'), INIT_DONE, 30_000);
    const { data, ms } = await waitForStatus((d) => connectedNames(d).includes('a'), 'client a');
    timed('report latency: client a connected → status shows it', ms);
    const [connection] = parsePodReport(data).connections;
    expect(connection).toMatchObject({ client: 'a', tunnelAddress: '10.140.0.2' });
    expect(connection?.realAddress).toMatch(/^192\.0\.2\.11:\d+$/);
    const since = Date.parse(connection!.connectedSince) / 1000;
    expect(since).toBeGreaterThanOrEqual(before - 1);
    expect(since).toBeLessThanOrEqual(Date.now() / 1000);
  });

  it('applies a mapping change live: the new mapping works, the report names the new set, a’s session stays', async () => {
    const web = join(dir, 'branch-a-web.log');
    const code = `require('http').createServer((q, s) => s.end('branch-a')).listen(80, '10.140.0.2', () => console.log('listening'))`;
    net.start(ns['a']!, ['node', '-e', code], web);
    await waitForLog(web, /listening/, 30_000);
    expect(net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('branch-a');
    const sinceBefore = parsePodReport(await statusData()).connections.find((c) => c.client === 'a');
    const clientLogFrom = logSize(clientLog('a'));
    const serverLogFrom = logSize(serverLog());

    // WHEN the kubelet delivers a mappings file with a second mapping (8082 → a:80)
    const next = [mappingA, { ...mappingA, port: 8082 }];
    const t0 = Date.now();
    atomicWrite(
      join(pod.hostPath(POD_PATHS.portMappingsDir), CONFIG_KEYS.mappings),
      renderPortMappingsFile(next),
    );
    // THEN the new mapping answers (tried every 50 ms)
    let answered = '';
    while ((answered = net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8082/`, 0.5)) !== 'branch-a') {
      if (Date.now() - t0 > 30_000)
        throw new Error(`8082 never answered: ${answered}\n${readServerLogTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    timed('mapping change: file written → new mapping answers', Date.now() - t0);
    // AND the report names the new set
    const { data } = await waitForStatus(
      (d) => d[STATUS_KEYS.portMappings] === portMappingsSetHash(next),
      'the new mapping set',
    );
    timed('report latency: file written → status names the new set', Date.now() - t0);
    // AND a's session was never dropped: same connection, no reconnect in either log, the old mapping still works
    const after = parsePodReport(data).connections.find((c) => c.client === 'a');
    expect(after?.connectedSince).toBe(sinceBefore?.connectedSince);
    expect(readFileSync(clientLog('a'), 'utf8').slice(clientLogFrom)).not.toMatch(
      /Initialization Sequence Completed|SIGUSR1|Restart pause|Connection reset/,
    );
    expect(readFileSync(serverLog(), 'utf8').slice(serverLogFrom)).not.toMatch(/Peer Connection Initiated/);
    expect(net.curl(ns['outside']!, `http://${SERVER_PUBLIC}:8081/`)).toBe('branch-a');
    // AND the API's reading of the report: the latest mappings and CRL applied, the template's hash running
    const state = {
      spec,
      clients: [{ name: 'a', ip: '10.140.0.2', status: 'active' }],
      portMappings: next.map(({ clientIp: _ip, ...m }) => m),
      crl: { number: crlNumber },
    } as unknown as GatewayState;
    expect(appliedView(state, parsePodReport(data), configHash)).toMatchObject({
      portMappings: true,
      crl: true,
      configHash: true,
    });
  });

  it('reports the new CRL number and drops the revoked client from the connections', async () => {
    startClient('b');
    await waitForLog(clientLog('b'), INIT_DONE, 30_000);
    await waitForStatus((d) => connectedNames(d).includes('b'), 'client b');
    // WHEN b is revoked as the API does it: CRL (and its number) re-signed into the Secret, CCD entry removed
    const t0 = Date.now();
    const pki = pod.hostPath(POD_PATHS.pkiDir);
    atomicWrite(join(pki, 'crl.pem'), signCrl(['b']));
    atomicWrite(join(pki, CRL_NUMBER_KEY), String(crlNumber));
    unlinkSync(join(pod.hostPath(POD_PATHS.ccdDir), 'b'));
    // THEN the report carries the new number and no longer lists b; a stays
    const { data, ms } = await waitForStatus(
      (d) => d[STATUS_KEYS.crlNumber] === String(crlNumber) && !connectedNames(d).includes('b'),
      `CRL ${crlNumber} without b`,
    );
    timed('report latency: revocation written → status shows the CRL and b gone', ms);
    timed('revocation written → b gone from the report, measured from the CRL write', Date.now() - t0);
    expect(connectedNames(data)).toStrictEqual(['a']);
  });

  it('lets the pod’s token get and patch its status, and nothing else (403)', () => {
    // GIVEN the container as it runs, with the pod's ServiceAccount token, calling the API server itself
    const call = (method: string, object: string, body?: string) =>
      pod.run(pod.containerNames[0]!, {
        command: [
          'sh',
          '-c',
          `curl -sS -o /dev/null -w '%{http_code}' --cacert ${SERVICE_ACCOUNT_DIR}/ca.crt ` +
            `-H "Authorization: Bearer $(cat ${SERVICE_ACCOUNT_DIR}/token)" -X ${method} ` +
            (body ? `-H 'Content-Type: application/merge-patch+json' --data '${body}' ` : '') +
            `"https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/${namespace}/configmaps/${object}"`,
        ],
      }).output;
    // THEN its own report: yes; the state, the mappings, a ConfigMap it would create: no
    expect(call('GET', OBJECTS.status)).toBe('200');
    expect(call('PATCH', OBJECTS.status, '{"data":{}}')).toBe('200');
    expect(call('PATCH', OBJECTS.state, '{"data":{"x":"y"}}')).toBe('403');
    expect(call('PATCH', OBJECTS.portMappings, '{"data":{"x":"y"}}')).toBe('403');
    expect(call('GET', OBJECTS.server)).toBe('403');
  });

  it('writes the report only on change while a client sits idle (byte counters alone at most once a minute)', async () => {
    const count = () =>
      (readFileSync(serverLog(), 'utf8').match(/entrypoint: status reported/g) ?? []).length;
    const before = count();
    const window = 15_000;
    await new Promise((resolve) => setTimeout(resolve, window));
    const writes = count() - before;
    console.log(`e2e: status writes in ${window / 1000} s with client a connected and idle: ${writes}`);
    timings.push(`status writes in ${window / 1000} s, client connected and idle: ${writes}`);
    expect(writes).toBeLessThanOrEqual(1);
    await net.stop(server);
  });
});
