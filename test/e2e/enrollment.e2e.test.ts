/**
 * Zero-touch enrollment on real OpenVPN: a branch network namespace that holds nothing but the one-time
 * token runs scripts/enroll-branch.sh against the sandbox host, then connects with the host's openvpn to the
 * gateway pod (run from the image's root filesystem as its Deployment declares it, support/pod.ts) and
 * reaches the pod network.
 *
 *   host (sandbox API) 198.18.N.1 ── 198.18.N.2 branch 192.0.2.30 ── 192.0.2.1 server (gateway pod) 10.99.0.1 ── 10.99.0.10 pod network
 *
 * The pod's objects are the ones the API applies for the sandbox's recorded state and server PKI after the
 * enrollment (its CCD entry included). Each step prints its timing; no step asserts on time.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createdEnrollmentSchema, enrollmentSchema } from '../../shared/api/schemas.js';
import { readServerPki } from '../../shared/gateways/gateway-pki.js';
import { readState } from '../../shared/gateways/gateway-state.js';
import type { SandboxUnderTest } from '../api/harness.js';
import { api, removeDir, startTestSandbox, waitForOperation } from '../api/harness.js';
import { objectsOfState } from './support/gateway.js';
import { Netns, logSize, waitForLog } from './support/netns.js';
import { GatewayPod, imageRootfs } from './support/pod.js';

const SCRIPT = join(import.meta.dirname, '../../scripts/enroll-branch.sh');
const SERVER_PUBLIC = '192.0.2.1';
const POD_HOST = '10.99.0.10';
const INIT_DONE = /Initialization Sequence Completed/;
// The host's end of the branch's link to the API: a per-run /30 of the benchmarking block.
const apiNet = `198.18.${Math.floor(Math.random() * 256)}`;
const API_HOST = `${apiNet}.1`;

const net = new Netns();
const ns: Record<string, string> = {};
let dir = '';
let rootfs = '';
let sut: SandboxUnderTest | undefined;
let base = '';
const timings: string[] = [];
function timed(step: string, ms: number): void {
  timings.push(`${step}: ${ms} ms`);
  console.log(`e2e: ${step} ${ms} ms`);
}

/** Runs a command in a namespace to its end without blocking the event loop (the sandbox answers it). */
function runIn(
  inNs: string,
  command: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', inNs, ...command], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The branch's side: the script under dash, given the URL and (in its environment) the token, nothing else. */
const enrollBranch = (url: string, token: string, name: string, branchDir: string) =>
  runIn(ns['branch']!, ['dash', SCRIPT, url, '', name, branchDir], {
    ENROLL_TOKEN: token,
    // The sandbox speaks plain http; a deployment's URL is https.
    ENROLL_ALLOW_HTTP: '1',
    ENROLL_SYSTEMD: 'no',
  });

async function webServer(inNs: string, host: string, port: number, body: string): Promise<void> {
  const log = join(dir, 'pod-web.log');
  const code = `require('http').createServer((q, s) => s.end('${body}')).listen(${port}, '${host}', () => console.log('listening'))`;
  net.start(inNs, ['node', '-e', code], log);
  await waitForLog(log, /listening/, 30_000);
}

beforeAll(async () => {
  for (const tool of ['openvpn', 'ip', 'curl', 'openssl', 'dash', 'unshare', 'setpriv', 'chroot', 'mount'])
    expect(net.sh(['sh', '-c', `command -v ${tool}`]).trim(), `${tool} must be installed`).not.toBe('');
  let t = Date.now();
  rootfs = imageRootfs();
  timed('image root filesystem (scripts/image-rootfs.sh)', Date.now() - t);
  dir = mkdtempSync(join(tmpdir(), 'enroll-e2e-'));

  t = Date.now();
  for (const role of ['server', 'pod', 'branch']) ns[role] = net.addNamespace(role);
  net.link(
    { ns: ns['branch']!, ip: '192.0.2.30/24' },
    { ns: ns['server']!, ip: `${SERVER_PUBLIC}/24` },
    'bs',
  );
  net.link({ ns: ns['server']!, ip: '10.99.0.1/24' }, { ns: ns['pod']!, ip: `${POD_HOST}/24` }, 'pd');
  // The branch reaches the API through a veth to the host's namespace (removed with the branch's namespace).
  const hostIf = `veh${net.suffix}`;
  const branchIf = `veb${net.suffix}`;
  net.sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', branchIf, 'netns', ns['branch']!]);
  net.sh(['ip', 'addr', 'add', `${API_HOST}/30`, 'dev', hostIf]);
  net.sh(['ip', 'link', 'set', hostIf, 'up']);
  net.sh(['ip', 'addr', 'add', `${apiNet}.2/30`, 'dev', branchIf], { ns: ns['branch'] });
  net.sh(['ip', 'link', 'set', branchIf, 'up'], { ns: ns['branch'] });
  timed('network namespaces and links', Date.now() - t);

  t = Date.now();
  sut = await startTestSandbox({ SANDBOX_HOST: API_HOST });
  base = sut.sandbox.url;
  const put = await api(base, 'PUT', '/gateways/e2e', {
    routes: ['10.99.0.0/24'],
    publicHost: SERVER_PUBLIC,
    port: 443,
  });
  expect(put.status).toBe(201);
  expect((await waitForOperation(put.headers.get('operation-location') ?? '')).status).toBe('Succeeded');
  timed('sandbox and gateway', Date.now() - t);
  await webServer(ns['pod']!, POD_HOST, 8080, 'pod-ok');
}, 180_000);

afterAll(async () => {
  await sut?.stop();
  if (sut) await removeDir(sut.dataDir);
  await net.teardown();
  if (dir && process.env['E2E_KEEP'] !== '1') rmSync(dir, { recursive: true, force: true });
  console.log(`e2e timings:\n  ${timings.join('\n  ')}`);
});

describe('zero-touch enrollment on real OpenVPN (a branch namespace holding only the token)', () => {
  it('enrolls with the script, connects at the reserved address and reaches the pod network; the token is spent', async () => {
    // GIVEN an enrollment: the branch is handed its URL and token, and nothing else
    const created = await api(base, 'POST', '/gateways/e2e/enrollments', { client: 'branch-1' });
    expect(created.status).toBe(201);
    const enrollment = createdEnrollmentSchema.parse(created.json());
    const branchDir = join(dir, 'branch');
    mkdirSync(branchDir);

    // WHEN the branch runs the script in its own namespace
    let t = Date.now();
    const run = await enrollBranch(enrollment.enrollUrl, enrollment.token, 'branch-1', branchDir);
    timed('enroll-branch.sh (key, CSR, POST /enroll, config)', Date.now() - t);
    expect([run.status, run.stderr]).toStrictEqual([0, '']);
    expect(readdirSync(branchDir).sort()).toStrictEqual(['branch-1.conf', 'branch-1.key']);
    expect(statSync(join(branchDir, 'branch-1.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(branchDir, 'branch-1.conf'), 'utf8')).not.toContain('<key>');

    // AND the gateway pod runs what the API applies for the state after the enrollment
    const cluster = sut!.sandbox.cluster!;
    const state = await readState(cluster, 'e2e');
    expect(state.clients.map((c) => [c.name, c.status, c.ip])).toStrictEqual([
      ['branch-1', 'active', enrollment.ip],
    ]);
    const pki = await readServerPki({ cluster }, 'e2e');
    const pod = new GatewayPod({
      net,
      ns: ns['server']!,
      rootfs,
      objects: objectsOfState(state, pki!),
      dir: join(dir, 'pod'),
    });
    t = Date.now();
    pod.runInitContainers();
    const serverLog = join(dir, 'server.log');
    pod.start(pod.containerNames[0]!, serverLog, { env: { OVPN_WATCH_INTERVAL: '1' } });
    await waitForLog(serverLog, INIT_DONE, 30_000);
    timed('gateway pod start', Date.now() - t);

    // THEN the branch's openvpn connects with the config and the key made there
    const clientLog = join(dir, 'branch-openvpn.log');
    const from = logSize(clientLog);
    net.start(ns['branch']!, ['openvpn', '--config', join(branchDir, 'branch-1.conf')], clientLog);
    timed('branch openvpn connect', await waitForLog(clientLog, INIT_DONE, 30_000, from));
    expect(net.sh(['ip', '-4', '-o', 'addr', 'show', 'dev', 'tun0'], { ns: ns['branch'] })).toContain(
      `inet ${enrollment.ip}/24`,
    );
    t = Date.now();
    expect(
      net.sh(['curl', '-sS', '--max-time', '5', `http://${POD_HOST}:8080/`], { ns: ns['branch'] }).trim(),
    ).toBe('pod-ok');
    timed('branch → pod network HTTP', Date.now() - t);

    // AND the enrollment shows where it was used from; a second use of the token is refused, nothing written
    const shown = enrollmentSchema.parse(
      (await api(base, 'GET', `/gateways/e2e/enrollments/${enrollment.id}`)).json(),
    );
    expect(shown).toMatchObject({ status: 'used', usedFrom: `${apiNet}.2` });
    const againDir = join(dir, 'again');
    mkdirSync(againDir);
    const again = await enrollBranch(enrollment.enrollUrl, enrollment.token, 'branch-2', againDir);
    expect([again.status, again.stderr]).toStrictEqual([1, expect.stringMatching(/token was refused/)]);
    expect(readdirSync(againDir)).toStrictEqual([]);
  });
});
