/**
 * Starts the real sandbox (`startSandbox`, as `npm start` does) on port 0 with temporary data
 * directories, and reads back everything it stores: a hash of the embedded cluster's YAML files and of
 * the secret store directory, to prove a refused request changed nothing. The same sandbox also runs on
 * a real kube-apiserver through the adapter (KUBECONFIG), for the API tests that must hold there too.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ALL_ROUTES } from '../../functions/routes.js';
import type { Composition } from '../../shared/composition.js';
import { USE_CASES } from '../../shared/gateways/api-use-cases.js';
import { loadConfig } from '../../shared/config.js';
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import { findState } from '../../shared/gateways/gateway-state.js';
import { KubeCluster } from '../../shared/kube/kube-cluster.js';
import { DirectorySecretStore } from '../../shared/secrets/directory-store.js';
import type { SecretStore } from '../../shared/model/secret-store.js';
import { startSandboxHost } from '../../sandbox/host.js';
import { makeHarness } from '../shared/gateways/harness.js';
import type { Sandbox } from '../../sandbox/main.js';
import { startSandbox } from '../../sandbox/main.js';
import { startEnvtest, startFakeKubelet } from '../support/envtest.js';
import { ccdEntries } from '../support/ccd-entries.js';

export interface SandboxUnderTest {
  readonly sandbox: Sandbox;
  readonly dataDir: string;
  readonly secretsDir: string;
  readonly log: string[];
  stop(): Promise<void>;
}

export async function startTestSandbox(
  env: NodeJS.ProcessEnv = {},
  dataDir?: string,
): Promise<SandboxUnderTest> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'avg-sandbox-')));
  const secretsDir = join(dir, 'secrets');
  const log: string[] = [];
  const config = loadConfig({
    SANDBOX_DATA_DIR: dir,
    SECRETS_DIR: secretsDir,
    SANDBOX_HOST: '127.0.0.1',
    ROLL_POLL_SECONDS: '1',
    ...env,
  });
  const sandbox = await startSandbox({ config, port: 0, write: (l) => log.push(l) });
  return {
    sandbox,
    dataDir: dir,
    secretsDir,
    log,
    async stop() {
      await sandbox.close();
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** SHA-256 over every file path and content under `dir` (missing dir = hash of nothing). */
export async function directoryHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        hash.update(`${p}\0`);
        hash.update(await readFile(p));
      }
    }
  };
  await walk(dir);
  return hash.digest('hex');
}

/** Hashes `dir` until two hashes in a row agree (background rollouts and load balancers settle first). */
export async function settledHash(dir: string, attempts = 50): Promise<string> {
  let previous = await directoryHash(dir);
  for (let i = 0; i < attempts; i += 1) {
    await new Promise((r) => setTimeout(r, 200));
    const current = await directoryHash(dir);
    if (current === previous) return current;
    previous = current;
  }
  throw new Error(`${dir} did not settle`);
}

export interface ApiResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP call to the sandbox API (`path` below /api). */
export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResult> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: <T>() => JSON.parse(text) as T };
}

/** Polls an Operation-Location until the operation ends; returns its final state. */
export async function waitForOperation(
  url: string,
  timeoutMs = 60_000,
): Promise<{ status: string; error?: { code: string; message: string } }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const op = (await (await fetch(url)).json()) as {
      status: string;
      error?: { code: string; message: string };
    };
    if (op.status !== 'Running' && op.status !== 'NotStarted') return op;
    if (Date.now() > deadline) throw new Error(`operation ${url} still ${op.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Where the bad-input table runs: the API over HTTP plus a way to read back all stored state. */
export interface ApiBackend {
  readonly name: string;
  readonly url: string;
  /** Whether long-running operations really run (and can be awaited). */
  readonly runsOperations: boolean;
  /**
   * Whether something reports as the gateway pod would (the sandbox simulates the report); without it, a live
   * change's operation fails after LIVE_APPLY_TIMEOUT_SECONDS.
   */
  readonly podReports: boolean;
  /** Everything the cluster and the secret store hold, canonical. */
  snapshot(): Promise<{ cluster: string; secrets: string }>;
  /** A gateway's CCD entries (client → entry) and the clients the secret store holds, read through the ports. */
  stored(gateway: string): Promise<{ ccd: Record<string, string>; secretClients: string[] }>;
  stop(): Promise<void>;
}

async function storedThrough(cluster: ClusterPort, secrets: SecretStore, gateway: string) {
  const ccd = await ccdEntries(cluster, gateway);
  // The store is asked by name, as the product asks it: the names the state holds.
  const state = await findState(cluster, gateway);
  const clients = await secrets.listClients(gateway, state?.clients.map((c) => c.name) ?? []);
  return { ccd, secretClients: clients.map((c) => c.client).sort() };
}

/** The real sandbox: embedded cluster, directory secret store, in-process operations. */
export async function sandboxBackend(): Promise<ApiBackend> {
  const sut = await startTestSandbox();
  const cluster = sut.sandbox.cluster;
  if (!cluster) throw new Error('the sandbox started without its embedded cluster');
  return {
    name: 'sandbox',
    url: sut.sandbox.url,
    runsOperations: true,
    podReports: true,
    stored: (gateway) =>
      storedThrough(cluster, new DirectorySecretStore({ directory: sut.secretsDir }), gateway),
    snapshot: async () => ({
      cluster: await settledHash(join(sut.dataDir, 'cluster')),
      secrets: await directoryHash(sut.secretsDir),
    }),
    async stop() {
      await sut.stop();
      await removeDir(sut.dataDir);
    },
  };
}

/** The sandbox with KUBECONFIG: a real kube-apiserver (envtest, a fake kubelet) through the adapter. */
export async function realClusterBackend(): Promise<ApiBackend> {
  const envtest = await startEnvtest();
  const kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  const sut = await startTestSandbox({
    KUBECONFIG: envtest.kubeconfigPath,
    DEFAULT_ROUTES: '10.0.0.0/16,10.244.0.0/16',
    // Outside the embedded cluster the image is required (no default registry); nothing pulls it here.
    OPENVPN_IMAGE: 'localhost/aks-vpn-gateways/openvpn:test',
    // No pod runs, so none reports: a live change's operation fails, and soon.
    LIVE_APPLY_TIMEOUT_SECONDS: '2',
  });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(envtest.kubeConfigYaml);
  const cluster = new KubeCluster({ kubeConfig, fieldManager: 'test' });
  const secrets = new DirectorySecretStore({ directory: sut.secretsDir });
  return {
    name: 'sandbox on a real kube-apiserver',
    url: sut.sandbox.url,
    runsOperations: true,
    podReports: false,
    stored: (gateway) => storedThrough(cluster, secrets, gateway),
    snapshot: () =>
      Promise.reject(new Error('no snapshot of a real cluster: the bad-input table runs on the sandbox')),
    async stop() {
      await sut.stop();
      await kubelet.stop();
      await envtest.stop();
      await removeDir(sut.dataDir);
    },
  };
}

/** The same host and real use-cases over the in-memory fakes of the domain tests. */
export async function memoryBackend(): Promise<ApiBackend> {
  const harness = makeHarness();
  // A running clock, as in the sandbox (a frozen one makes "beyond the CA" equal to the CA's notAfter).
  const deps = { ...harness.deps, clock: () => new Date() };
  const composition: Composition = {
    config: () => deps.config,
    useCases: USE_CASES,
    deps: () => Promise.resolve(deps),
    describeBackends: () => ['memory'],
    close: () => Promise.resolve(),
  };
  const host = await startSandboxHost({
    composition,
    routes: ALL_ROUTES,
    host: '127.0.0.1',
    port: 0,
    write: () => undefined,
  });
  return {
    name: 'memory',
    url: host.url,
    runsOperations: false,
    podReports: false,
    stored: (gateway) => storedThrough(harness.cluster, harness.secrets, gateway),
    snapshot: () =>
      Promise.resolve({
        cluster: JSON.stringify(
          [...harness.cluster.objects.entries()].sort(([a], [b]) => a.localeCompare(b)),
        ),
        secrets: harness.secrets.snapshot(),
      }),
    stop: () => host.close(),
  };
}
