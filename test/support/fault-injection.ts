/**
 * Faults at the ports, as the adapters surface them once their own retries are spent: decorators around
 * a real ClusterPort (the embedded cluster, or the Kubernetes adapter) and a real SecretStore that, at a
 * seeded rate, answer a call with a 409 (ConflictError), a 429 or a 500 (transient UpstreamError), a
 * connection reset or a timeout (transient UpstreamError after a short stall). A fault strikes before the
 * call (nothing happened) or, for writes, after it (the write landed and its answer was lost), so the
 * use-cases meet the ambiguous outcomes they must converge from. 409s only strike writes that carry a
 * precondition (the state's read-modify-write, a replace) or a Key Vault write (a soft-deleted secret).
 */
import { ConflictError, UpstreamError } from '../../shared/errors.js';
import type {
  ClusterPort,
  KubeObject,
  KubeObjectRef,
  RolloutStatus,
  VersionedData,
} from '../../shared/model/cluster-port.js';
import type {
  CaMaterial,
  ClientBundle,
  ClientSecretInfo,
  SecretStore,
} from '../../shared/model/secret-store.js';
import type { SeededRandom } from './seeded-random.js';

export const FAULT_KINDS = ['409', '429', '500', 'reset', 'timeout'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const READ_FAULTS: readonly FaultKind[] = ['429', '500', 'reset', 'timeout'];
const WRITE_FAULTS: readonly FaultKind[] = READ_FAULTS;
const PRECONDITION_FAULTS: readonly FaultKind[] = FAULT_KINDS;

/** Decides which calls fail and how, from one seeded source; counts what it injected. */
export class FaultInjector {
  enabled = true;
  readonly counts: Record<FaultKind, number> = { '409': 0, '429': 0, '500': 0, reset: 0, timeout: 0 };
  /** Faults that struck after the call had its effect (the answer was lost). */
  afterEffect = 0;

  constructor(
    private readonly rng: SeededRandom,
    /** Probability that a call fails. */
    private readonly rate: number,
  ) {}

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  /** Runs `call`, or fails it with a fault of one of `kinds` (reads: before only). */
  async around<T>(
    what: string,
    kinds: readonly FaultKind[],
    write: boolean,
    call: () => Promise<T>,
  ): Promise<T> {
    if (!this.enabled || !this.rng.chance(this.rate)) return call();
    const kind = this.rng.pick(kinds);
    this.counts[kind] += 1;
    // A 409 or a 429 is an answer: the server did nothing. A 500, a reset or a timeout may come after the
    // server did it.
    if (write && (kind === '500' || kind === 'reset' || kind === 'timeout') && this.rng.chance(0.5)) {
      this.afterEffect += 1;
      await call();
    }
    if (kind === 'timeout') await new Promise((r) => setTimeout(r, this.rng.int(1, 20)));
    throw faultError(kind, what);
  }
}

function faultError(kind: FaultKind, what: string): Error {
  switch (kind) {
    case '409':
      return new ConflictError(`${what}: injected 409 Conflict`);
    case '429':
      return new UpstreamError(`${what}: injected 429 Too Many Requests`, {
        transient: true,
        retryAfterSeconds: 1,
      });
    case '500':
      return new UpstreamError(`${what}: injected 500 Internal Server Error`, { transient: true });
    case 'reset':
      return new UpstreamError(`${what}: injected read ECONNRESET`, { transient: true });
    case 'timeout':
      return new UpstreamError(`${what}: injected timeout, no answer`, { transient: true });
  }
}

/** A ClusterPort whose calls fail as the injector decides. */
export class FaultyCluster implements ClusterPort {
  constructor(
    private readonly inner: ClusterPort,
    private readonly faults: FaultInjector,
  ) {}

  private read<T>(what: string, call: () => Promise<T>): Promise<T> {
    return this.faults.around(what, READ_FAULTS, false, call);
  }

  private write<T>(what: string, call: () => Promise<T>, kinds = WRITE_FAULTS): Promise<T> {
    return this.faults.around(what, kinds, true, call);
  }

  apply(objects: readonly KubeObject[]): Promise<void> {
    return this.write('apply', () => this.inner.apply(objects));
  }
  create(object: KubeObject): Promise<void> {
    return this.write('create', () => this.inner.create(object));
  }
  delete(ref: KubeObjectRef): Promise<void> {
    return this.write('delete', () => this.inner.delete(ref));
  }
  list(
    kind: KubeObjectRef['kind'],
    namespace: string | undefined,
    labelSelector: string,
  ): Promise<KubeObject[]> {
    return this.read('list', () => this.inner.list(kind, namespace, labelSelector));
  }
  readConfigMap(namespace: string, name: string): Promise<VersionedData | undefined> {
    return this.read('readConfigMap', () => this.inner.readConfigMap(namespace, name));
  }
  replaceConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    resourceVersion: string,
  ): Promise<VersionedData> {
    return this.write(
      'replaceConfigMap',
      () => this.inner.replaceConfigMap(namespace, name, data, resourceVersion),
      PRECONDITION_FAULTS,
    );
  }
  updateConfigMap(
    namespace: string,
    name: string,
    mutate: (current: VersionedData) => Record<string, string> | undefined,
    known?: VersionedData,
  ): Promise<VersionedData> {
    return this.write(
      'updateConfigMap',
      () => this.inner.updateConfigMap(namespace, name, mutate, known),
      PRECONDITION_FAULTS,
    );
  }
  patchConfigMapData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
  ): Promise<VersionedData> {
    return this.write('patchConfigMapData', () => this.inner.patchConfigMapData(namespace, name, patch));
  }
  readSecret(namespace: string, name: string): Promise<VersionedData | undefined> {
    return this.read('readSecret', () => this.inner.readSecret(namespace, name));
  }
  patchSecretData(
    namespace: string,
    name: string,
    patch: Record<string, string | null>,
    resourceVersion?: string,
  ): Promise<VersionedData> {
    return this.write('patchSecretData', () =>
      this.inner.patchSecretData(namespace, name, patch, resourceVersion),
    );
  }
  readRollout(namespace: string, deployment: string): Promise<RolloutStatus> {
    return this.read('readRollout', () => this.inner.readRollout(namespace, deployment));
  }
  patchPodTemplateAnnotations(
    namespace: string,
    deployment: string,
    annotations: Record<string, string>,
  ): Promise<RolloutStatus> {
    return this.write('patchPodTemplateAnnotations', () =>
      this.inner.patchPodTemplateAnnotations(namespace, deployment, annotations),
    );
  }
  restorePodTemplate(namespace: string, deployment: string, template: unknown): Promise<RolloutStatus> {
    return this.write('restorePodTemplate', () =>
      this.inner.restorePodTemplate(namespace, deployment, template),
    );
  }
  readLoadBalancerAddress(namespace: string, service: string): Promise<string | undefined> {
    return this.read('readLoadBalancerAddress', () => this.inner.readLoadBalancerAddress(namespace, service));
  }
  deleteNamespace(name: string): Promise<void> {
    return this.write('deleteNamespace', () => this.inner.deleteNamespace(name));
  }
  namespaceExists(name: string): Promise<boolean> {
    return this.read('namespaceExists', () => this.inner.namespaceExists(name));
  }
}

/** A SecretStore whose calls fail as the injector decides (409: Key Vault's soft-deleted-secret conflict). */
export class FaultySecretStore implements SecretStore {
  constructor(
    private readonly inner: SecretStore,
    private readonly faults: FaultInjector,
  ) {}

  private read<T>(what: string, call: () => Promise<T>): Promise<T> {
    return this.faults.around(what, READ_FAULTS, false, call);
  }

  private write<T>(what: string, call: () => Promise<T>): Promise<T> {
    return this.faults.around(what, PRECONDITION_FAULTS, true, call);
  }

  putCa(gateway: string, ca: CaMaterial): Promise<void> {
    return this.write('putCa', () => this.inner.putCa(gateway, ca));
  }
  getCa(gateway: string): Promise<CaMaterial | undefined> {
    return this.read('getCa', () => this.inner.getCa(gateway));
  }
  putClient(
    gateway: string,
    client: string,
    bundle: ClientBundle,
    info: { serial: string; notAfter: string },
  ): Promise<void> {
    return this.write('putClient', () => this.inner.putClient(gateway, client, bundle, info));
  }
  getClient(gateway: string, client: string): Promise<ClientBundle | undefined> {
    return this.read('getClient', () => this.inner.getClient(gateway, client));
  }
  revokeClient(gateway: string, client: string): Promise<void> {
    return this.write('revokeClient', () => this.inner.revokeClient(gateway, client));
  }
  listClients(gateway: string, clients: readonly string[]): Promise<ClientSecretInfo[]> {
    return this.read('listClients', () => this.inner.listClients(gateway, clients));
  }
  deleteGateway(gateway: string, clients: readonly string[]): Promise<void> {
    return this.write('deleteGateway', () => this.inner.deleteGateway(gateway, clients));
  }
}
