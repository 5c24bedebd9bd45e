/**
 * A plain in-memory ClusterPort for domain tests: ConfigMaps and Secrets with resourceVersions and real
 * 409 semantics, applied objects kept as JSON, rollouts that complete at once. It also records every call
 * so tests can assert what a use-case did (and that a rejected request did nothing).
 */
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import type {
  ClusterPort,
  KubeObject,
  KubeObjectRef,
  RolloutStatus,
  VersionedData,
} from '../../shared/model/cluster-port.js';

type Key = string;
const keyOf = (kind: string, namespace: string | undefined, name: string): Key =>
  `${kind}/${namespace ?? ''}/${name}`;

export class MemoryCluster implements ClusterPort {
  readonly objects = new Map<Key, KubeObject>();
  readonly calls: string[] = [];
  private version = 1;
  loadBalancerAddress: string | undefined = '203.0.113.10';
  /** Called before each updateConfigMap write: lets a test interleave a concurrent writer. */
  beforeConfigMapWrite?: (namespace: string, name: string) => Promise<void> | void;

  private nextVersion(): string {
    this.version += 1;
    return String(this.version);
  }

  private put(object: KubeObject): KubeObject {
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: this.nextVersion() } };
    this.objects.set(keyOf(object.kind, object.metadata.namespace, object.metadata.name), stored);
    return stored;
  }

  private get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(keyOf(kind, namespace, name));
  }

  /** A deterministic dump of everything, for "changed nothing" assertions. */
  snapshot(): string {
    return JSON.stringify([...this.objects.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  apply(objects: readonly KubeObject[]): Promise<void> {
    this.calls.push(`apply ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(',')}`);
    for (const o of objects) {
      const existing = this.get(o.kind, o.metadata.namespace, o.metadata.name);
      if (
        existing &&
        JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: undefined } }) ===
          JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } })
      )
        continue;
      this.put(o);
    }
    return Promise.resolve();
  }

  create(object: KubeObject): Promise<void> {
    this.calls.push(`create ${object.kind}/${object.metadata.name}`);
    if (this.get(object.kind, object.metadata.namespace, object.metadata.name))
      return Promise.reject(new ConflictError(`${object.kind} ${object.metadata.name} already exists`));
    this.put({
      ...object,
      metadata: {
        ...object.metadata,
        creationTimestamp: object.metadata.creationTimestamp ?? new Date().toISOString(),
      },
    });
    return Promise.resolve();
  }

  delete(ref: KubeObjectRef): Promise<void> {
    this.calls.push(`delete ${ref.kind}/${ref.name}`);
    this.objects.delete(keyOf(ref.kind, ref.namespace, ref.name));
    return Promise.resolve();
  }

  list(
    kind: KubeObjectRef['kind'],
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<KubeObject[]> {
    const [key, value] = labelSelector.split('=');
    return Promise.resolve(
      [...this.objects.values()].filter(
        (o) =>
          o.kind === kind &&
          (namespace === undefined || o.metadata.namespace === namespace) &&
          (key === '' ||
            (key !== undefined &&
              o.metadata.labels?.[key] !== undefined &&
              (value === undefined || o.metadata.labels[key] === value))),
      ),
    );
  }

  private data(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): VersionedData | undefined {
    const o = this.get(kind, namespace, name);
    if (!o) return undefined;
    const raw = (o['data'] as Record<string, string> | undefined) ?? {};
    // Secrets hold base64 on the wire; the port speaks decoded values.
    const decoded =
      kind === 'Secret'
        ? Object.fromEntries(
            Object.entries(raw).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
          )
        : raw;
    return {
      data: { ...decoded },
      resourceVersion: o.metadata.resourceVersion ?? '0',
    };
  }

  private writeData(
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    data: Record<string, string>,
  ): VersionedData {
    const o = this.get(kind, namespace, name);
    if (!o) throw new NotFoundError(`${kind} ${namespace}/${name} not found`);
    const encoded =
      kind === 'Secret'
        ? Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
          )
        : data;
    const stored = this.put({ ...o, data: encoded });
    return { data, resourceVersion: stored.metadata.resourceVersion ?? '0' };
  }

  readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined> {
    return Promise.resolve(this.data('ConfigMap', namespace, name));
  }

  replaceConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    resourceVersion: string,
  ): Promise<VersionedData> {
    const current = this.data('ConfigMap', namespace, name);
    if (!current) return Promise.reject(new NotFoundError(`ConfigMap ${namespace}/${name} not found`));
    if (current.resourceVersion !== resourceVersion)
      return Promise.reject(new ConflictError(`ConfigMap ${namespace}/${name} was modified`));
    return Promise.resolve(this.writeData('ConfigMap', namespace, name, data));
  }

  async updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Record<string, string> | undefined,
    known?: VersionedData,
  ): Promise<VersionedData> {
    // As the adapter: a first write on what the caller holds, a read after a conflict, "no change" and a
    // refusal asked again on a fresh read. As many attempts as the adapter allows: every concurrent writer lands.
    let held = known;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const current = held ?? this.data('ConfigMap', namespace, name);
      const fromHeld = held !== undefined;
      held = undefined;
      if (!current) throw new NotFoundError(`ConfigMap ${namespace}/${name} not found`);
      let next: Record<string, string> | undefined;
      try {
        next = mutate(current);
      } catch (e: unknown) {
        if (!fromHeld) throw e;
        continue;
      }
      if (!next && fromHeld) continue;
      if (!next) return current;
      await this.beforeConfigMapWrite?.(namespace, name);
      try {
        return await this.replaceConfigMap(namespace, name, next, current.resourceVersion);
      } catch (e: unknown) {
        if (!(e instanceof ConflictError)) throw e;
      }
    }
    throw new ConflictError(`ConfigMap ${namespace}/${name}: too many concurrent updates`);
  }

  private patchData(
    kind: 'ConfigMap' | 'Secret',
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): VersionedData {
    const current = this.data(kind, namespace, name);
    if (!current) throw new NotFoundError(`${kind} ${namespace}/${name} not found`);
    const data: Record<string, string> = { ...current.data };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete data[k];
      else data[k] = v;
    }
    return this.writeData(kind, namespace, name, data);
  }

  patchConfigMapData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): Promise<VersionedData> {
    this.calls.push(`patch ConfigMap/${name}`);
    return Promise.resolve(this.patchData('ConfigMap', namespace, name, patch));
  }

  readSecret(namespace: string, name: string): Promise<VersionedData | undefined> {
    return Promise.resolve(this.data('Secret', namespace, name));
  }

  patchSecretData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<VersionedData> {
    this.calls.push(`patch Secret/${name}`);
    const current = this.data('Secret', namespace, name);
    if (resourceVersion !== undefined && current && current.resourceVersion !== resourceVersion)
      return Promise.reject(new ConflictError(`Secret ${namespace}/${name} was modified`));
    return Promise.resolve(this.patchData('Secret', namespace, name, patch));
  }

  private deployment(namespace: string, name: string): KubeObject {
    const d = this.get('Deployment', namespace, name);
    if (!d) throw new NotFoundError(`Deployment ${namespace}/${name} not found`);
    return d;
  }

  readRollout(namespace: string, deployment: string): Promise<RolloutStatus> {
    try {
      const d = this.deployment(namespace, deployment);
      const template = (d['spec'] as { template: { metadata?: { annotations?: Record<string, string> } } })
        .template;
      return Promise.resolve({
        generation: 1,
        observedGeneration: 1,
        replicas: 1,
        totalReplicas: 1,
        updatedReplicas: 1,
        readyReplicas: 1,
        availableReplicas: 1,
        conditions: [{ type: 'Available', status: 'True' }],
        templateAnnotations: { ...template.metadata?.annotations },
        template,
      });
    } catch (e: unknown) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async patchPodTemplateAnnotations(
    namespace: string,
    deployment: string,
    annotations: Record<string, string>,
  ): Promise<RolloutStatus> {
    const d = this.deployment(namespace, deployment);
    const spec = d['spec'] as { template: { metadata?: { annotations?: Record<string, string> } } };
    this.put({
      ...d,
      spec: {
        ...spec,
        template: {
          ...spec.template,
          metadata: {
            ...spec.template.metadata,
            annotations: { ...spec.template.metadata?.annotations, ...annotations },
          },
        },
      },
    });
    return this.readRollout(namespace, deployment);
  }

  async restorePodTemplate(namespace: string, deployment: string, template: unknown): Promise<RolloutStatus> {
    const d = this.deployment(namespace, deployment);
    this.put({ ...d, spec: { ...(d['spec'] as object), template } });
    return this.readRollout(namespace, deployment);
  }

  readLoadBalancerAddress(namespace: string, service: string): Promise<string | undefined> {
    return Promise.resolve(this.get('Service', namespace, service) ? this.loadBalancerAddress : undefined);
  }

  deleteNamespace(name: string): Promise<void> {
    this.calls.push(`delete Namespace/${name}`);
    for (const [k, o] of this.objects)
      if (o.metadata.namespace === name || (o.kind === 'Namespace' && o.metadata.name === name))
        this.objects.delete(k);
    return Promise.resolve();
  }

  namespaceExists(name: string): Promise<boolean> {
    return Promise.resolve(this.objects.has(keyOf('Namespace', undefined, name)));
  }
}
