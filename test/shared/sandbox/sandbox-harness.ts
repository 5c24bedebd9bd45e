/**
 * Starts the real sandbox (`startSandbox`, as `npm start` does) on port 0 with temporary data
 * directories, and reads back everything it stores: every object of the sandbox Kubernetes API server
 * and a hash of the secret store directory, to prove a refused request changed nothing.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ALL_ROUTES } from '../../../functions/routes.js';
import type { Composition } from '../../../shared/composition.js';
import { USE_CASES } from '../../../shared/composition.js';
import { loadConfig } from '../../../shared/config.js';
import type { ClusterPort } from '../../../shared/model/cluster-port.js';
import { findState } from '../../../shared/gateways/gateway-state.js';
import { KubeCluster } from '../../../shared/kube/kube-cluster.js';
import { DirectorySecretStore } from '../../../shared/secrets/directory-store.js';
import type { SecretStore } from '../../../shared/model/secret-store.js';
import { startSandboxHost } from '../../../shared/sandbox/host.js';
import { makeHarness } from '../gateways/harness.js';
import type { Sandbox } from '../../../shared/sandbox/main.js';
import { startSandbox } from '../../../shared/sandbox/main.js';

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

/** Every namespace, ConfigMap, Secret, Service and Deployment of the sandbox API server, as canonical JSON. */
export async function clusterSnapshot(kubeConfigYaml: string): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromString(kubeConfigYaml);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespaces = (await core.listNamespace()).items;
  const objects: unknown[] = [...namespaces];
  for (const ns of namespaces) {
    const namespace = ns.metadata?.name ?? '';
    objects.push(
      ...(await core.listNamespacedConfigMap({ namespace })).items,
      ...(await core.listNamespacedSecret({ namespace })).items,
      ...(await core.listNamespacedService({ namespace })).items,
      ...(await apps.listNamespacedDeployment({ namespace })).items,
    );
  }
  return JSON.stringify(objects, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
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

/** Takes snapshots until two in a row agree (background rollouts and load balancers settle first). */
export async function settledSnapshot(kubeConfigYaml: string, attempts = 50): Promise<string> {
  let previous = await clusterSnapshot(kubeConfigYaml);
  for (let i = 0; i < attempts; i += 1) {
    await new Promise((r) => setTimeout(r, 200));
    const current = await clusterSnapshot(kubeConfigYaml);
    if (current === previous) return current;
    previous = current;
  }
  throw new Error('the sandbox cluster did not settle');
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
  /** Everything the cluster and the secret store hold, canonical. */
  snapshot(): Promise<{ cluster: string; secrets: string }>;
  /** A gateway's CCD entries (client → entry) and the clients the secret store holds, read through the ports. */
  stored(gateway: string): Promise<{ ccd: Record<string, string>; secretClients: string[] }>;
  stop(): Promise<void>;
}

async function storedThrough(cluster: ClusterPort, secrets: SecretStore, gateway: string) {
  const ccd = await cluster.readConfigMap(`vpn-${gateway}`, 'ccd');
  // The store is asked by name, as the product asks it: the names the state holds.
  const state = await findState(cluster, gateway);
  const clients = await secrets.listClients(gateway, state?.clients.map((c) => c.name) ?? []);
  return { ccd: { ...ccd?.data }, secretClients: clients.map((c) => c.client).sort() };
}

/** The real sandbox: sandbox Kubernetes API server, directory secret store, in-process operations. */
export async function sandboxBackend(): Promise<ApiBackend> {
  const sut = await startTestSandbox();
  const kubeConfig = sut.sandbox.kubeConfig ?? '';
  return {
    name: 'sandbox',
    url: sut.sandbox.url,
    runsOperations: true,
    stored: (gateway) => {
      const kc = new KubeConfig();
      kc.loadFromString(kubeConfig);
      return storedThrough(
        new KubeCluster({ kubeConfig: kc, fieldManager: 'test' }),
        new DirectorySecretStore({ directory: sut.secretsDir }),
        gateway,
      );
    },
    snapshot: async () => ({
      cluster: await settledSnapshot(kubeConfig),
      secrets: await directoryHash(sut.secretsDir),
    }),
    async stop() {
      await sut.stop();
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
