/**
 * The composition root: the only place that constructs clients (Kubernetes, Key Vault, ARM, Durable
 * Functions), lazily and once. Handlers receive an `ApiContext` and never construct anything themselves.
 *
 * Two hosts use it: the Azure Functions host (`functions/*` registrations; operations run as Durable
 * Functions orchestrations) and the sandbox host (`shared/sandbox/main.ts`; operations run in-process).
 */
import { join, resolve } from 'node:path';
import type { InvocationContext } from '@azure/functions';
import { KubeConfig } from '@kubernetes/client-node';
import { StaticClusterInfo } from './aks/static-cluster-info.js';
import type { ClusterInfo, ClusterInfoSource } from './model/cluster-info.js';
import type { Config } from './config.js';
import { loadConfig } from './config.js';
import { InternalError } from './errors.js';
import type { GatewayUseCases } from './gateways/api-use-cases.js';
import { getOperation } from './gateways/operation-status.js';
import type { GatewayDeps } from './gateways/deps.js';
import { getClient, getClientProfile, issueClient, listClients, revokeClient } from './gateways/clients.js';
import { getCrl } from './gateways/crl.js';
import { deleteGateway, getGateway, listGateways, putGateway, restartGateway } from './gateways/gateways.js';
import { getPortMappings, replacePortMappings } from './gateways/port-mappings.js';
import type { ApiContext } from './http/route.js';
import type { ClusterPort } from './model/cluster-port.js';
import { KubeCluster } from './kube/kube-cluster.js';
import type { Logger } from './logging.js';
import { consoleLogger, contextLogger } from './logging.js';
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { DefaultAzureCredential } from '@azure/identity';
import df from 'durable-functions';
import { AksClusterInfo, aksKubeConfig } from './aks/aks-cluster.js';
import { deferredCluster } from './kube/deferred-cluster.js';
import { KeyVaultSecretStore } from './secrets/key-vault-store.js';
import { DurableOperations } from './operations/durable-operations.js';
import { InProcessOperations, timingFrom } from './operations/in-process-operations.js';
import type { OperationsPort } from './model/operations-port.js';
import { DirectorySecretStore } from './secrets/directory-store.js';
import type { SecretStore } from './model/secret-store.js';

/** Field manager of every server-side apply this API makes. */
export const FIELD_MANAGER = 'aks-vpn-gateways';

export interface CompositionOptions {
  /** Parsed settings; default `loadConfig(process.env)` on first use. */
  readonly config?: Config | undefined;
  /** `functions`: Durable Functions operations; `sandbox`: in-process operations. */
  readonly host: 'functions' | 'sandbox';
  /** kubeconfig YAML of the sandbox Kubernetes API server (used when KUBE_TARGET=sandbox). */
  readonly sandboxKubeConfig?: string | undefined;
  /** Logger for work outside an invocation (in-process operations); default console JSON lines. */
  readonly log?: Logger | undefined;
  readonly clock?: (() => Date) | undefined;
}

/** The composition as the sandbox host and tests see it: an ApiContext that can describe and close itself. */
export interface Composition extends ApiContext {
  /** One line per backend, for the start-up banner. */
  describeBackends(): string[];
  /** Lets in-process operations finish (up to `graceMs`) and releases clients. */
  close(graceMs?: number): Promise<void>;
}

function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}

/** The real use-cases, as the handlers call them. */
export const USE_CASES: GatewayUseCases = {
  putGateway,
  getGateway,
  listGateways,
  deleteGateway,
  restartGateway,
  issueClient,
  getClient,
  listClients,
  getClientProfile,
  revokeClient,
  getCrl,
  getPortMappings,
  replacePortMappings,
  getOperation,
};

/** A KubeCluster over a kubeconfig loaded by `load`. */
function kubeCluster(load: (kc: KubeConfig) => void): ClusterPort {
  const kubeConfig = new KubeConfig();
  load(kubeConfig);
  return new KubeCluster({ kubeConfig, fieldManager: FIELD_MANAGER });
}

/** Delegates to the port `get` builds on first use, so requests that start no work never build it. */
function lazyOperations(get: () => OperationsPort): OperationsPort {
  return {
    startRoll: (request) => Promise.resolve().then(() => get().startRoll(request)),
    startProvision: (gateway) => Promise.resolve().then(() => get().startProvision(gateway)),
    startDeletion: (gateway) => Promise.resolve().then(() => get().startDeletion(gateway)),
    getOperation: (id) => Promise.resolve().then(() => get().getOperation(id)),
  };
}

/** AKS's kubenet defaults, what the sandbox cluster claims to use unless DEFAULT_ROUTES says otherwise. */
export const SANDBOX_CIDRS = Object.freeze({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16' });

/** The sandbox cluster's self-description: DEFAULT_ROUTES when set, else AKS's default CIDRs. */
function sandboxClusterInfo(config: Config): ClusterInfoSource {
  // With no CIDRs described, the gateway use-case falls back to DEFAULT_ROUTES.
  const info: ClusterInfo =
    config.DEFAULT_ROUTES.length > 0
      ? { notes: ['sandbox cluster: routes from DEFAULT_ROUTES'] }
      : { ...SANDBOX_CIDRS, notes: [] };
  return { describe: () => Promise.resolve(info) };
}

/** Builds the composition root. Nothing is constructed until a request needs it. */
export function createComposition(options: CompositionOptions): Composition {
  const config = once(() => options.config ?? loadConfig());
  const log = options.log ?? consoleLogger({ component: 'aks-vpn-gateways' });
  const clock = options.clock ?? (() => new Date());
  /** Stops background work (the AKS token refresh) when the composition closes. */
  const closing = new AbortController();

  /** Entra identity of the app (managed identity in Azure, developer credentials locally). */
  const azureCredential = once(() => new DefaultAzureCredential());
  const armClient = once(
    () =>
      new ContainerServiceClient(azureCredential(), config().AZURE_SUBSCRIPTION_ID ?? '', {
        endpoint: config().ARM_ENDPOINT,
      }),
  );

  const cluster = once((): ClusterPort => {
    const c = config();
    switch (c.KUBE_TARGET) {
      case 'sandbox':
        if (!options.sandboxKubeConfig)
          throw new InternalError('KUBE_TARGET=sandbox needs the sandbox host (npm start)');
        return kubeCluster((kc) => kc.loadFromString(options.sandboxKubeConfig ?? ''));
      case 'kubeconfig':
        return kubeCluster((kc) => kc.loadFromFile(c.KUBECONFIG ?? ''));
      case 'aks':
        return deferredCluster(async () => {
          const kubeConfig = await aksKubeConfig({
            client: armClient(),
            resourceGroup: c.AKS_RESOURCE_GROUP ?? '',
            clusterName: c.AKS_CLUSTER_NAME ?? '',
            credential: azureCredential(),
            serverAppId: c.AKS_SERVER_APP_ID,
            log,
            signal: closing.signal,
          });
          return new KubeCluster({ kubeConfig, fieldManager: FIELD_MANAGER });
        });
    }
  });

  const secrets = once((): SecretStore => {
    const c = config();
    return c.SECRET_STORE === 'keyvault'
      ? new KeyVaultSecretStore({ vaultUrl: c.KEY_VAULT_URL ?? '', credential: azureCredential() })
      : new DirectorySecretStore({ directory: resolve(c.SECRETS_DIR) });
  });

  const clusterInfo = once((): ClusterInfoSource => {
    const c = config();
    if (c.KUBE_TARGET === 'sandbox') return sandboxClusterInfo(c);
    return c.KUBE_TARGET === 'aks'
      ? new AksClusterInfo({
          client: armClient(),
          resourceGroup: c.AKS_RESOURCE_GROUP ?? '',
          clusterName: c.AKS_CLUSTER_NAME ?? '',
          defaultRoutes: c.DEFAULT_ROUTES,
        })
      : new StaticClusterInfo({ defaultRoutes: c.DEFAULT_ROUTES });
  });

  /** Dependencies outside any invocation: what in-process orchestrations' activities use. */
  const backgroundDeps = once((): GatewayDeps => ({
    config: config(),
    cluster: cluster(),
    secrets: secrets(),
    clusterInfo: clusterInfo(),
    operations: inProcessOperations(),
    clock,
    log,
  }));

  let inProcess: InProcessOperations | undefined;
  const inProcessOperations = once((): OperationsPort => {
    const c = config();
    inProcess = new InProcessOperations({
      deps: backgroundDeps,
      timing: timingFrom(c),
      dataDir: join(c.SANDBOX_DATA_DIR, 'operations'),
      log,
      clock,
    });
    return inProcess;
  });

  function operationsFor(context: InvocationContext): OperationsPort {
    return options.host === 'sandbox'
      ? inProcessOperations()
      : new DurableOperations({ client: df.getClient(context), timing: timingFrom(config()) });
  }

  return {
    config,
    useCases: USE_CASES,
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
        c.KUBE_TARGET === 'sandbox'
          ? 'Kubernetes: sandbox API server'
          : c.KUBE_TARGET === 'kubeconfig'
            ? `Kubernetes: kubeconfig ${c.KUBECONFIG ?? ''}`
            : `Kubernetes: AKS ${c.AKS_RESOURCE_GROUP ?? ''}/${c.AKS_CLUSTER_NAME ?? ''}`;
      const store =
        c.SECRET_STORE === 'keyvault'
          ? `secret store: Key Vault ${c.KEY_VAULT_URL ?? ''}`
          : `secret store: directory ${c.SECRETS_DIR}`;
      const ops = options.host === 'sandbox' ? 'operations: in-process' : 'operations: Durable Functions';
      return [kube, store, ops];
    },
    async close(graceMs = 10_000) {
      closing.abort();
      // Lets running operations finish; one still running after the grace period is reported
      // "interrupted" (Failed) at the next start.
      if (inProcess) {
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)));
        const drained = await Promise.race([inProcess.drain().then(() => true), gaveUp]);
        clearTimeout(timer);
        if (!drained) log.warn('operations still running at shutdown', { graceMs });
      }
      log.info('composition closed');
    },
  };
}

/** The composition the Azure Functions host uses (registrations in `functions/`). */
export const functionsComposition: Composition = createComposition({ host: 'functions' });
