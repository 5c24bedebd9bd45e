/**
 * The composition root: the only place that constructs clients (Kubernetes, Key Vault, ARM, Durable
 * Functions), lazily and once. Handlers receive an `ApiContext` and never construct anything themselves.
 *
 * The heavy SDKs (@kubernetes/client-node, @azure/identity, @azure/arm-containerservice,
 * @azure/keyvault-secrets) and the adapters over them are loaded by dynamic `import()` in the factories
 * below, on the first request that needs them. So are the use-cases (with node-forge, the renderers and
 * kubernetes-models' manifests) and the Durable operations runner: the module graph the Functions host
 * loads at start is the triggers, the route table's schemas and the two Functions libraries, close to a
 * bare app's.
 *
 * The Azure Functions host uses it as it is (`functions/index.ts` builds one; operations run as Durable
 * Functions orchestrations). A tool beside the product (the sandbox) hands in its own cluster, cluster
 * description and operations runner; the composition knows nothing else about it.
 */
import { resolve } from 'node:path';
import type { InvocationContext } from '@azure/functions';
import type { TokenCredential } from '@azure/identity';
import type { ContainerServiceClient } from '@azure/arm-containerservice';
import type { KubeConfig } from '@kubernetes/client-node';
import { StaticClusterInfo } from './aks/static-cluster-info.js';
import type { ClusterInfoSource } from './model/cluster-info.js';
import type { Config } from './config.js';
import { loadConfig } from './config.js';
import { InternalError } from './errors.js';
import type { GatewayUseCases } from './gateways/api-use-cases.js';
import type { GatewayDeps } from './gateways/deps.js';
import type { ApiContext } from './http/route.js';
import type { ClusterPort } from './model/cluster-port.js';
import type { Logger } from './logging.js';
import { consoleLogger, contextLogger } from './logging.js';
import df from 'durable-functions';
import { deferredCluster, deferredPort } from './kube/deferred-cluster.js';
import { timingFrom } from './operations/timing.js';
import type { OperationsPort } from './model/operations-port.js';
import { DirectorySecretStore } from './secrets/directory-store.js';
import type { SecretStore } from './model/secret-store.js';

/** Field manager of every server-side apply this API makes. */
export const FIELD_MANAGER = 'aks-vpn-gateways';

export interface CompositionOptions {
  /** Parsed settings; default `loadConfig(process.env)` on first use. */
  readonly config?: Config | undefined;
  /** A cluster built by the caller; default: the adapter for KUBE_TARGET (`kubeconfig` or `aks`). */
  readonly cluster?: ClusterPort | undefined;
  /** The cluster's self-description; default: AKS via ARM for `aks`, DEFAULT_ROUTES otherwise. */
  readonly clusterInfo?: ClusterInfoSource | undefined;
  /**
   * Runs long-running operations, given the dependencies their activities use outside any invocation;
   * default: Durable Functions orchestrations through the invocation's durable client.
   */
  readonly operations?: ((background: () => GatewayDeps) => OperationsPort) | undefined;
  /** Logger for work outside an invocation; default console JSON lines. */
  readonly log?: Logger | undefined;
  readonly clock?: (() => Date) | undefined;
}

/** The composition as hosts and tests see it: an ApiContext that can describe and close itself. */
export interface Composition extends ApiContext {
  /** One line per backend it built (not those handed in), for a start-up banner. */
  describeBackends(): string[];
  /** Stops background work (the AKS token refresh). */
  close(): Promise<void>;
}

function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

/** A KubeCluster over the kubeconfig `load` fills, both modules loaded on first use. */
async function kubeCluster(load: (kc: KubeConfig) => void): Promise<ClusterPort> {
  const [{ KubeConfig }, { KubeCluster }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('./kube/kube-cluster.js'),
  ]);
  const kubeConfig = new KubeConfig();
  load(kubeConfig);
  return new KubeCluster({ kubeConfig, fieldManager: FIELD_MANAGER });
}

/** Delegates to the port `get` builds on first use, so requests that start no work never build it. */
function lazyOperations(get: () => Promise<OperationsPort>): OperationsPort {
  const port = once(get);
  return {
    startRoll: (request) => port().then((p) => p.startRoll(request)),
    resumeRoll: (gateway) => port().then((p) => p.resumeRoll(gateway)),
    startLiveApply: (gateway) => port().then((p) => p.startLiveApply(gateway)),
    startProvision: (gateway) => port().then((p) => p.startProvision(gateway)),
    startDeletion: (gateway, id) => port().then((p) => p.startDeletion(gateway, id)),
    getOperation: (id) => port().then((p) => p.getOperation(id)),
  };
}

/**
 * The use-case table, its module loaded on the first call of any use-case (every use-case is async, so a
 * function that first awaits the module has the same type). The host's start, and requests that reach no
 * use-case (health, OpenAPI), never load it.
 */
function lazyUseCases(): GatewayUseCases {
  const table = once(async () => (await import('./gateways/api-use-cases.js')).USE_CASES);
  const calls = new Map<string, unknown>();
  return new Proxy({} as GatewayUseCases, {
    get(_target, name) {
      // Only use-case names: anything else (`then`, symbols a test runner probes) is absent, as on a table.
      if (typeof name !== 'string' || name === 'then') return undefined;
      if (!calls.has(name))
        calls.set(name, async (...args: unknown[]) => {
          const useCase: unknown = (await table())[name as keyof GatewayUseCases];
          if (typeof useCase !== 'function') throw new InternalError(`no use-case ${name}`);
          return (useCase as (...input: unknown[]) => Promise<unknown>)(...args);
        });
      return calls.get(name);
    },
  });
}

/** Builds the composition root. Nothing is constructed until a request needs it. */
export function createComposition(options: CompositionOptions = {}): Composition {
  const config = once(() => options.config ?? loadConfig());
  const log = options.log ?? consoleLogger({ component: 'aks-vpn-gateways' });
  const clock = options.clock ?? (() => new Date());
  /** Stops background work (the AKS token refresh) when the composition closes. */
  const closing = new AbortController();

  /** Entra identity of the app (managed identity in Azure, developer credentials locally). */
  const azureCredential = once(async (): Promise<TokenCredential> => {
    const { DefaultAzureCredential } = await import('@azure/identity');
    return new DefaultAzureCredential();
  });
  const armClient = once(async (): Promise<ContainerServiceClient> => {
    const [{ ContainerServiceClient }, credential] = await Promise.all([
      import('@azure/arm-containerservice'),
      azureCredential(),
    ]);
    return new ContainerServiceClient(credential, config().AZURE_SUBSCRIPTION_ID ?? '', {
      endpoint: config().ARM_ENDPOINT,
    });
  });

  const cluster = once((): ClusterPort => {
    const c = config();
    if (options.cluster) return options.cluster;
    switch (c.KUBE_TARGET) {
      case 'sandbox':
        throw new InternalError('KUBE_TARGET=sandbox is the embedded cluster of the sandbox (npm start)');
      case 'kubeconfig':
        return deferredCluster(() => kubeCluster((kc) => kc.loadFromFile(c.KUBECONFIG ?? '')));
      case 'aks':
        return deferredCluster(async () => {
          const [{ aksKubeConfig }, { KubeCluster }, client, credential] = await Promise.all([
            import('./aks/aks-cluster.js'),
            import('./kube/kube-cluster.js'),
            armClient(),
            azureCredential(),
          ]);
          const kubeConfig = await aksKubeConfig({
            client,
            resourceGroup: c.AKS_RESOURCE_GROUP ?? '',
            clusterName: c.AKS_CLUSTER_NAME ?? '',
            credential,
            serverAppId: c.AKS_SERVER_APP_ID,
            log,
            signal: closing.signal,
          });
          // The token refresh updates this very KubeConfig in place: the adapter must hold it, not a copy.
          return new KubeCluster({ kubeConfig, fieldManager: FIELD_MANAGER });
        });
    }
  });

  const secrets = once((): SecretStore => {
    const c = config();
    return c.SECRET_STORE === 'keyvault'
      ? deferredPort<SecretStore>(async () => {
          const [{ KeyVaultSecretStore }, credential] = await Promise.all([
            import('./secrets/key-vault-store.js'),
            azureCredential(),
          ]);
          return new KeyVaultSecretStore({ vaultUrl: c.KEY_VAULT_URL ?? '', credential });
        })
      : new DirectorySecretStore({ directory: resolve(c.SECRETS_DIR) });
  });

  const clusterInfo = once((): ClusterInfoSource => {
    const c = config();
    if (options.clusterInfo) return options.clusterInfo;
    return c.KUBE_TARGET === 'aks'
      ? deferredPort<ClusterInfoSource>(async () => {
          const [{ AksClusterInfo }, client] = await Promise.all([
            import('./aks/aks-cluster.js'),
            armClient(),
          ]);
          return new AksClusterInfo({
            client,
            resourceGroup: c.AKS_RESOURCE_GROUP ?? '',
            clusterName: c.AKS_CLUSTER_NAME ?? '',
            defaultRoutes: c.DEFAULT_ROUTES,
          });
        })
      : new StaticClusterInfo({ defaultRoutes: c.DEFAULT_ROUTES });
  });

  /** Dependencies outside any invocation: what the activities of a caller's operations runner use. */
  const backgroundDeps = once((): GatewayDeps => ({
    config: config(),
    cluster: cluster(),
    secrets: secrets(),
    clusterInfo: clusterInfo(),
    operations: injectedOperations(),
    clock,
    log,
  }));
  const injectedOperations = once((): OperationsPort => {
    if (!options.operations) throw new InternalError('no operations runner was handed in');
    return options.operations(backgroundDeps);
  });

  async function operationsFor(context: InvocationContext): Promise<OperationsPort> {
    if (options.operations) return injectedOperations();
    const { DurableOperations } = await import('./operations/durable-operations.js');
    return new DurableOperations({
      client: df.getClient(context),
      timing: timingFrom(config()),
      ledger: { cluster: cluster(), labelDomain: config().LABEL_DOMAIN },
    });
  }
  const useCases = lazyUseCases();

  return {
    config,
    useCases,
    deps(context: InvocationContext): Promise<GatewayDeps> {
      return Promise.resolve().then(() => ({
        config: config(),
        cluster: cluster(),
        secrets: secrets(),
        clusterInfo: clusterInfo(),
        operations: lazyOperations(() => operationsFor(context)),
        clock,
        log: contextLogger(context),
      }));
    },
    describeBackends() {
      const c = config();
      const kube =
        c.KUBE_TARGET === 'kubeconfig'
          ? `Kubernetes: kubeconfig ${c.KUBECONFIG ?? ''}`
          : `Kubernetes: AKS ${c.AKS_RESOURCE_GROUP ?? ''}/${c.AKS_CLUSTER_NAME ?? ''}`;
      const store =
        c.SECRET_STORE === 'keyvault'
          ? `secret store: Key Vault ${c.KEY_VAULT_URL ?? ''}`
          : `secret store: directory ${c.SECRETS_DIR}`;
      return [
        ...(options.cluster ? [] : [kube]),
        store,
        ...(options.operations ? [] : ['operations: Durable Functions']),
      ];
    },
    close() {
      closing.abort();
      log.info('composition closed');
      return Promise.resolve();
    },
  };
}
