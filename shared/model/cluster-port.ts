/**
 * The cluster port: everything the domain needs from Kubernetes, in domain terms. The adapter
 * (`shared/kube/kube-cluster.ts`, @kubernetes/client-node) implements it against a real API server or
 * the AKS cluster; the sandbox beside the product implements it in memory; domain tests pass plain fakes.
 *
 * Errors: NotFoundError (404), ConflictError (409 on a stale resourceVersion or an existing object),
 * InputError (422: the API server rejected an object), UpstreamError (429/5xx/timeouts; `transient`).
 */

/** A Kubernetes object as plain JSON (what the manifest builders produce). */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly resourceVersion?: string;
    /** Set by the API server (a Date once the client library has read it, a string in JSON). */
    readonly creationTimestamp?: string | Date;
  };
  readonly [field: string]: unknown;
}

/** Identifies one object. `kind` is one of the kinds the gateway uses. */
export interface KubeObjectRef {
  readonly kind: 'Namespace' | 'ConfigMap' | 'Secret' | 'Service' | 'Deployment';
  readonly namespace?: string;
  readonly name: string;
}

/** The data of a ConfigMap or Secret (Secret values decoded to UTF-8) with its version. */
export interface VersionedData {
  readonly data: Readonly<Record<string, string>>;
  readonly resourceVersion: string;
}

/** What a rollout looks like right now. */
export interface RolloutStatus {
  readonly generation: number;
  readonly observedGeneration: number;
  /** Desired replicas (spec). */
  readonly replicas: number;
  /** Pods of all revisions that still exist (status.replicas): above `replicas` while old pods linger. */
  readonly totalReplicas: number;
  readonly updatedReplicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  /** Deployment conditions (`Progressing`, `Available`, `ReplicaFailure`) as reported. */
  readonly conditions: readonly { type: string; status: string; reason?: string; message?: string }[];
  /** Annotations of the current pod template (includes `<domain>/config-hash`). */
  readonly templateAnnotations: Readonly<Record<string, string>>;
  /** The whole pod template, opaque to the domain; handed back to `restorePodTemplate` to roll back. */
  readonly template: unknown;
}

export interface ClusterPort {
  /** Server-side apply of each object with the project's field manager (force). Idempotent. */
  apply(objects: readonly KubeObject[]): Promise<void>;
  /** Creates an object; ConflictError when it already exists (used to claim a new gateway). */
  create(object: KubeObject): Promise<void>;
  /** Deletes an object; a missing object is not an error. */
  delete(ref: KubeObjectRef): Promise<void>;
  /** Names of objects of `kind` in `namespace` (all namespaces for Namespace) matching the selector. */
  list(
    kind: KubeObjectRef['kind'],
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<KubeObject[]>;

  /** A ConfigMap's data, or undefined when it does not exist. */
  readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined>;
  /** Replaces a ConfigMap's data only if it is still at `resourceVersion`; ConflictError otherwise. */
  replaceConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    resourceVersion: string,
  ): Promise<VersionedData>;
  /**
   * Read-modify-write with a resourceVersion precondition: re-reads and calls `mutate` again on 409,
   * a bounded number of times (then ConflictError). `mutate` returning undefined means "no change".
   * NotFoundError when the ConfigMap does not exist.
   *
   * `known` is the ConfigMap as the caller last read or wrote it: the first attempt writes on it without a
   * read (the resourceVersion precondition refuses it if it is stale, and the next attempt reads). A "no
   * change" answer or a refusal (a throw) of `mutate` on `known` is asked again on a fresh read, so neither
   * ever rests on an old version.
   */
  updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Record<string, string> | undefined,
    known?: VersionedData,
  ): Promise<VersionedData>;
  /** JSON merge patch of individual keys (`null` removes a key). Keys set by different callers commute. */
  patchConfigMapData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): Promise<VersionedData>;

  /** A Secret's data (decoded), or undefined. */
  readSecret(namespace: string, name: string): Promise<VersionedData | undefined>;
  /**
   * Merge patch of individual Secret keys (values given decoded). With `resourceVersion`, only if the
   * Secret is still at that version (ConflictError otherwise): a decision made on what was read holds.
   */
  patchSecretData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<VersionedData>;

  /** Current rollout of a Deployment; NotFoundError when absent. */
  readRollout(namespace: string, deployment: string): Promise<RolloutStatus>;
  /** Merges annotations into the pod template (starts a rollout when they change). */
  patchPodTemplateAnnotations(
    namespace: string,
    deployment: string,
    annotations: Record<string, string>,
  ): Promise<RolloutStatus>;
  /** Puts back a template captured from `readRollout` (rollback). */
  restorePodTemplate(namespace: string, deployment: string, template: unknown): Promise<RolloutStatus>;

  /** First LoadBalancer ingress IP or hostname of a Service, once the cloud assigned one. */
  readLoadBalancerAddress(namespace: string, service: string): Promise<string | undefined>;

  /** Starts deleting a namespace (and so everything in it); missing is not an error. */
  deleteNamespace(name: string): Promise<void>;
  /** Whether the namespace still exists (also true while it is terminating). */
  namespaceExists(name: string): Promise<boolean>;
}

/**
 * Whether a rollout has finished, as `kubectl rollout status` decides: the controller saw the latest
 * generation, every desired replica is updated and available, and no pod of an old revision remains.
 */
export function rolloutComplete(r: RolloutStatus): boolean {
  return (
    r.observedGeneration >= r.generation &&
    r.updatedReplicas >= r.replicas &&
    r.totalReplicas <= r.updatedReplicas &&
    r.availableReplicas >= r.updatedReplicas
  );
}
