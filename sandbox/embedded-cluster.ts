/**
 * The sandbox's cluster: the ClusterPort held in memory, with no Kubernetes anywhere. It keeps the
 * promises the API server makes to the adapter (a create of an existing object and a write at a stale
 * resourceVersion are 409s, a missing object or namespace is a 404, an invalid name or data key is a 422,
 * a write that changes nothing bumps no version), and plays the parts of a cluster the gateway waits for:
 * a Deployment whose pod template changes starts a rollout that becomes ready after `delayMs` (or never,
 * after `failNewPods`), and a LoadBalancer Service gets an address after `delayMs`.
 *
 * Every object is one YAML file, `<dataDir>/<namespace>/<kind>-<name>.yaml` (a Namespace in its own
 * folder), exactly what would go to a cluster: that is both what a user reads and what a restart loads.
 * Writes run one at a time, and each is on disk (durable-files.ts) before it is visible or answered.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
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
import { CONFIG_KEYS, OBJECTS, isCcdObjectName } from '../shared/model/names.js';
import { makeDirectory, removeDurably, writeDurably } from '../shared/secrets/durable-files.js';
import { reportsOn, simulatedPodReport } from './simulated-pod-report.js';

export interface EmbeddedClusterOptions {
  readonly dataDir: string;
  /** How long a new pod takes to become ready, and the cloud to give a LoadBalancer its address; 1 s. */
  readonly delayMs?: number | undefined;
}

type Data = Record<string, string>;
type Patch = Record<string, string | null>;
type Counts = 'observedGeneration' | 'replicas' | 'updatedReplicas' | 'readyReplicas' | 'availableReplicas';
interface Template {
  metadata?: { annotations?: Data };
}
interface Stored extends KubeObject {
  metadata: KubeObject['metadata'] & { resourceVersion: string; generation?: number };
  data?: Data;
  spec?: { replicas?: number; type?: string; template?: Template };
  status?: Partial<Record<Counts, number>> & { loadBalancer?: { ingress: { ip: string }[] } };
}

/** The API server's rules for object names (here also path segments) and ConfigMap and Secret keys. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const recode = (data: Patch, from: BufferEncoding, to: BufferEncoding) =>
  Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, v === null ? null : Buffer.from(v, from).toString(to)]),
  );
const dataOf = (o: Stored): VersionedData => ({
  data: o.kind === 'Secret' ? (recode(o.data ?? {}, 'base64', 'utf8') as Data) : { ...o.data },
  resourceVersion: o.metadata.resourceVersion,
});
/** A documentation address (RFC 5737 TEST-NET-3) from the Service's name, the same after a restart. */
const addressOf = ({ metadata }: Stored) => {
  const byte = createHash('sha256').update(`${metadata.namespace}/${metadata.name}`).digest()[0] ?? 0;
  return `203.0.113.${(byte % 254) + 1}`;
};

export class EmbeddedCluster implements ClusterPort {
  /** Every object, by the path of its file. */
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
    for (const file of await readdir(options.dataDir, { recursive: true })) {
      if (file.endsWith('.tmp')) await rm(join(options.dataDir, file), { force: true });
      if (!file.endsWith('.yaml')) continue;
      const o = parse(await readFile(join(options.dataDir, file), 'utf8')) as Stored;
      cluster.objects.set(cluster.fileOf(o.kind, o.metadata.namespace, o.metadata.name), o);
      cluster.version = Math.max(cluster.version, Number(o.metadata.resourceVersion));
    }
    for (const o of cluster.objects.values()) cluster.schedule(o);
    return cluster;
  }

  /** Pods started from now on never become ready (a roll to roll back), until called with false. */
  failNewPods(fail = true): void {
    this.failing = fail;
  }

  /** Where the YAML file of an object is. */
  fileOf(kind: string, namespace: string | undefined, name: string): string {
    return join(this.options.dataDir, namespace ?? name, `${kind.toLowerCase()}-${name}.yaml`);
  }

  /** Stops the simulated controllers and waits for the last write. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.writes;
  }

  private get(kind: string, namespace: string | undefined, name: string): Stored | undefined {
    return this.objects.get(this.fileOf(kind, namespace, name));
  }

  private need(kind: KubeObjectRef['kind'], namespace: string, name: string): Stored {
    const o = this.get(kind, namespace, name);
    if (!o) throw new NotFoundError(`${kind} ${namespace}/${name} not found`);
    return o;
  }

  /** Runs writes one at a time, so each decides on the state the previous one left. */
  private serial<T>(write: () => Promise<T>): Promise<T> {
    const result = this.writes.then(write);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /**
   * Every write: refuses what the API server refuses, moves a Deployment with a new spec to its next
   * generation, and stores `next` (a copy, never mutated afterwards) unless it equals `previous`.
   */
  private async put(next: Stored, previous: Stored | undefined): Promise<Stored> {
    const { kind, metadata } = next;
    const names = [metadata.name, metadata.namespace ?? metadata.name];
    const bad =
      names.find((n) => !NAME.test(n)) ?? Object.keys(next.data ?? {}).find((k) => !DATA_KEY.test(k));
    if (bad !== undefined)
      throw new InputError(
        `the Kubernetes API rejected it: ${kind} "${metadata.name}": invalid name or key "${bad}"`,
      );
    if (metadata.namespace !== undefined && !this.get('Namespace', undefined, metadata.namespace))
      throw new NotFoundError(`namespaces "${metadata.namespace}" not found`);
    if (previous?.immutable === true && !isDeepStrictEqual(next.data, previous.data))
      throw new InputError(
        `the Kubernetes API rejected it: ${kind} "${metadata.name}": data: Forbidden: field is immutable when \`immutable\` is set`,
      );
    if (kind === 'Deployment' && !isDeepStrictEqual(next.spec, previous?.spec)) {
      metadata.generation = (previous?.metadata.generation ?? 0) + 1;
      if (!isDeepStrictEqual(next.spec?.template, previous?.spec?.template))
        // A new ReplicaSet's pod is starting: the old pod (if any) serves until it is ready.
        next.status = deploymentStatus(next, previous ? (next.spec?.replicas ?? 1) : 0);
    }
    if (previous && isDeepStrictEqual(next, previous)) return previous;
    metadata.resourceVersion = String((this.version += 1));
    const file = this.fileOf(kind, metadata.namespace, metadata.name);
    await writeDurably(file, stringify(next));
    this.objects.set(file, next);
    this.schedule(next);
    if (metadata.namespace !== undefined && reportsOn(kind, metadata.name, next.data))
      this.simulatePodReport(metadata.namespace);
    return next;
  }

  /** Writes the `status` report the gateway's pod would, after the current write (simulated-pod-report.ts). */
  private simulatePodReport(namespace: string): void {
    void this.serial(async () => {
      const status = this.get('ConfigMap', namespace, OBJECTS.status);
      if (!status || this.closed) return;
      const read = (kind: 'ConfigMap' | 'Secret', name: string) => {
        const o = this.get(kind, namespace, name);
        return o ? dataOf(o).data : {};
      };
      const data = simulatedPodReport({
        mappingsFile: read('ConfigMap', OBJECTS.portMappings)[CONFIG_KEYS.mappings],
        // Every CCD ConfigMap of the namespace, whatever the gateway's layout: the pod's one client-config-dir.
        ccd: Object.assign(
          {},
          ...[...this.objects.values()]
            .filter(
              (o) =>
                o.kind === 'ConfigMap' &&
                o.metadata.namespace === namespace &&
                isCcdObjectName(o.metadata.name),
            )
            .map((o) => dataOf(o).data),
        ) as Record<string, string>,
        serverPki: read('Secret', OBJECTS.serverPki),
        templateAnnotations:
          this.get('Deployment', namespace, OBJECTS.deployment)?.spec?.template?.metadata?.annotations ?? {},
        previous: status.data ?? {},
        now: new Date(),
      });
      await this.put({ ...copy(status), data }, status);
    }).catch(() => undefined);
  }

  /** The simulated controllers' next step for `o`: a rollout to finish, an address to assign. */
  private schedule(o: Stored): void {
    const { kind, metadata } = o;
    const rolling = kind === 'Deployment' && !rolloutComplete(rolloutOf(o));
    if (this.closed || !(rolling || (o.spec?.type === 'LoadBalancer' && !o.status?.loadBalancer))) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.serial(async () => {
        const current = this.get(kind, metadata.namespace, metadata.name);
        // A pod that is not ready while failures are asked for never becomes ready.
        if (!current || this.closed || (rolling && this.failing)) return;
        if (current.metadata.generation !== metadata.generation) return;
        const status = rolling
          ? deploymentStatus(current, 0, true)
          : { loadBalancer: { ingress: [{ ip: addressOf(current) }] } };
        await this.put({ ...copy(current), status }, current);
      }).catch(() => undefined);
    }, this.options.delayMs ?? 1000);
    this.timers.add(timer);
  }

  apply(objects: readonly KubeObject[]): Promise<void> {
    return this.serial(async () => {
      for (const o of objects) {
        const previous = this.get(o.kind, o.metadata.namespace, o.metadata.name);
        const next = copy(o) as Stored;
        const { resourceVersion = '', generation } = previous?.metadata ?? {};
        next.metadata = { ...next.metadata, resourceVersion, ...(generation ? { generation } : {}) };
        if (previous?.status) next.status = copy(previous.status);
        // Annotations the roll set on the pod template belong to another field manager: they stay.
        const rolled = previous?.spec?.template?.metadata?.annotations;
        const template = next.spec?.template;
        if (rolled && template)
          template.metadata = {
            ...template.metadata,
            annotations: { ...rolled, ...template.metadata?.annotations },
          };
        await this.put(next, previous);
      }
    });
  }

  create(object: KubeObject): Promise<void> {
    return this.serial(async () => {
      const { kind, metadata } = object;
      if (this.get(kind, metadata.namespace, metadata.name))
        throw new ConflictError(`${kind} ${metadata.namespace ?? ''}/${metadata.name} already exists`);
      await this.put(
        {
          ...copy(object),
          metadata: { ...copy(metadata), resourceVersion: '', creationTimestamp: new Date().toISOString() },
        },
        undefined,
      );
    });
  }

  delete({ kind, namespace, name }: KubeObjectRef): Promise<void> {
    return this.serial(async () => {
      const file = this.fileOf(kind, namespace, name);
      if (!this.objects.has(file)) return;
      // A Namespace is its folder: deleting it deletes everything in it.
      const path = kind === 'Namespace' ? dirname(file) : file;
      await removeDurably(path);
      for (const key of this.objects.keys())
        if (key === path || key.startsWith(`${path}${sep}`)) this.objects.delete(key);
    });
  }

  list(
    kind: KubeObjectRef['kind'],
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<KubeObject[]> {
    const [label = '', value] = labelSelector.split('=');
    const matches = ({ kind: k, metadata: { namespace: ns, labels = {} } }: Stored) =>
      k === kind &&
      (namespace === undefined || ns === namespace) &&
      (label === '' || (value === undefined ? label in labels : labels[label] === value));
    return Promise.resolve([...this.objects.values()].filter(matches).map(copy));
  }

  /** `patch` merged into the data (or replacing it), at `resourceVersion` when one is given. */
  private async writeData(
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    patch: Patch,
    { resourceVersion, replace = false }: { resourceVersion?: string | undefined; replace?: boolean } = {},
  ): Promise<VersionedData> {
    const previous = this.need(kind, namespace, name);
    if (resourceVersion !== undefined && resourceVersion !== previous.metadata.resourceVersion)
      throw new ConflictError(
        `${kind} ${namespace}/${name} was modified: resourceVersion ${previous.metadata.resourceVersion}, not ${resourceVersion}`,
      );
    const merged = {
      ...(replace ? {} : previous.data),
      ...(kind === 'Secret' ? recode(patch, 'utf8', 'base64') : patch),
    };
    const data = Object.fromEntries(
      Object.entries(merged).filter((e): e is [string, string] => e[1] !== null),
    );
    return dataOf(await this.put({ ...copy(previous), data }, previous));
  }

  readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined> {
    const o = this.get('ConfigMap', namespace, name);
    return Promise.resolve(o && dataOf(o));
  }

  replaceConfigMap(
    namespace: string,
    name: string,
    data: Data,
    resourceVersion: string,
  ): Promise<VersionedData> {
    return this.serial(() =>
      this.writeData('ConfigMap', namespace, name, data, { resourceVersion, replace: true }),
    );
  }

  /** Writes run one at a time, so the read, `mutate` and the write cannot be raced: no 409 to retry. */
  updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Data | undefined,
  ): Promise<VersionedData> {
    return this.serial(async () => {
      const current = dataOf(this.need('ConfigMap', namespace, name));
      const next = mutate(current);
      return next ? this.writeData('ConfigMap', namespace, name, next, { replace: true }) : current;
    });
  }

  patchConfigMapData(namespace: string, name: string, patch: Patch): Promise<VersionedData> {
    return this.serial(() => this.writeData('ConfigMap', namespace, name, patch));
  }

  readSecret(namespace: string, name: string): Promise<VersionedData | undefined> {
    const o = this.get('Secret', namespace, name);
    return Promise.resolve(o && dataOf(o));
  }

  patchSecretData(
    namespace: string,
    name: string,
    patch: Patch,
    resourceVersion?: string,
  ): Promise<VersionedData> {
    return this.serial(() => this.writeData('Secret', namespace, name, patch, { resourceVersion }));
  }

  readRollout(namespace: string, deployment: string): Promise<RolloutStatus> {
    return Promise.resolve().then(() => rolloutOf(this.need('Deployment', namespace, deployment)));
  }

  private changeTemplate(namespace: string, deployment: string, change: (t: Template) => Template) {
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
    return Promise.resolve(this.get('Service', namespace, service)?.status?.loadBalancer?.ingress[0]?.ip);
  }

  deleteNamespace(name: string): Promise<void> {
    return this.delete({ kind: 'Namespace', name });
  }

  namespaceExists(name: string): Promise<boolean> {
    return Promise.resolve(this.get('Namespace', undefined, name) !== undefined);
  }
}

/** A Deployment's status while a new pod starts (`old` pods still serving), or once it is ready. */
function deploymentStatus(d: Stored, old: number, ready = false): Stored['status'] {
  const replicas = d.spec?.replicas ?? 1;
  const available = ready ? replicas : old;
  return {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: replicas + old,
    updatedReplicas: replicas,
    readyReplicas: available,
    availableReplicas: available,
  };
}

function rolloutOf({ metadata, spec, status = {} }: Stored): RolloutStatus {
  const template = spec?.template ?? {};
  return {
    generation: metadata.generation ?? 0,
    observedGeneration: status.observedGeneration ?? 0,
    replicas: spec?.replicas ?? 1,
    totalReplicas: status.replicas ?? 0,
    updatedReplicas: status.updatedReplicas ?? 0,
    readyReplicas: status.readyReplicas ?? 0,
    availableReplicas: status.availableReplicas ?? 0,
    conditions: [],
    templateAnnotations: { ...template.metadata?.annotations },
    template,
  };
}
