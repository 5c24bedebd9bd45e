/**
 * The sandbox's Kubernetes API server: an in-process HTTP server speaking the subset of the Kubernetes REST
 * API our cluster adapter uses (core/v1 namespaces, configmaps, secrets, services, pods read-only; apps/v1
 * deployments; discovery), faithfully enough that the real `@kubernetes/client-node` adapter runs against it
 * unchanged. `npm start` uses it when no cluster is configured; tests use it with fault injection.
 *
 * Responses were compared request by request with a real kube-apiserver (v1.20.2, plus kube-controller-manager
 * and a fake kubelet for rollouts): status codes, Status bodies and messages, defaults, resourceVersion and
 * generation rules, apply ownership and conflicts, rollout status milestones. Defaults follow current AKS
 * (1.30: Service ipFamilies/internalTrafficPolicy, the `kubernetes.io/metadata.name` namespace label).
 * Known differences: managedFields own lists as a whole (no `k:{...}` items, no `.` entries), unknown fields
 * are kept (a real server drops them), no ReplicaSets, Foreground deletion is immediate, watches send no
 * bookmarks, decode error messages are worded differently (same codes).
 *
 * Not a security boundary: plain HTTP on loopback, no authentication.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { Controllers, type RolloutFailureFilter } from './kube-api/controllers.js';
import { FaultTable, type Faults } from './kube-api/faults.js';
import { isObject, str, type Json, type JsonObject } from './kube-api/json.js';
import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  findResourceType,
  RESOURCE_TYPES,
  type ResourceType,
} from './kube-api/resources.js';
import {
  ObjectStore,
  PATCH_TYPES,
  type PatchType,
  type StoreSnapshot,
  type WriteEvent,
  type WriteOptions,
} from './kube-api/store.js';
import { parseFieldSelector, parseLabelSelector } from './kube-api/selectors.js';
import {
  badRequest,
  KubeStatusError,
  methodNotAllowed,
  pathNotFound,
  reasonForCode,
} from './kube-api/status.js';

export type { Fault, FaultSpec, Faults } from './kube-api/faults.js';
export type { RolloutFailureFilter } from './kube-api/controllers.js';

export interface SandboxKubeApiServerOptions {
  /** Directory where the object store is saved after every change and reloaded at start (memory only when omitted). */
  readonly dataDir?: string;
  /** Loopback port (default 0: any free port). */
  readonly port?: number;
  readonly host?: string;
  /** How long a rollout takes for its new pods to become ready (default 1000 ms). */
  readonly rolloutDelayMs?: number;
  /** How long until a LoadBalancer Service gets its address (default 500 ms). */
  readonly loadBalancerDelayMs?: number;
  /** How long a deleted namespace stays Terminating before it and its objects are gone (default 300 ms). */
  readonly namespaceDeletionDelayMs?: number;
  /** Overrides every Deployment's `progressDeadlineSeconds` (for tests of stuck rollouts). */
  readonly progressDeadlineMs?: number;
  /**
   * How long the deployment controller takes to notice a change (default 50 ms). Until then the status still
   * describes the previous generation, as on a real cluster, so clients must compare observedGeneration.
   */
  readonly observeDelayMs?: number;
}

/** One request the server received (for request counting in benchmarks and tests). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly contentType: string | undefined;
  readonly status: number;
}

export interface SandboxKubeApiServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** A kubeconfig (YAML) pointing at this server: plain HTTP, no credentials, namespace `default`. */
  readonly kubeConfigYaml: string;
  /** The same kubeconfig, as a function (the name TEAM.md's contract uses). */
  kubeConfig(): string;
  readonly faults: Faults;
  /** Failure mode for rollback tests: new pods of matching Deployments never become ready. */
  readonly rollouts: {
    failNewPods(filter?: RolloutFailureFilter): void;
    clearFailures(): void;
  };
  /** Every request served so far, oldest first. */
  requests(): readonly RecordedRequest[];
  clearRequests(): void;
  /** Stops the server and the controllers, and writes the store out (with `dataDir`). */
  close(): Promise<void>;
}

const STORE_FILE = 'kube-api-store.json';
/** kube-apiserver's request body limit. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;
const WATCH_HISTORY = 2000;
/** Requests kept for `requests()` (the oldest are dropped beyond this, so a long `npm start` stays small). */
const RECORDED_REQUESTS = 10_000;
const VERSION_INFO = {
  major: '1',
  minor: '30',
  gitVersion: 'v1.30.0-sandbox',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.22.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

/** Saves snapshots atomically (temp file + rename), one write at a time, coalescing bursts. */
class Persistence {
  private dirty = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly snapshot: () => StoreSnapshot,
  ) {}

  static async load(dir: string): Promise<StoreSnapshot | undefined> {
    try {
      const text = await readFile(join(dir, STORE_FILE), 'utf8');
      const parsed = JSON.parse(text) as StoreSnapshot;
      if (parsed.version !== 1 || !Array.isArray(parsed.objects))
        throw new Error(`unsupported store format in ${join(dir, STORE_FILE)}`);
      return parsed;
    } catch (e: unknown) {
      if (isObject(e) && (e as { code?: unknown }).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  markDirty(): void {
    this.dirty = true;
    this.running ??= this.drain();
  }

  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      await new Promise((r) => setImmediate(r));
      while (this.dirty) {
        this.dirty = false;
        const file = join(this.dir, STORE_FILE);
        const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
        try {
          await writeFile(tmp, JSON.stringify(this.snapshot()), { mode: 0o600 });
          await rename(tmp, file);
        } catch (e: unknown) {
          await rm(tmp, { force: true });
          console.error(
            `sandbox kube-api: could not save ${file}: ${e instanceof Error ? e.message : str(e)}`,
          );
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}

interface Watcher {
  readonly rt: ResourceType;
  readonly namespace: string | undefined;
  readonly send: (e: WriteEvent, rv: number) => void;
}

/** Starts the server on loopback; resolves once it listens (and the saved store, if any, is loaded). */
export async function startSandboxKubeApiServer(
  options: SandboxKubeApiServerOptions = {},
): Promise<SandboxKubeApiServer> {
  const store = new ObjectStore();
  const faults = new FaultTable();
  const recorded: RecordedRequest[] = [];
  const history: { rv: number; e: WriteEvent }[] = [];
  const watchers = new Set<Watcher>();
  let persistence: Persistence | undefined;

  if (options.dataDir) {
    await mkdir(options.dataDir, { recursive: true });
    const saved = await Persistence.load(options.dataDir);
    if (saved) store.restore(saved);
    persistence = new Persistence(options.dataDir, () => store.snapshot());
  }
  if (!store.peek(typeOf('Namespace'), '', 'default')) bootstrap(store);

  store.onWrite((e) => {
    const rv = Number(store.currentResourceVersion);
    history.push({ rv, e });
    if (history.length > WATCH_HISTORY) history.shift();
    for (const w of watchers)
      if (w.rt === e.rt && (w.namespace === undefined || w.namespace === e.namespace)) w.send(e, rv);
    persistence?.markDirty();
  });

  const controllers = new Controllers(store, {
    rolloutDelayMs: options.rolloutDelayMs ?? 1000,
    loadBalancerDelayMs: options.loadBalancerDelayMs ?? 500,
    namespaceDeletionDelayMs: options.namespaceDeletionDelayMs ?? 300,
    observeDelayMs: options.observeDelayMs ?? 50,
    ...(options.progressDeadlineMs !== undefined ? { progressDeadlineMs: options.progressDeadlineMs } : {}),
  });
  controllers.start();

  const server = createServer((req, res) => {
    void handle(req, res).catch((e: unknown) => {
      if (!res.headersSent)
        sendStatus(
          res,
          new KubeStatusError(
            500,
            'InternalError',
            `Internal error occurred: ${e instanceof Error ? e.message : str(e)}`,
          ),
        );
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = (req.method ?? 'GET').toUpperCase();
    res.on('finish', () => {
      recorded.push({
        method,
        path: url.pathname,
        query: url.search,
        contentType: req.headers['content-type'],
        status: res.statusCode,
      });
      if (recorded.length > RECORDED_REQUESTS) recorded.splice(0, recorded.length - RECORDED_REQUESTS);
    });
    const fault = faults.match(method, url.pathname);
    if (fault) {
      if (fault.delayMs > 0) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.reset) {
        req.socket.destroy();
        return;
      }
      if (fault.status !== undefined) {
        const code = fault.status;
        if (fault.retryAfterSeconds !== undefined) res.setHeader('Retry-After', str(fault.retryAfterSeconds));
        await drain(req);
        sendStatus(
          res,
          new KubeStatusError(
            code,
            reasonForCode(code),
            fault.message ?? defaultFaultMessage(code),
            fault.retryAfterSeconds !== undefined ? { retryAfterSeconds: fault.retryAfterSeconds } : {},
          ),
        );
        return;
      }
    }
    try {
      const body = await readBody(req);
      const result = route(method, url, req, body, res);
      if (result === 'streaming') return;
      sendJson(res, result.code, result.body);
    } catch (e: unknown) {
      if (e instanceof KubeStatusError) sendStatus(res, e);
      else throw e;
    }
  }

  function route(
    method: string,
    url: URL,
    req: IncomingMessage,
    body: string,
    res: ServerResponse,
  ): { code: number; body: Json } | 'streaming' {
    let segments: string[];
    try {
      segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw pathNotFound();
    }
    const [root, ...rest] = segments;
    if (root === 'version' && rest.length === 0) return get(method, VERSION_INFO);
    if ((root === 'healthz' || root === 'livez' || root === 'readyz') && method === 'GET')
      return { code: 200, body: 'ok' };
    let group: string;
    let version: string | undefined;
    let tail: string[];
    if (root === 'api') {
      if (rest.length === 0)
        return get(method, {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? '' }],
        });
      group = '';
      [version, ...tail] = rest;
    } else if (root === 'apis') {
      if (rest.length === 0) return get(method, apiGroupList());
      const [g, v, ...t] = rest;
      group = g ?? '';
      if (v === undefined) {
        const doc = apiGroup(group);
        if (!doc) throw pathNotFound();
        return get(method, doc);
      }
      version = v;
      tail = t;
    } else throw pathNotFound();
    if (tail.length === 0) {
      const doc = apiResourceList(group, version ?? '');
      if (!doc) throw pathNotFound();
      return get(method, doc);
    }

    // Resource paths: [plural, name?, sub?] or [namespaces, ns, plural, name?, sub?]
    let namespace: string | undefined;
    let parts = tail;
    if (tail[0] === 'namespaces' && tail.length >= 3) {
      const inner = findResourceType(group, version ?? '', tail[2] ?? '');
      if (inner?.namespaced) {
        namespace = tail[1];
        parts = tail.slice(2);
      }
    }
    const [plural, name, sub, ...extra] = parts;
    const rt = findResourceType(group, version ?? '', plural ?? '');
    if (!rt || extra.length > 0) throw pathNotFound();
    if (rt.namespaced && namespace === undefined && name !== undefined) throw pathNotFound();
    if (sub !== undefined && (sub !== 'status' || !rt.hasStatus || rt.readOnly)) throw pathNotFound();
    const subresource = sub === 'status' ? ('status' as const) : undefined;
    const q = url.searchParams;
    const ns = namespace ?? '';

    if (name === undefined) {
      if (method === 'GET') {
        if (q.get('watch') === 'true' || q.get('watch') === '1') {
          startWatch(rt, namespace, q, req, res);
          return 'streaming';
        }
        const limit = q.get('limit');
        return {
          code: 200,
          body: store.list(rt, namespace, {
            labelSelector: q.get('labelSelector'),
            fieldSelector: q.get('fieldSelector'),
            ...(limit !== null ? { limit: Number(limit) } : {}),
            continue: q.get('continue'),
          }),
        };
      }
      if (method === 'POST') {
        if (rt.readOnly) throw methodNotAllowed();
        if (rt.namespaced && namespace === undefined) throw methodNotAllowed();
        return { code: 201, body: store.create(rt, ns, parseBody(req, body, rt.kind), writeOptions(req, q)) };
      }
      throw methodNotAllowed();
    }
    switch (method) {
      case 'GET': {
        const o = store.get(rt, ns, name);
        return { code: 200, body: o };
      }
      case 'PUT':
        if (rt.readOnly) throw methodNotAllowed();
        return {
          code: 200,
          body: store.replace(rt, ns, name, parseBody(req, body, rt.kind), writeOptions(req, q), subresource),
        };
      case 'PATCH': {
        if (rt.readOnly) throw methodNotAllowed();
        const type = patchType(req.headers['content-type']);
        const r = store.patch(rt, ns, name, type, body, writeOptions(req, q), subresource);
        return { code: r.created ? 201 : 200, body: r.object };
      }
      case 'DELETE': {
        if (rt.readOnly || subresource) throw methodNotAllowed();
        const options = body.trim() === '' ? undefined : parseBody(req, body, rt.kind);
        return { code: 200, body: store.delete(rt, ns, name, options, writeOptions(req, q)) };
      }
      default:
        throw methodNotAllowed();
    }
  }

  function startWatch(
    rt: ResourceType,
    namespace: string | undefined,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    const labels = q.get('labelSelector');
    const fields = q.get('fieldSelector');
    const filter = (o: JsonObject) => matches(o, labels, fields);
    const from = q.get('resourceVersion');
    const current = Number(store.currentResourceVersion);
    const oldest = history[0]?.rv ?? current + 1;
    if (from && from !== '0' && Number(from) < current && Number(from) + 1 < oldest) {
      throw new KubeStatusError(410, 'Expired', `too old resource version: ${from} (${current})`);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: Json) => res.write(`${JSON.stringify({ type, object })}\n`);
    const send = (e: WriteEvent) => {
      const now = e.object;
      const before = e.old;
      const inNow = now !== undefined && filter(now);
      const inBefore = before !== undefined && filter(before);
      if (inNow && !inBefore) write('ADDED', now);
      else if (inNow) write('MODIFIED', now);
      else if (inBefore) write('DELETED', now ?? before);
    };
    if (!from || from === '0') {
      for (const o of store.all(rt, namespace)) if (filter(o)) write('ADDED', o);
    } else {
      for (const h of history)
        if (h.rv > Number(from) && h.e.rt === rt && (namespace === undefined || h.e.namespace === namespace))
          send(h.e);
    }
    const watcher: Watcher = { rt, namespace, send: (e) => send(e) };
    watchers.add(watcher);
    const timeout = Number(q.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(() => res.end(), Math.max(1, timeout) * 1000);
    const stop = () => {
      clearTimeout(timer);
      watchers.delete(watcher);
    };
    req.on('close', stop);
    res.on('close', stop);
  }

  const openSockets = new Set<Socket>();
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${address.port}`;
  const kubeConfigYaml = stringifyYaml({
    apiVersion: 'v1',
    kind: 'Config',
    // client-node refuses plain http unless the cluster is marked insecure-skip-tls-verify (there is no TLS).
    clusters: [{ name: 'sandbox', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'sandbox', user: {} }],
    contexts: [{ name: 'sandbox', context: { cluster: 'sandbox', user: 'sandbox', namespace: 'default' } }],
    'current-context': 'sandbox',
  });

  return {
    url,
    kubeConfigYaml,
    kubeConfig: () => kubeConfigYaml,
    faults,
    rollouts: {
      failNewPods: (filter) => controllers.failNewPods(filter),
      clearFailures: () => controllers.clearRolloutFailures(),
    },
    requests: () => [...recorded],
    clearRequests: () => {
      recorded.length = 0;
    },
    close: async () => {
      controllers.stop();
      watchers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of openSockets) s.destroy();
      });
      await persistence?.flush();
    },
  };
}

// ---- helpers ------------------------------------------------------------------------------------------------

const typeOf = (kind: string): ResourceType => RESOURCE_TYPES.find((r) => r.kind === kind) as ResourceType;

/** What a fresh cluster has: the system namespaces and the `kubernetes` Service. */
function bootstrap(store: ObjectStore): void {
  const opts: WriteOptions = { fieldManager: 'kube-apiserver', dryRun: false };
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(typeOf('Namespace'), '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, opts);
  }
  store.create(
    typeOf('Service'),
    'default',
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        clusterIP: '10.0.0.1',
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      },
    },
    opts,
  );
}

function matches(o: JsonObject, labelSelector: string | null, fieldSelector: string | null): boolean {
  const m = isObject(o.metadata) ? o.metadata : {};
  const labels = isObject(m.labels) ? (m.labels as Record<string, string>) : undefined;
  const namespace = typeof m.namespace === 'string' ? m.namespace : undefined;
  return (
    parseLabelSelector(labelSelector)(labels) &&
    parseFieldSelector(fieldSelector)({
      metadata: { name: str(m.name), ...(namespace !== undefined ? { namespace } : {}) },
    })
  );
}

function get(method: string, body: Json): { code: number; body: Json } {
  if (method !== 'GET') throw methodNotAllowed();
  return { code: 200, body };
}

function defaultFaultMessage(code: number): string {
  switch (code) {
    case 429:
      return 'Too many requests, please try again later.';
    case 500:
      return 'Internal error occurred: injected fault';
    case 503:
      return 'The server is currently unable to handle the request';
    case 504:
      return 'Timeout: request did not complete within the allowed duration';
    case 409:
      return 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again';
    default:
      return `injected fault (${code})`;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) {
      throw new KubeStatusError(
        413,
        'RequestEntityTooLarge',
        `Request entity too large: limit is ${MAX_BODY_BYTES}`,
      );
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(req: IncomingMessage): Promise<void> {
  for await (const _ of req) {
    // discard
  }
}

const mediaType = (header: string | undefined): string =>
  (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

function parseBody(req: IncomingMessage, body: string, kind: string): Json {
  const type = mediaType(req.headers['content-type']);
  if (body.trim() === '') throw badRequest('the object provided is unrecognized: empty body');
  if (type === '' || type === 'application/json' || type === '*/*') {
    try {
      return JSON.parse(body) as Json;
    } catch (e: unknown) {
      throw badRequest(
        `the object provided is unrecognized (must be of type ${kind}): couldn't get version/kind; json parse error: ${e instanceof Error ? e.message : str(e)} (${body.slice(0, 64)})`,
      );
    }
  }
  if (type === 'application/yaml') {
    try {
      return parseYaml(body) as Json;
    } catch (e: unknown) {
      throw badRequest(`error converting YAML to JSON: ${e instanceof Error ? e.message : str(e)}`);
    }
  }
  throw new KubeStatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    {},
  );
}

function patchType(header: string | undefined): PatchType {
  const type = mediaType(header);
  const known = Object.values(PATCH_TYPES) as string[];
  if (known.includes(type)) return type as PatchType;
  // What kube-apiserver answers for a PATCH whose Content-Type is not a patch type.
  throw new KubeStatusError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
}

/** Field manager: the query parameter, else derived from the User-Agent as kube-apiserver does. */
function writeOptions(req: IncomingMessage, q: URLSearchParams): WriteOptions {
  const dryRun = q.getAll('dryRun');
  for (const d of dryRun) if (d !== 'All') throw badRequest(`Invalid dry run value: ${JSON.stringify(d)}`);
  const force = q.get('force');
  let fieldManager = q.get('fieldManager') ?? '';
  if (fieldManager.length > 128) throw badRequest('fieldManager: Too long: must have at most 128 bytes');
  const isApply = mediaType(req.headers['content-type']) === PATCH_TYPES.apply;
  if (!fieldManager && !isApply) {
    const agent = req.headers['user-agent'] ?? '';
    fieldManager = (agent.split('/')[0] ?? '').slice(0, 128) || 'unknown';
  }
  return {
    fieldManager,
    dryRun: dryRun.length > 0,
    ...(force !== null ? { force: force === 'true' || force === '1' } : {}),
  };
}

function sendJson(res: ServerResponse, code: number, body: Json): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-cache, private',
  });
  res.end(text);
}

function sendStatus(res: ServerResponse, e: KubeStatusError): void {
  sendJson(res, e.code, e.toStatus() as Json);
}
