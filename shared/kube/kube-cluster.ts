/**
 * The ClusterPort on @kubernetes/client-node 1.4 (any real API server, AKS included): server-side
 * apply with one field manager, resourceVersion preconditions with bounded conflict retries, merge and
 * JSON patches with explicit content types, API errors mapped to the project's typed errors, a deadline on
 * every request, and bounded backoff for transient failures (429 with Retry-After, 5xx, resets, timeouts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import type {
  KubeConfig,
  KubernetesObject,
  Middleware,
  V1ConfigMap,
  V1Deployment,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import {
  ApiException,
  AppsV1Api,
  createConfiguration,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  ConfigError,
  ConflictError,
  DomainError,
  InputError,
  NotFoundError,
  UpstreamError,
} from '../errors.js';
import type {
  ClusterPort,
  KubeObject,
  KubeObjectRef,
  RolloutStatus,
  VersionedData,
} from '../model/cluster-port.js';

export interface KubeClusterOptions {
  readonly kubeConfig: KubeConfig;
  /** Field manager of every server-side apply. */
  readonly fieldManager: string;
  /** Field manager of roll annotations (so a later apply of the Deployment leaves them alone). */
  readonly rollFieldManager?: string | undefined;
  /** Attempts for transient failures (default 5) and the backoff bounds. */
  readonly retry?:
    { readonly attempts?: number; readonly baseDelayMs?: number; readonly maxDelayMs?: number } | undefined;
  /** Read-modify-write attempts on 409 (default 100: 50 concurrent writers all land). */
  readonly conflictAttempts?: number | undefined;
  /** Called once per API request made (request counting for benchmarks). */
  readonly onRequest?: ((operation: string) => void) | undefined;
  /**
   * How long one request may take before it is aborted and counts as a transient failure (then retried
   * with the backoff above). Default 30 s: a stalled API server or a half-open connection would otherwise
   * hang the caller (an HTTP trigger, a durable activity) forever.
   */
  readonly requestTimeoutMs?: number | undefined;
}

const API_VERSIONS: Readonly<Record<KubeObjectRef['kind'], string>> = {
  Namespace: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  Deployment: 'apps/v1',
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many ConfigMaps' latest versions an adapter keeps (a gateway's `state` can be ~100 KB). */
const REMEMBERED_CONFIGMAPS = 64;

function statusMessage(body: unknown, fallback: string): string {
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message : fallback;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const TRANSIENT_NETWORK =
  /ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|socket hang up|network|timeout|aborted/i;

function errorCode(e: Error): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : '';
}

/** Maps anything the client library throws to a DomainError. */
export function mapKubeError(e: unknown, what: string): DomainError {
  if (e instanceof DomainError) return e;
  if (e instanceof ApiException) {
    const message = `${what}: ${statusMessage(e.body, `HTTP ${e.code}`)}`;
    const retryAfter = Number(e.headers?.['retry-after'] ?? Number.NaN);
    switch (true) {
      case e.code === 404:
        return new NotFoundError(message, { cause: e });
      case e.code === 409:
        return new ConflictError(message, { cause: e });
      case e.code === 400 || e.code === 422:
        return new InputError(`the Kubernetes API rejected it: ${message}`, [], { cause: e });
      case e.code === 429 || e.code >= 500:
        return new UpstreamError(message, {
          cause: e,
          transient: true,
          ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
        });
      default:
        return new UpstreamError(message, { cause: e, transient: false });
    }
  }
  const text = e instanceof Error ? `${e.message} ${errorCode(e)}` : String(e);
  return new UpstreamError(`${what}: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
    transient: TRANSIENT_NETWORK.test(text),
  });
}

/** The abort signal of the request being made, handed from `KubeCluster.call` to the client's middleware. */
const requestSignal = new AsyncLocalStorage<AbortSignal>();

/** Attaches the current call's abort signal to every HTTP request the client library sends for it. */
/**
 * client-node builds a new https.Agent for every request (KubeConfig.createAgent), so every request opened
 * a new TLS connection with a new secure context: a full handshake to the API server and the client key
 * parsed again (about 4 ms of CPU per request against envtest here, plus the round trips). Requests with
 * the same TLS options share one keep-alive agent instead. Proxy agents are left as they are.
 */
const keepAliveAgents = new Map<string, HttpsAgent>();
const MAX_AGENTS = 8;

function sharedAgent(agent: HttpsAgent): HttpsAgent {
  const o = agent.options;
  const hash = createHash('sha256');
  for (const value of [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.servername, o.rejectUnauthorized])
    hash.update(`${[value].flat().map(String).join('\u0001')}\u0000`);
  const key = hash.digest('base64');
  let shared = keepAliveAgents.get(key);
  if (!shared) {
    shared = new HttpsAgent({ ...o, keepAlive: true });
    if (keepAliveAgents.size >= MAX_AGENTS) keepAliveAgents.clear();
    keepAliveAgents.set(key, shared);
  }
  return shared;
}

const abortMiddleware: Middleware = {
  pre: (context) => {
    const signal = requestSignal.getStore();
    if (signal) context.setSignal(signal);
    // Authentication has set the request's agent by now.
    const agent = context.getAgent();
    if (agent?.constructor === HttpsAgent) context.setAgent(sharedAgent(agent));
    return Promise.resolve(context);
  },
  post: (response) => Promise.resolve(response),
};

/** KubernetesObjectApi on a given configuration, with the kubeconfig's default namespace (as makeApiClient). */
class ObjectApi extends KubernetesObjectApi {
  static on(kubeConfig: KubeConfig, configuration: ReturnType<typeof createConfiguration>): ObjectApi {
    const api = new ObjectApi(configuration);
    api.setDefaultNamespace(kubeConfig);
    return api;
  }
}

export class KubeCluster implements ClusterPort {
  private readonly objects: KubernetesObjectApi;
  private readonly apps: AppsV1Api;
  private readonly fieldManager: string;
  private readonly rollFieldManager: string;
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly conflictAttempts: number;
  private readonly onRequest: (operation: string) => void;
  private readonly requestTimeoutMs: number;

  constructor(options: KubeClusterOptions) {
    // What KubeConfig.makeApiClient builds, plus the middleware that lets a request be aborted.
    const server = options.kubeConfig.getCurrentCluster()?.server;
    if (!server) throw new ConfigError(['the kubeconfig has no current cluster']);
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: options.kubeConfig },
      promiseMiddleware: [abortMiddleware],
    });
    this.objects = ObjectApi.on(options.kubeConfig, configuration);
    this.apps = new AppsV1Api(configuration);
    this.fieldManager = options.fieldManager;
    this.rollFieldManager = options.rollFieldManager ?? `${options.fieldManager}-roll`;
    this.attempts = options.retry?.attempts ?? 5;
    this.baseDelayMs = options.retry?.baseDelayMs ?? 200;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 5000;
    this.conflictAttempts = options.conflictAttempts ?? 100;
    this.onRequest = options.onRequest ?? (() => undefined);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /**
   * One attempt of an API call under the request deadline: past it the HTTP request is aborted and the
   * attempt fails with a transient UpstreamError (the race also covers anything that ignores the signal).
   */
  private async attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const error = new UpstreamError(`${what}: no answer within ${this.requestTimeoutMs} ms`, {
          transient: true,
        });
        controller.abort(error);
        reject(error);
      }, this.requestTimeoutMs);
    });
    try {
      return await Promise.race([requestSignal.run(controller.signal, fn), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs one API call, retrying transient failures with jittered exponential backoff. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      this.onRequest(what);
      try {
        return await this.attempt(what, fn);
      } catch (e: unknown) {
        const error = mapKubeError(e, what);
        if (!(error instanceof UpstreamError) || !error.transient || attempt >= this.attempts) throw error;
        const backoff = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        const wait = error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : backoff;
        await sleep(Math.min(this.maxDelayMs, wait) * (0.5 + Math.random() / 2));
      }
    }
  }

  private header(ref: KubeObjectRef): KubernetesObject & { metadata: { name: string } } {
    return {
      apiVersion: API_VERSIONS[ref.kind],
      kind: ref.kind,
      metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
    };
  }

  private async readObject<T extends KubernetesObject>(ref: KubeObjectRef): Promise<T | undefined> {
    try {
      return await this.call(`read ${ref.kind} ${ref.namespace ?? ''}/${ref.name}`, () =>
        this.objects.read<T>(this.header(ref) as never),
      );
    } catch (e: unknown) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    for (const o of objects) {
      await this.call(`apply ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, () =>
        this.objects.patch(
          o as KubernetesObject,
          undefined,
          undefined,
          this.fieldManager,
          true,
          PatchStrategy.ServerSideApply,
        ),
      );
    }
  }

  async create(object: KubeObject): Promise<void> {
    await this.call(`create ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`, () =>
      this.objects.create(object as KubernetesObject, undefined, undefined, this.fieldManager),
    );
  }

  async delete(ref: KubeObjectRef): Promise<void> {
    try {
      await this.call(`delete ${ref.kind} ${ref.namespace ?? ''}/${ref.name}`, () =>
        this.objects.delete(this.header(ref)),
      );
    } catch (e: unknown) {
      if (!(e instanceof NotFoundError)) throw e;
    }
  }

  async list(
    kind: KubeObjectRef['kind'],
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<KubeObject[]> {
    const result = await this.call(`list ${kind} ${namespace ?? '*'} ${labelSelector}`, () =>
      this.objects.list(
        API_VERSIONS[kind],
        kind,
        namespace,
        undefined,
        undefined,
        undefined,
        undefined,
        labelSelector,
      ),
    );
    return result.items.map(
      (item) => ({ ...item, apiVersion: API_VERSIONS[kind], kind }) as unknown as KubeObject,
    );
  }

  private configMapRef(namespace: string, name: string): KubeObjectRef {
    return { kind: 'ConfigMap', namespace, name };
  }

  async readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined> {
    const cm = await this.readObject<V1ConfigMap>(this.configMapRef(namespace, name));
    const read = cm
      ? { data: { ...cm.data }, resourceVersion: cm.metadata?.resourceVersion ?? '' }
      : undefined;
    // A ConfigMap this process updates: the next update starts from what was read last (a read that
    // overtakes a write of this process only costs that update one refused write).
    const key = `${namespace}/${name}`;
    if (this.latest.has(key)) this.remember(key, read);
    return read;
  }

  async replaceConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    resourceVersion: string,
  ): Promise<VersionedData> {
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace, resourceVersion },
      data,
    };
    const cm = await this.call(`replace ConfigMap ${namespace}/${name}`, () =>
      this.objects.replace<V1ConfigMap>(body, undefined, undefined, this.fieldManager),
    );
    return { data: { ...cm.data }, resourceVersion: cm.metadata?.resourceVersion ?? '' };
  }

  /**
   * Read-modify-writes of one ConfigMap by this process run one after another, each starting from the
   * version the one before it wrote (or this process read last): concurrent requests of one host to one
   * gateway neither collide (409, a read, a write again, each) nor read back what this process has just
   * written. Another host's write still meets the resourceVersion precondition: a 409, then a read. Only a
   * change is ever written on a remembered or held version; "no change" and a refusal are asked again on
   * a fresh read.
   */
  updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Record<string, string> | undefined,
    known?: VersionedData,
  ): Promise<VersionedData> {
    const key = `${namespace}/${name}`;
    const update = () => this.updateInTurn(key, namespace, name, mutate, known);
    const run = (this.updates.get(key) ?? Promise.resolve()).then(update, update);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.updates.set(key, settled);
    void settled.then(() => {
      if (this.updates.get(key) === settled) this.updates.delete(key);
    });
    return run;
  }

  private readonly updates = new Map<string, Promise<void>>();
  /** The latest version of each ConfigMap this process's updates wrote or read, the most recent few. */
  private readonly latest = new Map<string, VersionedData>();

  private remember(key: string, version: VersionedData | undefined): void {
    this.latest.delete(key);
    if (!version) return;
    this.latest.set(key, version);
    if (this.latest.size > REMEMBERED_CONFIGMAPS) this.latest.delete(this.latest.keys().next().value ?? '');
  }

  private async updateInTurn(
    key: string,
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Record<string, string> | undefined,
    known: VersionedData | undefined,
  ): Promise<VersionedData> {
    // What the update before this one left is at least as new as anything the caller held.
    let held = this.latest.get(key) ?? known;
    for (let attempt = 1; attempt <= this.conflictAttempts; attempt += 1) {
      const fromHeld = held !== undefined;
      const current = held ?? (await this.readConfigMap(namespace, name));
      held = undefined;
      this.remember(key, current);
      if (!current) throw new NotFoundError(`ConfigMap ${namespace}/${name} does not exist`);
      let next: Record<string, string> | undefined;
      try {
        next = mutate(current);
      } catch (e: unknown) {
        // A refusal is a decision too: never made on a version the API server has not confirmed.
        if (!fromHeld) throw e;
        attempt -= 1;
        continue;
      }
      if (!next && fromHeld) {
        // "No change" is only ever answered on what the API server holds now.
        attempt -= 1;
        continue;
      }
      if (!next) return current;
      try {
        const written = await this.replaceConfigMap(namespace, name, next, current.resourceVersion);
        this.remember(key, written);
        return written;
      } catch (e: unknown) {
        this.remember(key, undefined);
        if (!(e instanceof ConflictError)) throw e;
        // Another host wrote first: spread the retries so concurrent writers do not collide again.
        if (!fromHeld) await sleep(Math.random() * Math.min(100, 5 * attempt));
      }
    }
    throw new ConflictError(
      `ConfigMap ${namespace}/${name} kept changing: gave up after ${this.conflictAttempts} attempts`,
    );
  }

  private async mergePatch<T>(
    ref: KubeObjectRef,
    body: object,
    fieldManager = this.fieldManager,
  ): Promise<T> {
    return this.call(
      `patch ${ref.kind} ${ref.namespace ?? ''}/${ref.name}`,
      () =>
        this.objects.patch(
          { ...this.header(ref), ...body },
          undefined,
          undefined,
          fieldManager,
          undefined,
          PatchStrategy.MergePatch,
        ) as Promise<T>,
    );
  }

  async patchConfigMapData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): Promise<VersionedData> {
    const cm = await this.mergePatch<V1ConfigMap>(this.configMapRef(namespace, name), { data: patch });
    return { data: { ...cm.data }, resourceVersion: cm.metadata?.resourceVersion ?? '' };
  }

  async readSecret(namespace: string, name: string): Promise<VersionedData | undefined> {
    const secret = await this.readObject<V1Secret>({ kind: 'Secret', namespace, name });
    return secret ? decodeSecret(secret) : undefined;
  }

  async patchSecretData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<VersionedData> {
    const encoded = Object.fromEntries(
      Object.entries(patch).map(([k, v]) => [
        k,
        v === null ? null : Buffer.from(v, 'utf8').toString('base64'),
      ]),
    );
    const ref: KubeObjectRef = { kind: 'Secret', namespace, name };
    // A resourceVersion in a merge patch is a precondition: the API server answers 409 when it differs.
    const body =
      resourceVersion === undefined
        ? { data: encoded }
        : { metadata: { ...this.header(ref).metadata, resourceVersion }, data: encoded };
    const secret = await this.mergePatch<V1Secret>(ref, body);
    return decodeSecret(secret);
  }

  private deploymentRef(namespace: string, name: string): KubeObjectRef {
    return { kind: 'Deployment', namespace, name };
  }

  async readRollout(namespace: string, deployment: string): Promise<RolloutStatus> {
    const d = await this.readObject<V1Deployment>(this.deploymentRef(namespace, deployment));
    if (!d) throw new NotFoundError(`Deployment ${namespace}/${deployment} does not exist`);
    return rolloutOf(d);
  }

  async patchPodTemplateAnnotations(
    namespace: string,
    deployment: string,
    annotations: Record<string, string>,
  ): Promise<RolloutStatus> {
    const d = await this.mergePatch<V1Deployment>(
      this.deploymentRef(namespace, deployment),
      { spec: { template: { metadata: { annotations } } } },
      this.rollFieldManager,
    );
    return rolloutOf(d);
  }

  async restorePodTemplate(namespace: string, deployment: string, template: unknown): Promise<RolloutStatus> {
    // A JSON patch replaces the whole template, so keys the roll added (restartedAt) go too.
    const d = await this.call(`restore the template of Deployment ${namespace}/${deployment}`, () =>
      this.apps.patchNamespacedDeployment(
        {
          name: deployment,
          namespace,
          body: [{ op: 'replace', path: '/spec/template', value: template }],
          fieldManager: this.rollFieldManager,
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    return rolloutOf(d);
  }

  async readLoadBalancerAddress(namespace: string, service: string): Promise<string | undefined> {
    const svc = await this.readObject<V1Service>({ kind: 'Service', namespace, name: service });
    const ingress = svc?.status?.loadBalancer?.ingress?.[0];
    return ingress?.ip ?? ingress?.hostname ?? undefined;
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.delete({ kind: 'Namespace', name });
  }

  async namespaceExists(name: string): Promise<boolean> {
    return (await this.readObject({ kind: 'Namespace', name })) !== undefined;
  }
}

function decodeSecret(secret: V1Secret): VersionedData {
  return {
    data: Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    ),
    resourceVersion: secret.metadata?.resourceVersion ?? '',
  };
}

function rolloutOf(d: V1Deployment): RolloutStatus {
  return {
    generation: d.metadata?.generation ?? 0,
    observedGeneration: d.status?.observedGeneration ?? 0,
    replicas: d.spec?.replicas ?? 1,
    totalReplicas: d.status?.replicas ?? 0,
    updatedReplicas: d.status?.updatedReplicas ?? 0,
    readyReplicas: d.status?.readyReplicas ?? 0,
    availableReplicas: d.status?.availableReplicas ?? 0,
    conditions: (d.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    })),
    templateAnnotations: { ...d.spec?.template.metadata?.annotations },
    template: d.spec?.template,
  };
}
