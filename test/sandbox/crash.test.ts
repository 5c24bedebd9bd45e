/**
 * The crash test: the sandbox host (`sandbox/main.ts`, what `npm start` runs) as a child process on a
 * temporary data directory, driven over HTTP with mixed bursts (create gateways, issue clients with
 * generated keys and CSRs, revoke some, force-revoke mapped ones, replace port mappings, delete gateways
 * while issues to them are in flight) and killed with SIGKILL in every round: at the k-th write to disk
 * after the burst starts, just before or just after it (a step boundary, injected by a preloaded test
 * hook), or at a random moment. After each
 * kill it restarts on the same data directory, repeats every request that got no answer (or a 5xx) until
 * answered, waits for the deletions it started, and checks the invariants (test/support/invariants.ts)
 * and that no acknowledged write was lost. Choices come from one seed (printed; `CRASH_SEED` replays it,
 * `CRASH_ROUNDS` sets the rounds, default 50).
 *
 * The host runs from an esbuild bundle of the sandbox's own sources (built here, into .cache/): the same
 * code as `npm start`, loaded in a fraction of the time of the tsc output, which matters over 50+
 * restarts. The bundle is split at the product's dynamic imports, so what the sandbox never loads (the
 * Kubernetes client, the Azure SDKs: two thirds of the code) is not read and compiled at every start.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import type { PortMapping } from '../../shared/model/gateway.js';
import { EmbeddedCluster } from '../../sandbox/embedded-cluster.js';
import { AcknowledgedWrites } from '../support/acknowledged-writes.js';
import { opensslCsr } from '../support/openssl-csr.js';
import type { InvariantName, Violation } from '../support/invariants.js';
import { INVARIANTS, checkInvariants, countByInvariant } from '../support/invariants.js';
import type { SeededRandom } from '../support/seeded-random.js';
import { seedFrom, seededRandom } from '../support/seeded-random.js';
import { readStoredState } from '../support/stored-state.js';
import { sealedChunkNames } from '../../shared/model/state-codec.js';

const BUNDLE_DIR = '.cache/crash-sandbox';
const ROUNDS = Number(process.env['CRASH_ROUNDS'] ?? 50);
const SEED = seedFrom(process.env['CRASH_SEED']);
/** Every invariant is enforced (the list is printed with the figures). */
const ENFORCED: ReadonlySet<InvariantName> = new Set(INVARIANTS);

type Kind = 'createGateway' | 'issue' | 'revoke' | 'mappings' | 'deleteGateway';

interface Request {
  readonly kind: Kind;
  readonly gateway: string;
  readonly client?: string;
  readonly force?: boolean;
  readonly body?: unknown;
  /** An issue sent with the DELETE of its gateway: 201 (before the mark), 409 or 404 (after) are all right. */
  readonly racesDeletion?: boolean;
  readonly round: number;
  tries: number;
}

interface Answer {
  /** 0: no answer (the host died or the connection broke). */
  readonly status: number;
  readonly body: string;
  readonly operationLocation?: string | undefined;
}

interface WorldGateway {
  /** What the test may rely on: clients whose issue or revocation was acknowledged. */
  readonly clients: Map<string, 'active' | 'revoked' | 'unknown'>;
  mappings: readonly PortMapping[];
  /** The operation URL of an acknowledged deletion not yet seen to finish. */
  deleting?: string | undefined;
  deleted: boolean;
}

const figures = {
  rounds: 0,
  requests: 0,
  retries: 0,
  kills: { beforeWrite: 0, afterWrite: 0, timed: 0, afterBurst: 0 },
  starts: 0,
  /** Milliseconds spent starting the host, repeating requests, checking, and in bursts. */
  ms: { start: 0, recover: 0, check: 0, burst: 0 },
  issued: 0,
  revoked: 0,
  /** Issues sent with the DELETE of their gateway, by final answer. */
  racing: { issued: 0, refused: 0 },
  unexpected: [] as string[],
};

let dataDir = '';
let csrPem = '';
let port = 0;
const ledger = new AcknowledgedWrites();
const world = new Map<string, WorldGateway>();
const violations = new Map<string, Violation & { round: number }>();
let sequence = 0;
/** Operation-Locations answered since the last restart: each must still be known after it. */
const acknowledgedOperations: { request: Request; url: string }[] = [];
/** The host running now, killed when the test ends early. */
let current: Host | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const p = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(p));
    });
  });
}

interface Host {
  readonly child: ChildProcess;
  readonly exited: Promise<NodeJS.Signals | number | null>;
  output: string;
}

/** Starts the host on the data directory; resolves once its start-up banner is complete. */
async function startHost(killAt?: string): Promise<Host> {
  figures.starts += 1;
  const child = spawn(
    process.execPath,
    ['--import', `./${BUNDLE_DIR}/kill-at-write.mjs`, `${BUNDLE_DIR}/main.mjs`],
    {
      env: {
        PATH: process.env['PATH'] ?? '',
        SANDBOX_PORT: String(port),
        SANDBOX_DATA_DIR: dataDir,
        SECRETS_DIR: join(dataDir, 'secrets'),
        ROLL_POLL_SECONDS: '1',
        // V8's code cache for the bundle: every start after the first skips most of the compiling.
        NODE_COMPILE_CACHE: `${BUNDLE_DIR}/compile-cache`,
        ...(killAt ? { CRASH_KILL_AT_WRITE: killAt } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const host: Host = (current = {
    child,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code))),
    output: '',
  });
  const keep = (d: Buffer) => {
    // Only the tail matters when a start fails.
    host.output = (host.output + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const deadline = Date.now() + 120_000;
  while (!host.output.includes('OpenAPI: ')) {
    if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the sandbox did not start:\n${host.output}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return host;
}

/** One HTTP exchange on a connection of its own (a killed host leaves no stale pooled socket behind). */
function exchange(method: string, path: string, body?: unknown): Promise<Answer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `/api${path}`,
        agent: false,
        timeout: 60_000,
        headers: payload ? { 'content-type': 'application/json' } : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const location = res.headers['operation-location'];
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            operationLocation: typeof location === 'string' ? location : undefined,
          });
        });
        res.on('error', () => resolve({ status: 0, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end(payload);
  });
}

function send(r: Request): Promise<Answer> {
  figures.requests += 1;
  if (r.tries > 0) figures.retries += 1;
  r.tries += 1;
  switch (r.kind) {
    case 'createGateway':
      return exchange('PUT', `/gateways/${r.gateway}`, r.body);
    case 'issue':
      return exchange('POST', `/gateways/${r.gateway}/clients`, r.body);
    case 'revoke':
      return exchange('DELETE', `/gateways/${r.gateway}/clients/${r.client}${r.force ? '?force=true' : ''}`);
    case 'mappings':
      return exchange('PUT', `/gateways/${r.gateway}/port-mappings`, r.body);
    case 'deleteGateway':
      return exchange('DELETE', `/gateways/${r.gateway}`);
  }
}

const gatewayOf = (name: string) => world.get(name) as WorldGateway;

/** Records an answer; true when the request is done (false: no answer or a 5xx, to be repeated). */
function settle(r: Request, a: Answer): boolean {
  if (a.status === 0 || a.status >= 500) return false;
  if (a.status < 300 && a.operationLocation !== undefined)
    acknowledgedOperations.push({ request: r, url: a.operationLocation });
  const g = world.get(r.gateway);
  const unexpected = () =>
    figures.unexpected.push(
      `round ${r.round} ${r.kind} ${r.gateway}/${r.client ?? ''} try ${r.tries}: ${a.status} ${a.body.slice(0, 200)}`,
    );
  switch (r.kind) {
    case 'createGateway':
      if (a.status !== 200 && a.status !== 201) unexpected();
      else {
        ledger.gatewayPut(r.gateway);
        world.set(r.gateway, { clients: new Map(), mappings: [], deleted: false });
      }
      return true;
    case 'issue': {
      const client = r.client ?? '';
      if (r.racesDeletion) figures.racing[a.status === 201 ? 'issued' : 'refused'] += 1;
      if (a.status === 201) {
        const view = JSON.parse(a.body) as { serial: string; ip: string };
        ledger.clientIssued(r.gateway, { name: client, serial: view.serial, ip: view.ip });
        g?.clients.set(client, 'active');
        figures.issued += 1;
      } else {
        // A retried issue that finds its name taken: the first attempt got that far; the invariants say
        // whether the client it left is whole. Not used again by the test.
        g?.clients.set(client, 'unknown');
        if (!(r.racesDeletion && (a.status === 409 || a.status === 404))) unexpected();
      }
      return true;
    }
    case 'revoke':
      if (a.status === 200) {
        ledger.clientRevoked(r.gateway, r.client ?? '');
        g?.clients.set(r.client ?? '', 'revoked');
        if (g) g.mappings = g.mappings.filter((m) => m.client !== r.client);
        figures.revoked += 1;
      } else {
        g?.clients.set(r.client ?? '', 'unknown');
        unexpected();
      }
      return true;
    case 'mappings':
      if (a.status === 202) {
        const { mappings } = JSON.parse(a.body) as { mappings: PortMapping[] };
        ledger.mappingsReplaced(r.gateway, mappings);
        if (g) g.mappings = mappings;
      } else unexpected();
      return true;
    case 'deleteGateway':
      if (a.status === 202 && g) g.deleting = a.operationLocation;
      else if (a.status === 404 && g) {
        // Repeated after the first attempt got through: the gateway is gone.
        ledger.gatewayDeleted(r.gateway);
        g.deleted = true;
        g.deleting = undefined;
      } else unexpected();
      return true;
  }
}

/** A mixed burst over the gateways the test knows; no two requests of a burst touch the same thing. */
function planBurst(rng: SeededRandom, round: number): Request[] {
  const out: Request[] = [];
  const request = (r: Omit<Request, 'round' | 'tries'>) => out.push({ ...r, round, tries: 0 });
  const live = [...world.entries()].filter(([, g]) => !g.deleted && !g.deleting).map(([n]) => n);
  if (live.length < 2 || (live.length < 6 && rng.chance(0.2))) {
    sequence += 1;
    request({
      kind: 'createGateway',
      gateway: `g${sequence}`,
      body: { publicHost: `g${sequence}.example.com`, vpnSubnet: `10.${100 + (sequence % 100)}.0.0/24` },
    });
  }
  let usable = live;
  if (live.length >= 3 && rng.chance(0.1)) {
    const doomed = rng.pick(live);
    request({ kind: 'deleteGateway', gateway: doomed });
    // Issues racing the deletion: whatever they leave in the secret store must go with the gateway.
    for (let i = rng.int(1, 2); i > 0; i -= 1) {
      sequence += 1;
      const name = `c${sequence}`;
      gatewayOf(doomed).clients.set(name, 'unknown');
      request({
        kind: 'issue',
        gateway: doomed,
        client: name,
        racesDeletion: true,
        body: rng.chance(0.5) ? { name, csr: csrPem } : { name },
      });
    }
    usable = live.filter((n) => n !== doomed);
  }
  if (usable.length === 0) return out;
  const touched = new Set<string>();
  const active = (gateway: string) =>
    [...gatewayOf(gateway).clients].filter(([c, s]) => s === 'active' && !touched.has(c)).map(([c]) => c);
  // Revocations first: a forced one (of a mapped client) keeps mapping changes off its gateway.
  const noMappingChange = new Set<string>();
  for (let i = rng.int(0, 2); i > 0; i -= 1) {
    const gateway = rng.pick(usable);
    const candidates = active(gateway);
    if (candidates.length === 0) continue;
    const client = rng.pick(candidates);
    const mapped = gatewayOf(gateway).mappings.some((m) => m.client === client);
    touched.add(client);
    if (mapped) noMappingChange.add(gateway);
    request({ kind: 'revoke', gateway, client, force: mapped });
  }
  for (const gateway of usable) {
    if (noMappingChange.has(gateway) || !rng.chance(0.25)) continue;
    const candidates = active(gateway);
    if (candidates.length === 0) continue;
    const mappings = rng
      .shuffle(candidates)
      .slice(0, rng.int(1, 3))
      .map((client, i) => ({
        port: 8000 + rng.int(0, 9) * 10 + i,
        client,
        targetPort: rng.pick([22, 80, 443]),
      }));
    for (const m of mappings) touched.add(m.client);
    // Revocations without force skip clients mapped from now on.
    request({ kind: 'mappings', gateway, body: { mappings } });
  }
  for (let i = rng.int(2, 5); i > 0; i -= 1) {
    sequence += 1;
    const gateway = rng.pick(usable);
    const name = `c${sequence}`;
    gatewayOf(gateway).clients.set(name, 'unknown');
    request({
      kind: 'issue',
      gateway,
      client: name,
      body: rng.chance(0.7) ? { name, csr: csrPem } : { name },
    });
  }
  return out;
}

/** Repeats every request until it has an answer; fails the test if the host dies while not armed. */
async function recover(pending: Request[], host: Host, round: number): Promise<void> {
  // An operation the host acknowledged (its Operation-Location answered) must survive the kill.
  for (const { request, url } of acknowledgedOperations.splice(0)) {
    const op = await exchange('GET', url.replace(/^.*\/api/, ''));
    if (op.status === 404)
      record(round, {
        invariant: 'acknowledged',
        gateway: request.gateway,
        detail: `the operation of an acknowledged ${request.kind} (round ${request.round}) is unknown after the restart`,
      });
  }
  for (const r of pending) {
    for (;;) {
      const answer = await send(r);
      if (settle(r, answer)) break;
      if (host.child.exitCode !== null || host.child.signalCode !== null)
        throw new Error(`the host died while recovering:\n${host.output}`);
      if (r.tries > 20)
        throw new Error(`${r.kind} ${r.gateway} still fails after 20 tries: ${answer.status}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  // Deletions: wait for each operation; an interrupted or forgotten one is asked for again.
  for (const [name, g] of world) {
    while (g.deleting !== undefined) {
      const op = await exchange('GET', g.deleting.replace(/^.*\/api/, ''));
      const status = op.status === 200 ? (JSON.parse(op.body) as { status: string }).status : 'Unknown';
      if (status === 'Running' || status === 'NotStarted') {
        await new Promise((res) => setTimeout(res, 100));
        continue;
      }
      if (status === 'Succeeded') {
        ledger.gatewayDeleted(name);
        g.deleted = true;
        g.deleting = undefined;
        continue;
      }
      g.deleting = undefined;
      const again: Request = { kind: 'deleteGateway', gateway: name, round: figures.rounds, tries: 1 };
      while (!settle(again, await send(again)))
        if (again.tries > 20) throw new Error(`deleting ${name} keeps failing`);
    }
  }
}

/** Keeps a violation once, with the round that first saw it. */
function record(round: number, v: Violation): void {
  const key = `${v.invariant} ${v.gateway} ${v.detail}`;
  if (!violations.has(key)) violations.set(key, { ...v, round });
}

/**
 * Copies the embedded cluster's object files (not its temporaries) while the host may still write some
 * (rollouts and load balancers finish in the background): each file is replaced atomically, so every copy
 * is a whole object.
 */
async function copyObjects(from: string, to: string): Promise<void> {
  for (const file of await readdir(from, { recursive: true })) {
    if (!file.endsWith('.yaml')) continue;
    try {
      const content = await readFile(join(from, file));
      await mkdir(dirname(join(to, file)), { recursive: true });
      await writeFile(join(to, file), content);
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** Runs `read` on a copy of the cluster files the host stored (the host's own files stay as they are). */
async function onStoredCluster<T>(read: (cluster: EmbeddedCluster) => Promise<T>): Promise<T> {
  const copy = await mkdtemp(join(tmpdir(), 'avg-crash-check-'));
  await copyObjects(join(dataDir, 'cluster'), copy);
  const cluster = await EmbeddedCluster.open({ dataDir: copy });
  try {
    return await read(cluster);
  } finally {
    await cluster.close();
    await rm(copy, { recursive: true, force: true });
  }
}

/** The invariants of what the host stored (its cluster files, its secret files). */
const violationsOf = (cluster: EmbeddedCluster, acknowledged?: AcknowledgedWrites) =>
  checkInvariants({
    cluster,
    labelDomain: loadConfig({}).LABEL_DOMAIN,
    secretsDir: join(dataDir, 'secrets'),
    ...(acknowledged ? { acknowledged } : {}),
  });

/** Checks the invariants on what the host stored and records what is violated. */
async function check(round: number): Promise<void> {
  for (const v of await onStoredCluster((cluster) => violationsOf(cluster, ledger))) record(round, v);
}

beforeAll(async () => {
  // Chunks are named by content: the ones of earlier sources go (the V8 code cache beside them stays).
  for (const file of await readdir(BUNDLE_DIR).catch(() => []))
    if (file.endsWith('.mjs')) await rm(join(BUNDLE_DIR, file));
  await build({
    entryPoints: { main: 'sandbox/main.ts', 'kill-at-write': 'test/sandbox/support/kill-at-write.ts' },
    outdir: BUNDLE_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    // Loaded by @azure/functions only inside the Functions host.
    external: ['@azure/functions-core'],
    // One chunk per dynamic import: what the sandbox never imports is never loaded.
    splitting: true,
    // The bundled CommonJS packages call require().
    banner: {
      js: "import { createRequire as __crashRequire } from 'node:module'; const require = __crashRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  dataDir = await mkdtemp(join(tmpdir(), 'avg-crash-'));
  const made = opensslCsr(dataDir, 'branch', 'ec');
  csrPem = made.csrPem;
  await rm(made.keyPath);
  await rm(made.csrPath);
  port = await freePort();
}, 300_000);

afterAll(async () => {
  if (current && current.child.exitCode === null && current.child.signalCode === null) {
    current.child.kill('SIGKILL');
    await current.exited;
  }
  await rm(dataDir, { recursive: true, force: true });
});

describe('the sandbox host killed (SIGKILL) in the middle of bursts', () => {
  it(
    'keeps every invariant and every acknowledged write after each restart and retry',
    async () => {
      const rng = seededRandom(SEED);
      const started = Date.now();
      console.log(`crash test: seed ${SEED} (CRASH_SEED=${SEED} replays it), ${ROUNDS} rounds`);
      let pending: Request[] = [];
      for (let round = 1; round <= ROUNDS + 1; round += 1) {
        const last = round > ROUNDS;
        const atWrite = !last && rng.chance(0.5);
        const killAt = atWrite ? `${rng.int(1, 30)}:${rng.pick(['before', 'after'])}` : undefined;
        let t = Date.now();
        const lap = (phase: keyof typeof figures.ms) => {
          figures.ms[phase] += Date.now() - t;
          t = Date.now();
        };
        const host = await startHost(killAt);
        lap('start');
        await recover(pending, host, round);
        lap('recover');
        await check(round);
        lap('check');
        if (last) {
          host.child.kill('SIGTERM');
          await host.exited;
          break;
        }
        figures.rounds += 1;
        const burst = planBurst(rng, round);
        const delay = rng.int(0, 600);
        let timer: NodeJS.Timeout | undefined;
        let timed = false;
        if (killAt) host.child.kill('SIGUSR2');
        else
          timer = setTimeout(() => {
            timed = true;
            host.child.kill('SIGKILL');
          }, delay);
        const answers = await Promise.all(burst.map((r) => send(r)));
        pending = burst.filter((r, i) => !settle(r, answers[i] as Answer));
        clearTimeout(timer);
        // A request without an answer means the host died; otherwise the hook may have killed it with the
        // last answer on its way, and its exit is reported shortly.
        const died =
          answers.some((a) => a.status === 0) ||
          (await Promise.race([
            host.exited.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
          ]));
        if (!died) host.child.kill('SIGKILL');
        await host.exited;
        lap('burst');
        if (timed) figures.kills.timed += 1;
        else if (!died) figures.kills.afterBurst += 1;
        else if (killAt?.endsWith('before')) figures.kills.beforeWrite += 1;
        else figures.kills.afterWrite += 1;
      }
      const all = [...violations.values()];
      const kills = Object.values(figures.kills).reduce((a, b) => a + b, 0);
      console.log(
        [
          `crash test figures (seed ${SEED}): ${figures.rounds} rounds, ${figures.requests} requests ` +
            `(${figures.retries} retries), ${kills} kills (${figures.kills.beforeWrite} just before a write, ` +
            `${figures.kills.afterWrite} just after one, ${figures.kills.timed} at a random moment, ` +
            `${figures.kills.afterBurst} after the burst), ${figures.starts} starts, ${ledger.count} acknowledged ` +
            `writes (${figures.issued} issues, ${figures.revoked} revocations), ${figures.racing.issued + figures.racing.refused} ` +
            `issues racing the deletion of their gateway (${figures.racing.issued} issued first, ${figures.racing.refused} refused), ` +
            `${all.length} violations, ` +
            `${((Date.now() - started) / 1000).toFixed(0)} s`,
          `time in phases (ms): ${JSON.stringify(figures.ms)}`,
          `violations by invariant: ${JSON.stringify(countByInvariant(all))} (enforced: ${[...ENFORCED].join(', ')})`,
          ...all.map((v) => `  round ${v.round} [${v.invariant}] ${v.gateway}: ${v.detail}`),
          `answers other than the expected success: ${figures.unexpected.length}`,
          ...figures.unexpected.map((u) => `  ${u}`),
        ].join('\n'),
      );
      expect(figures.rounds).toBeGreaterThanOrEqual(ROUNDS);
      expect(kills).toBe(figures.rounds);
      expect(all.filter((v) => ENFORCED.has(v.invariant))).toStrictEqual([]);
    },
    30 * 60_000,
  );
});

describe('the sandbox host killed (SIGKILL) at every write of the issue that seals a chunk of the state', () => {
  it(
    'reads the state whole after each kill, completes the issue on its retry and references only chunks that exist',
    async () => {
      // GIVEN a gateway at 255 clients, its data directory kept as the starting point of every round
      const base = await mkdtemp(join(tmpdir(), 'avg-crash-seal-base-'));
      const saved = dataDir;
      dataDir = await mkdtemp(join(tmpdir(), 'avg-crash-seal-'));
      const figuresOfSeal = { rounds: 0, kills: 0, orphans: 0 };
      try {
        let host = await startHost();
        expect((await exchange('PUT', '/gateways/big', { vpnSubnet: '10.150.0.0/22' })).status).toBe(201);
        for (let i = 0; i < 255; i += 1)
          expect(
            (await exchange('POST', '/gateways/big/clients', { name: `c${i}`, csr: csrPem })).status,
          ).toBe(201);
        host.child.kill('SIGTERM');
        await host.exited;
        await cp(dataDir, base, { recursive: true });
        for (const point of ['before', 'after'])
          for (let k = 1; ; k += 1) {
            // WHEN the host, from that starting point, is killed at the k-th write of the 256th issue
            await rm(dataDir, { recursive: true, force: true });
            await cp(base, dataDir, { recursive: true });
            host = await startHost(`${k}:${point}`);
            host.child.kill('SIGUSR2');
            const first = await exchange('POST', '/gateways/big/clients', { name: 'c255', csr: csrPem });
            const died =
              first.status === 0 ||
              (await Promise.race([
                host.exited.then(() => true),
                new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
              ]));
            if (!died) {
              // Past the last write: every step boundary has had its kill.
              expect(first.status).toBe(201);
              host.child.kill('SIGTERM');
              await host.exited;
              break;
            }
            await host.exited;
            figuresOfSeal.rounds += 1;
            figuresOfSeal.kills += 1;
            // THEN after a restart the state reads whole (every chunk it references exists), and the
            // issue's retry completes it: 201, or 409 when the killed attempt had completed it
            host = await startHost();
            const again = await exchange('POST', '/gateways/big/clients', { name: 'c255', csr: csrPem });
            expect([201, 409], again.body).toContain(again.status);
            host.child.kill('SIGTERM');
            await host.exited;
            await onStoredCluster(async (cluster) => {
              expect(await violationsOf(cluster), `${k}:${point}`).toStrictEqual([]);
              const state = await readStoredState(cluster, 'big');
              expect(state?.clients.map((c) => [c.name, c.status]).at(-1)).toStrictEqual(['c255', 'active']);
              const sealed = sealedChunkNames((await cluster.readConfigMap('vpn-big', 'state'))?.data ?? {});
              expect(sealed).toHaveLength(1);
              const chunks = (await cluster.list('ConfigMap', 'vpn-big', '')).filter((o) =>
                o.metadata.name.startsWith('state-chunk-'),
              );
              // A kill between a chunk's creation and the state write leaves that chunk unreferenced
              // (the retry makes its own): the reconciler collects it once old.
              figuresOfSeal.orphans += chunks.length - 1;
              expect(chunks.length).toBeLessThanOrEqual(2);
            });
          }
        console.log(
          `seal crash test: ${figuresOfSeal.rounds} rounds, ${figuresOfSeal.kills} kills (each write of the ` +
            `sealing issue, before and after it), ${figuresOfSeal.orphans} unreferenced chunks left for the reconciler`,
        );
        expect(figuresOfSeal.kills).toBeGreaterThanOrEqual(8);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
        await rm(base, { recursive: true, force: true });
        dataDir = saved;
      }
    },
    20 * 60_000,
  );
});
