/**
 * A real Kubernetes control plane for integration tests (controller-runtime's "envtest" idea): etcd,
 * kube-apiserver and kube-controller-manager on loopback, started per test file and stopped after it,
 * plus a "fake kubelet" that completes rollouts (there is no scheduler or kubelet) and a fault-injection
 * proxy in front of the API server. Binaries come from scripts/kube-apiserver/build.sh (KUBEBUILDER_ASSETS
 * when set, completed with a kube-controller-manager where it lacks one, else built once from Debian's source
 * package and cached).
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

const repoRoot = join(import.meta.dirname, '../..');

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function kubeAssets(): string {
  const out = execFileSync('bash', [join(repoRoot, 'scripts/kube-apiserver/build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').at(-1)!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function pki(dir: string): void {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  o([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=envtest-ca',
  ]);
  o([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=kube-apiserver',
  ]);
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  o([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  ]);
  o([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'admin.key',
    '-out',
    'admin.csr',
    '-subj',
    '/CN=admin/O=system:masters',
  ]);
  writeFileSync(join(dir, 'admin.ext'), 'extendedKeyUsage=clientAuth\n');
  o([
    'x509',
    '-req',
    '-in',
    'admin.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'admin.crt',
    '-days',
    '2',
    '-extfile',
    'admin.ext',
  ]);
  o(['genrsa', '-out', 'sa.key', '2048']);
  o(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  // The API's identity: a user named like an Entra object id (as AKS names a managed identity), in no
  // group but system:authenticated, so it holds only what infra/kube grants it.
  o([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'api.key',
    '-out',
    'api.csr',
    '-subj',
    `/CN=${API_USER}`,
  ]);
  o([
    'x509',
    '-req',
    '-in',
    'api.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'api.crt',
    '-days',
    '2',
    '-extfile',
    'admin.ext',
  ]);
}

/** The Kubernetes user the product's adapter runs as in the envtest suites (an object-id-like name). */
export const API_USER = '3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b';

const b64 = (path: string) => readFileSync(path).toString('base64');

export interface Envtest {
  readonly server: string;
  /** Cluster admin (system:masters): for the fake kubelet and the test's own set-up and checks. */
  readonly kubeConfigYaml: string;
  readonly kubeconfigPath: string;
  readonly tls: { ca: string; cert: string; key: string };
  /**
   * The product's identity: user API_USER holding only infra/kube/cluster-role.yaml, bound by the
   * manifests `scripts/cluster-access.sh --print` renders (as an operator applies them to AKS).
   */
  readonly api: { readonly kubeConfigYaml: string; readonly tls: { ca: string; cert: string; key: string } };
  stop(): Promise<void>;
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startEnvtest(options: { controllerManager?: boolean } = {}): Promise<Envtest> {
  const bin = kubeAssets();
  const wanted = [
    'etcd',
    'kube-apiserver',
    ...(options.controllerManager === false ? [] : ['kube-controller-manager']),
  ];
  const missing = wanted.filter((name) => !isExecutable(join(bin, name)));
  if (missing.length > 0)
    throw new Error(
      `the kube binaries in ${bin} (printed by scripts/kube-apiserver/build.sh) lack ${missing.join(', ')}`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'envtest-'));
  const processes: ChildProcess[] = [];
  const stop = async () => {
    for (const p of processes.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const p = join(dir, 'pki');
    mkdirSync(p);
    pki(p);
    const [etcdClient, etcdPeer, apiPort, kcmPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const run = (name: string, args: string[]) => {
      const out = openSync(join(dir, `${name}.log`), 'a');
      const child = spawn(join(bin, name), args, { stdio: ['ignore', out, out] });
      processes.push(child);
    };
    run('etcd', [
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${etcdPeer}`,
    ]);
    run('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      '--service-cluster-ip-range=10.0.0.0/16',
      `--tls-cert-file=${p}/server.crt`,
      `--tls-private-key-file=${p}/server.key`,
      `--client-ca-file=${p}/ca.crt`,
      `--service-account-key-file=${p}/sa.pub`,
      `--service-account-signing-key-file=${p}/sa.key`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      `--cert-dir=${join(dir, 'certs')}`,
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const tls = {
      ca: readFileSync(`${p}/ca.crt`, 'utf8'),
      cert: readFileSync(`${p}/admin.crt`, 'utf8'),
      key: readFileSync(`${p}/admin.key`, 'utf8'),
    };
    /** A kubeconfig for the user whose client certificate is `<p>/<user>.crt`. */
    const kubeConfigFor = (user: string) => `apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: ${server}
    certificate-authority-data: ${b64(`${p}/ca.crt`)}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: ${user}
    namespace: default
current-context: envtest
users:
- name: ${user}
  user:
    client-certificate-data: ${b64(`${p}/${user}.crt`)}
    client-key-data: ${b64(`${p}/${user}.key`)}
`;
    const kubeConfigYaml = kubeConfigFor('admin');
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    writeFileSync(kubeconfigPath, kubeConfigYaml);
    const api = {
      tls: {
        ca: tls.ca,
        cert: readFileSync(`${p}/api.crt`, 'utf8'),
        key: readFileSync(`${p}/api.key`, 'utf8'),
      },
      kubeConfigYaml: kubeConfigFor('api'),
    };
    await waitReady(server, tls, 90_000);
    await grantClusterAccess(kubeConfigYaml);
    if (options.controllerManager !== false) {
      mkdirSync(join(dir, 'flex'));
      run('kube-controller-manager', [
        `--kubeconfig=${kubeconfigPath}`,
        `--authentication-kubeconfig=${kubeconfigPath}`,
        `--authorization-kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        '--port=0',
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${p}/sa.key`,
        `--root-ca-file=${p}/ca.crt`,
        `--cluster-signing-cert-file=${p}/ca.crt`,
        `--cluster-signing-key-file=${p}/ca.key`,
        '--controllers=*,-nodelifecycle',
        '--authentication-skip-lookup=true',
        `--flex-volume-plugin-dir=${join(dir, 'flex')}`,
      ]);
    }
    return { server, kubeConfigYaml, kubeconfigPath, tls, api, stop };
  } catch (e: unknown) {
    await stop();
    throw e;
  }
}

/** Applies what `scripts/cluster-access.sh --print` renders for API_USER, as a cluster admin would. */
async function grantClusterAccess(adminKubeConfigYaml: string): Promise<void> {
  const rendered = execFileSync('sh', [join(repoRoot, 'scripts/cluster-access.sh'), '--print'], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', MANAGED_IDENTITY_PRINCIPAL_ID: API_USER },
  });
  const kc = new KubeConfig();
  kc.loadFromString(adminKubeConfigYaml);
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const doc of parseAllDocuments(rendered)) {
    const object = doc.toJS() as KubernetesObject;
    // RBAC objects may take a moment to be served after the API server reports ready.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await objects.create(object);
        break;
      } catch (e: unknown) {
        if (attempt >= 20) throw e;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
}

/** One Kubernetes API request as RBAC sees it: verb, API group, resource (with subresource). */
export interface KubeRequest {
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
}

/**
 * The RBAC attributes of a request (the API server's RequestInfo rules, for the paths the adapter uses):
 * GET of a collection is list (watch with ?watch), of an object get; POST create; PUT update; PATCH patch;
 * DELETE delete (deletecollection on a collection).
 */
export function kubeRequestOf(method: string, url: string): KubeRequest | undefined {
  const [path = '', query = ''] = url.split('?');
  const parts = path.split('/').filter(Boolean);
  let rest: string[];
  let group: string;
  if (parts[0] === 'api' && parts.length >= 2) {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1]!;
    rest = parts.slice(3);
  } else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, subresource] = rest;
  if (!resource) return undefined;
  const watch = /(^|&)watch=(true|1)(&|$)/.test(query);
  const verb =
    method === 'GET'
      ? name
        ? 'get'
        : watch
          ? 'watch'
          : 'list'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : method === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : method.toLowerCase();
  return { verb, group, resource: subresource ? `${resource}/${subresource}` : resource };
}

async function waitReady(server: string, tls: Envtest['tls'], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = httpsRequest(`${server}/readyz`, { ...tls, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`kube-apiserver not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Decides from a pod's annotations (its pod template's, e.g. the config hash) whether it stays unready. */
export type PodMatcher = (annotations: Readonly<Record<string, string>>) => boolean;

/**
 * Does what a kubelet and a cloud controller would: a Ready Node, pods bound to it and marked Running and
 * Ready, terminating pods removed at once, LoadBalancer Services given an address. Never-ready modes (a
 * roll that never completes, until `clearFailures()`): `failNewPods()` for pods created from then on,
 * `failPodsWhere(match)` for pods whose template annotations match (one config hash, one restart).
 */
export function startFakeKubelet(kubeConfigYaml: string) {
  const kc = new KubeConfig();
  kc.loadFromString(kubeConfigYaml);
  const core = kc.makeApiClient(CoreV1Api);
  const node = 'fake-node';
  let failures: ((pod: V1Pod) => boolean)[] = [];
  let stopped = false;
  let lbCounter = 10;
  const tick = async () => {
    try {
      await core.readNode({ name: node });
    } catch {
      await core.createNode({ body: { metadata: { name: node } } }).catch(() => undefined);
      await core
        .replaceNodeStatus({
          name: node,
          body: {
            metadata: { name: node },
            status: {
              conditions: [
                { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'fake kubelet' },
              ],
            },
          },
        })
        .catch(() => undefined);
    }
    const pods = (await core.listPodForAllNamespaces()).items;
    for (const pod of pods) await handlePod(pod);
    const services = (await core.listServiceForAllNamespaces()).items;
    for (const svc of services)
      if (svc.spec?.type === 'LoadBalancer' && !svc.status?.loadBalancer?.ingress?.length)
        await core
          .replaceNamespacedServiceStatus({
            name: svc.metadata!.name!,
            namespace: svc.metadata!.namespace!,
            body: { ...svc, status: { loadBalancer: { ingress: [{ ip: `203.0.113.${lbCounter++}` }] } } },
          })
          .catch(() => undefined);
  };
  const handlePod = async (pod: V1Pod) => {
    const name = pod.metadata!.name!;
    const namespace = pod.metadata!.namespace!;
    if (pod.metadata?.deletionTimestamp) {
      await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      return;
    }
    if (!pod.spec?.nodeName) {
      await core
        .createNamespacedBinding({
          namespace,
          body: { metadata: { name }, target: { kind: 'Node', name: node } },
        })
        .catch(() => undefined);
      return;
    }
    if (failures.some((fails) => fails(pod))) return;
    if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return;
    const now = new Date();
    const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
    await core
      .replaceNamespacedPodStatus({
        name,
        namespace,
        body: {
          ...pod,
          status: {
            phase: 'Running',
            podIP: '10.244.0.10',
            startTime: now,
            conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
            containerStatuses: (pod.spec.containers ?? []).map((c) => ({
              name: c.name,
              image: c.image ?? '',
              imageID: '',
              ready: true,
              restartCount: 0,
              started: true,
              state: { running: { startedAt: now } },
            })),
          },
        },
      })
      .catch(() => undefined);
  };
  const loop = (async () => {
    while (!stopped) {
      await tick().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  })();
  return {
    failNewPods: () => {
      // creationTimestamp has whole seconds: a pod created in the same second counts as new
      const since = Date.now() - 1000;
      failures.push((pod) => Date.parse(String(pod.metadata?.creationTimestamp ?? '')) >= since);
    },
    failPodsWhere: (match: PodMatcher) => {
      failures.push((pod) => match(pod.metadata?.annotations ?? {}));
    },
    /** Ends every never-ready mode: held pods become ready on the next pass. */
    clearFailures: () => {
      failures = [];
    },
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

export interface FaultSpec {
  method?: string;
  path: RegExp;
  nth?: number;
  status?: number;
  reset?: boolean;
  /** Wait this long, then pass the request through (when neither status nor reset is given). */
  delayMs?: number;
}

/**
 * An HTTP proxy in front of the API server. It speaks TLS upstream as the product's identity (the API user
 * with only its ClusterRole), so a request the role does not grant is refused as it would be in AKS, and it
 * records every request it forwards. The nth request matching a fault fails with that status (a Kubernetes
 * Status body) or a reset.
 */
export async function startFaultProxy(envtest: Envtest) {
  const faults: (FaultSpec & { seen: number })[] = [];
  const forwarded: KubeRequest[] = [];
  const upstream = new URL(envtest.server);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const forward = () => {
      const proxied = httpsRequest(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: upstream.host },
          ...envtest.api.tls,
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          const request = kubeRequestOf(req.method ?? 'GET', req.url ?? '/');
          if (!request) return;
          forwarded.push(request);
          // A server-side apply that creates its object (201) is also authorized as a create.
          if (request.verb === 'patch' && up.statusCode === 201)
            forwarded.push({ ...request, verb: 'create' });
        },
      );
      proxied.on('error', () => req.socket.destroy());
      req.pipe(proxied);
    };
    // Every matching fault counts the request, then the first one due acts (as the sandbox's faults do).
    const matching = faults.filter((f) => (!f.method || f.method === req.method) && f.path.test(path));
    for (const f of matching) f.seen += 1;
    const due = matching.find((f) => f.seen === (f.nth ?? 1));
    if (due && due.delayMs !== undefined && due.status === undefined && !due.reset) {
      setTimeout(() => forward(), due.delayMs);
      return;
    }
    if (due) {
      if (due.reset) {
        req.socket.destroy();
        return;
      }
      const code = due.status ?? 500;
      res.writeHead(code, {
        'content-type': 'application/json',
        ...(code === 429 || code === 503 ? { 'retry-after': '1' } : {}),
      });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `injected ${code}`,
          reason: 'InternalError',
          code,
        }),
      );
      return;
    }
    forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kubeConfigYaml = `apiVersion: v1
kind: Config
clusters:
- name: proxy
  cluster:
    server: http://127.0.0.1:${port}
    insecure-skip-tls-verify: true
contexts:
- name: proxy
  context:
    cluster: proxy
    user: nobody
current-context: proxy
users:
- name: nobody
  user: {}
`;
  return {
    kubeConfigYaml,
    add: (spec: FaultSpec) => void faults.push({ ...spec, seen: 0 }),
    /**
     * The RBAC attributes of every request the API server answered so far (injected failures are not
     * forwarded); an apply that created its object counts as patch and create, as the server authorizes it.
     */
    requests: (): readonly KubeRequest[] => [...forwarded],
    clear: () => void faults.splice(0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
