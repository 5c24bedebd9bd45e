/**
 * The sandbox's cluster: the ClusterPort held in memory, with no Kubernetes anywhere. It keeps the
 * promises the API server makes to the adapter (a create of an existing object and a write at a stale
 * resourceVersion are 409s, a missing object or namespace is a 404, a write that changes nothing bumps
 * no version), and plays the parts of a cluster the gateway waits for: a Deployment whose pod template
 * changes starts a rollout that becomes ready after `rolloutDelayMs` (or never, after `failNewPods`), and
 * a LoadBalancer Service gets an address after `loadBalancerDelayMs`.
 *
 * Every object is one YAML file, `<dataDir>/<namespace>/<kind>-<name>.yaml` (a Namespace in its own
 * folder), exactly what would go to a cluster: that is both what a user reads and what a restart loads.
 * Writes run one at a time, and each is on disk (see durable-files.ts) before it is visible or answered.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConflictError, InputError, NotFoundError } from '../shared/errors.js';
import type {
  ClusterPort,
  KubeObject,
  KubeObjectRef,
  RolloutStatus,
  VersionedData,
} from '../shared/model/cluster-port.js';
import { rolloutComplete } from '../shared/model/cluster-port.js';
import { makeDirectory, removeDurably, writeDurably } from './durable-files.js';

export interface EmbeddedClusterOptions {
  readonly dataDir: string;
  /** How long a new pod takes to become ready; default 1 s. */
  readonly rolloutDelayMs?: number | undefined;
  /** How long the cloud takes to give a LoadBalancer Service its address; default 1 s. */
  readonly loadBalancerDelayMs?: number | undefined;
}

type Kind = KubeObjectRef['kind'];
type Data = Record<string, string>;
interface Template {
  metadata?: { annotations?: Data };
}
interface Stored extends KubeObject {
  metadata: KubeObject['metadata'] & { resourceVersion: string; generation?: number };
  data?: Data;
  spec?: { replicas?: number; type?: string; template?: Template };
  status?: Record<string, unknown>;
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** The API server's rule for ConfigMap and Secret keys. */
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

const keyOf = (kind: string, namespace: string | undefined, name: string) =>
  `${kind}/${namespace ?? ''}/${name}`;
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
/** JSON with sorted keys: two objects with the same content compare equal. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
/** What a write may change: everything but what the cluster itself maintains. */
const content = ({
  metadata: { resourceVersion: _rv, generation: _g, ...metadata },
  status: _s,
  ...rest
}: Stored) => canonical({ ...rest, metadata });
const b64 = (data: Record<string, string | null>, encode: boolean) =>
  Object.fromEntries(
    Object.entries(data).map(([k, v]) => [
      k,
      v === null ? null : Buffer.from(v, encode ? 'utf8' : 'base64').toString(encode ? 'base64' : 'utf8'),
    ]),
  );
/** A documentation address (RFC 5737 TEST-NET-3) derived from the Service's name, the same after a restart. */
const addressOf = ({ metadata }: Stored) =>
  `203.0.113.${((createHash('sha256').update(`${metadata.namespace}/${metadata.name}`).digest()[0] ?? 0) % 254) + 1}`;

export class EmbeddedCluster implements ClusterPort {
  private readonly objects = new Map<string, Stored>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private version = Date.now();
  private writes: Promise<unknown> = Promise.resolve();
  private failing = false;
  private closed = false;

  private constructor(private readonly options: EmbeddedClusterOptions) {}

  /** Loads every object under `dataDir` (dropping temporaries a crash left) and resumes what was pending. */
  static async open(options: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
    const cluster = new EmbeddedCluster(options);
    await makeDirectory(options.dataDir);
    for (const folder of await readdir(options.dataDir, { withFileTypes: true })) {
      if (!folder.isDirectory()) continue;
      const dir = join(options.dataDir, folder.name);
      for (const file of await readdir(dir)) {
        if (file.endsWith('.tmp')) await rm(join(dir, file), { force: true });
        if (!file.endsWith('.yaml')) continue;
        const o = parse(await readFile(join(dir, file), 'utf8')) as Stored;
        cluster.objects.set(keyOf(o.kind, o.metadata.namespace, o.metadata.name), o);
        cluster.version = Math.max(cluster.version, Number(o.metadata.resourceVersion));
      }
    }
    for (const o of cluster.objects.values()) cluster.schedule(o);
    return cluster;
  }

  /** Pods started from now on never become ready (a roll that must be rolled back). */
  failNewPods(): void {
    this.failing = true;
  }

  clearFailures(): void {
    this.failing = false;
  }

  /** Where the YAML file of an object is. */
  fileOf(kind: Kind, namespace: string | undefined, name: string): string {
    return join(this.options.dataDir, namespace ?? name, `${kind.toLowerCase()}-${name}.yaml`);
  }

  /** Stops the simulated controllers and waits for the last write. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.writes;
  }

  private get(kind: string, namespace: string | undefined, name: string): Stored | undefined {
    return this.objects.get(keyOf(kind, namespace, name));
  }

  private need(kind: Kind, namespace: string, name: string): Stored {
    const o = this.get(kind, namespace, name);
    if (!o) throw new NotFoundError(`${kind} ${namespace}/${name} not found`);
    return copy(o);
  }

  /** Runs writes one at a time, so each decides on the state the previous one left. */
  private serial<T>(write: () => Promise<T>): Promise<T> {
    const result = this.writes.then(write);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** Makes `o` durable, then visible; returns it as stored. */
  private async store(o: Stored, changed: boolean): Promise<Stored> {
    const { kind, metadata } = o;
    if (!changed) return o;
    metadata.resourceVersion = String((this.version += 1));
    await writeDurably(this.fileOf(kind as Kind, metadata.namespace, metadata.name), stringify(o));
    this.objects.set(keyOf(kind, metadata.namespace, metadata.name), o);
    this.schedule(o);
    return o;
  }

  /** The write of an object that may be new: checks name and namespace, moves a new pod template on. */
  private async put(next: Stored, previous: Stored | undefined): Promise<Stored> {
    const { kind, metadata } = next;
    if (!NAME.test(metadata.name) || (metadata.namespace !== undefined && !NAME.test(metadata.namespace)))
      throw new InputError(`the Kubernetes API rejected it: ${kind} "${metadata.name}" has an invalid name`);
    invalidKeys(kind, metadata.name, next.data);
    if (metadata.namespace !== undefined && !this.get('Namespace', undefined, metadata.namespace))
      throw new NotFoundError(`namespaces "${metadata.namespace}" not found`);
    if (kind === 'Deployment' && canonical(next.spec) !== canonical(previous?.spec)) {
      metadata.generation = (previous?.metadata.generation ?? 0) + 1;
      if (canonical(next.spec?.template) !== canonical(previous?.spec?.template))
        // A new ReplicaSet's pod is starting: the old pod (if any) serves until it is ready.
        next.status = deploymentStatus(next, previous ? (next.spec?.replicas ?? 1) : 0, false);
    }
    return this.store(next, !previous || content(next) !== content(previous));
  }

  /** The controllers' next step for `o`, if it has one: a rollout to finish, an address to assign. */
  private schedule(o: Stored): void {
    const { kind, metadata, status } = o;
    const rolling = kind === 'Deployment' && !rolloutComplete(rolloutOf(o));
    const balancing =
      kind === 'Service' && o.spec?.type === 'LoadBalancer' && status?.['loadBalancer'] === undefined;
    if (this.closed || !(rolling || balancing)) return;
    const at = rolling ? metadata.generation : undefined;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.serial(async () => {
          const current = this.get(kind, metadata.namespace, metadata.name);
          // A pod that is not ready while failures are asked for never becomes ready.
          if (!current || this.closed || (rolling && this.failing) || current.metadata.generation !== at)
            return;
          const next = copy(current);
          next.status = rolling
            ? deploymentStatus(next, 0, true)
            : { loadBalancer: { ingress: [{ ip: addressOf(current) }] } };
          await this.store(next, true);
        }).catch(() => undefined);
      },
      rolling ? (this.options.rolloutDelayMs ?? 1000) : (this.options.loadBalancerDelayMs ?? 1000),
    );
    this.timers.add(timer);
  }

  apply(objects: readonly KubeObject[]): Promise<void> {
    return objects
      .reduce<Promise<unknown>>(
        (done, o) =>
          done.then(() =>
            this.serial(() => {
              const previous = this.get(o.kind, o.metadata.namespace, o.metadata.name);
              const next = copy(o) as Stored;
              next.metadata.resourceVersion = previous?.metadata.resourceVersion ?? '';
              if (previous?.metadata.generation) next.metadata.generation = previous.metadata.generation;
              if (previous?.status) next.status = copy(previous.status);
              // Annotations the roll set on the pod template belong to another field manager: they stay.
              const rolled = previous?.spec?.template?.metadata?.annotations;
              const template = next.spec?.template;
              if (rolled && template)
                template.metadata = {
                  ...template.metadata,
                  annotations: { ...rolled, ...template.metadata?.annotations },
                };
              return this.put(next, previous);
            }),
          ),
        Promise.resolve(),
      )
      .then(() => undefined);
  }

  create(object: KubeObject): Promise<void> {
    return this.serial(async () => {
      const { kind, metadata } = object;
      if (this.get(kind, metadata.namespace, metadata.name))
        throw new ConflictError(`${kind} ${metadata.namespace ?? ''}/${metadata.name} already exists`);
      await this.put({ ...copy(object), metadata: { ...copy(metadata), resourceVersion: '' } }, undefined);
    });
  }

  delete(ref: KubeObjectRef): Promise<void> {
    if (ref.kind === 'Namespace') return this.deleteNamespace(ref.name);
    return this.serial(async () => {
      if (!this.get(ref.kind, ref.namespace, ref.name)) return;
      await removeDurably(this.fileOf(ref.kind, ref.namespace, ref.name));
      this.objects.delete(keyOf(ref.kind, ref.namespace, ref.name));
    });
  }

  list(kind: Kind, namespace: string | undefined, labelSelector: string): Promise<KubeObject[]> {
    const [label = '', value] = labelSelector.split('=');
    const matches = (o: Stored) =>
      o.kind === kind &&
      (namespace === undefined || o.metadata.namespace === namespace) &&
      (label === '' ||
        (value === undefined ? label in (o.metadata.labels ?? {}) : o.metadata.labels?.[label] === value));
    return Promise.resolve([...this.objects.values()].filter(matches).map(copy));
  }

  private dataOf(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): VersionedData | undefined {
    const o = this.get(kind, namespace, name);
    if (!o) return undefined;
    const data = kind === 'Secret' ? (b64(o.data ?? {}, false) as Data) : { ...o.data };
    return { data, resourceVersion: o.metadata.resourceVersion };
  }

  private async writeData(
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
    replace = false,
  ): Promise<VersionedData> {
    const o = this.need(kind, namespace, name);
    invalidKeys(kind, name, patch);
    if (resourceVersion !== undefined && resourceVersion !== o.metadata.resourceVersion)
      throw new ConflictError(
        `${kind} ${namespace}/${name} was modified: resourceVersion ${o.metadata.resourceVersion}, not ${resourceVersion}`,
      );
    const data: Record<string, string | null> = {
      ...(replace ? {} : o.data),
      ...(kind === 'Secret' ? b64(patch, true) : patch),
    };
    const before = canonical(o.data ?? {});
    o.data = Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => e[1] !== null));
    await this.store(o, canonical(o.data) !== before);
    return this.dataOf(kind, namespace, name) as VersionedData;
  }

  readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined> {
    return Promise.resolve(this.dataOf('ConfigMap', namespace, name));
  }

  replaceConfigMap(
    namespace: string,
    name: string,
    data: Data,
    resourceVersion: string,
  ): Promise<VersionedData> {
    return this.serial(() => this.writeData('ConfigMap', namespace, name, data, resourceVersion, true));
  }

  /** Writes run one at a time, so the read, `mutate` and the write cannot be raced: no 409 to retry. */
  updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Data | undefined,
  ): Promise<VersionedData> {
    return this.serial(async () => {
      const current = this.dataOf('ConfigMap', namespace, name);
      if (!current) throw new NotFoundError(`ConfigMap ${namespace}/${name} not found`);
      const next = mutate(current);
      return next ? this.writeData('ConfigMap', namespace, name, next, current.resourceVersion) : current;
    });
  }

  patchConfigMapData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): Promise<VersionedData> {
    return this.serial(() => this.writeData('ConfigMap', namespace, name, patch));
  }

  readSecret(namespace: string, name: string): Promise<VersionedData | undefined> {
    return Promise.resolve(this.dataOf('Secret', namespace, name));
  }

  patchSecretData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<VersionedData> {
    return this.serial(() => this.writeData('Secret', namespace, name, patch, resourceVersion));
  }

  readRollout(namespace: string, deployment: string): Promise<RolloutStatus> {
    return Promise.resolve().then(() => rolloutOf(this.need('Deployment', namespace, deployment)));
  }

  private changeTemplate(
    namespace: string,
    deployment: string,
    change: (t: Template) => Template,
  ): Promise<RolloutStatus> {
    return this.serial(async () => {
      const previous = this.need('Deployment', namespace, deployment);
      const next = copy(previous);
      next.spec = { ...next.spec, template: change(next.spec?.template ?? {}) };
      return rolloutOf(await this.put(next, previous));
    });
  }

  patchPodTemplateAnnotations(
    namespace: string,
    deployment: string,
    annotations: Data,
  ): Promise<RolloutStatus> {
    return this.changeTemplate(namespace, deployment, (t) => ({
      ...t,
      metadata: { ...t.metadata, annotations: { ...t.metadata?.annotations, ...annotations } },
    }));
  }

  restorePodTemplate(namespace: string, deployment: string, template: unknown): Promise<RolloutStatus> {
    return this.changeTemplate(namespace, deployment, () => copy(template as Template));
  }

  readLoadBalancerAddress(namespace: string, service: string): Promise<string | undefined> {
    const status = this.get('Service', namespace, service)?.status as
      { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
    return Promise.resolve(status?.loadBalancer?.ingress?.[0]?.ip);
  }

  deleteNamespace(name: string): Promise<void> {
    return this.serial(async () => {
      if (!this.get('Namespace', undefined, name)) return;
      await removeDurably(join(this.options.dataDir, name));
      for (const [key, o] of this.objects)
        if ((o.metadata.namespace ?? o.metadata.name) === name) this.objects.delete(key);
    });
  }

  namespaceExists(name: string): Promise<boolean> {
    return Promise.resolve(this.get('Namespace', undefined, name) !== undefined);
  }
}

/** A Deployment's status mid-rollout (`old` pods of the previous template still serving) or once `ready`. */
function deploymentStatus(d: Stored, old: number, ready: boolean): Stored['status'] {
  const replicas = d.spec?.replicas ?? 1;
  const available = ready ? replicas : old;
  return {
    observedGeneration: d.metadata.generation,
    replicas: replicas + old,
    updatedReplicas: replicas,
    readyReplicas: available,
    availableReplicas: available,
    conditions: [
      { type: 'Available', status: available > 0 ? 'True' : 'False', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: ready ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated' },
    ],
  };
}

/** Refuses data keys the API server's validation refuses (a 422 there). */
function invalidKeys(kind: string, name: string, data: Record<string, unknown> | undefined): void {
  const bad = Object.keys(data ?? {}).find((k) => !DATA_KEY.test(k));
  if (bad !== undefined)
    throw new InputError(`the Kubernetes API rejected it: ${kind} "${name}" has an invalid key "${bad}"`);
}

function rolloutOf(d: Stored): RolloutStatus {
  const s = (d.status ?? {}) as Partial<Record<string, number>> & {
    conditions?: RolloutStatus['conditions'];
  };
  const template = d.spec?.template ?? {};
  return {
    generation: d.metadata.generation ?? 0,
    observedGeneration: s['observedGeneration'] ?? 0,
    replicas: d.spec?.replicas ?? 1,
    totalReplicas: s['replicas'] ?? 0,
    updatedReplicas: s['updatedReplicas'] ?? 0,
    readyReplicas: s['readyReplicas'] ?? 0,
    availableReplicas: s['availableReplicas'] ?? 0,
    conditions: s.conditions ?? [],
    templateAnnotations: { ...template.metadata?.annotations },
    template,
  };
}
