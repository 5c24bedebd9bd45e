/**
 * The AKS target through Azure Resource Manager: the cluster's network profile (default pushed routes),
 * and a kubeconfig for it. A Function app has no `kubelogin`, so an Entra-enabled cluster's user
 * kubeconfig (exec plugin) gets a bearer token from @azure/identity for the AKS server application
 * instead, refreshed before it expires; admin credentials are used as they come when configured.
 */
import type { AccessToken, TokenCredential } from '@azure/identity';
import type { ContainerServiceClient } from '@azure/arm-containerservice';
import { KubeConfig } from '@kubernetes/client-node';
import { NotFoundError, UpstreamError } from '../errors.js';
import type { Logger } from '../logging.js';
import { consoleLogger } from '../logging.js';
import type { ClusterInfo, ClusterInfoSource } from '../model/cluster-info.js';

export interface AksTarget {
  readonly resourceGroup: string;
  readonly clusterName: string;
}

function armError(e: unknown, what: string): Error {
  const status = (e as { statusCode?: number }).statusCode;
  const message = `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (status === 404) return new NotFoundError(message, { cause: e });
  return new UpstreamError(message, {
    cause: e,
    transient: status === undefined || status === 429 || status >= 500,
  });
}

/** Cluster info read once from ARM (`networkProfile.serviceCidr` / `podCidr`, location, FQDN). */
export class AksClusterInfo implements ClusterInfoSource {
  private info: Promise<ClusterInfo> | undefined;

  constructor(
    private readonly options: AksTarget & {
      readonly client: ContainerServiceClient;
      readonly defaultRoutes: readonly string[];
    },
  ) {}

  describe(): Promise<ClusterInfo> {
    this.info ??= this.read().catch((e: unknown) => {
      this.info = undefined; // a failed read is retried on the next call
      throw e;
    });
    return this.info;
  }

  private async read(): Promise<ClusterInfo> {
    const { client, resourceGroup, clusterName, defaultRoutes } = this.options;
    let cluster;
    try {
      cluster = await client.managedClusters.get(resourceGroup, clusterName);
    } catch (e: unknown) {
      throw armError(e, `reading AKS cluster ${resourceGroup}/${clusterName}`);
    }
    const network = cluster.networkProfile;
    const notes: string[] = [];
    if (!network?.podCidr)
      notes.push(
        defaultRoutes.length > 0
          ? `the cluster has no pod CIDR (Azure CNI: pods are on the VNet); default routes add DEFAULT_ROUTES (${defaultRoutes.join(', ')})`
          : 'the cluster has no pod CIDR (Azure CNI: pods are on the VNet) and DEFAULT_ROUTES is empty: pass routes to reach pods',
      );
    return {
      serviceCidr: network?.serviceCidr,
      podCidr: network?.podCidr,
      location: cluster.location,
      fqdn: cluster.fqdn ?? cluster.privateFqdn,
      notes,
    };
  }
}

/**
 * The clock and timers of the background token refresh: real, unref'd timers in production (they never
 * keep the process alive); a virtual clock in tests.
 */
export interface RefreshScheduler {
  now(): number;
  /** Runs `task` once after `delayMs`; the returned function cancels it. */
  schedule(task: () => void, delayMs: number): () => void;
}

export const realScheduler: RefreshScheduler = {
  now: () => Date.now(),
  schedule(task, delayMs) {
    const timer = setTimeout(task, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface AksKubeConfigOptions extends AksTarget {
  readonly client: ContainerServiceClient;
  /** For the cluster-user kubeconfig's kubelogin exec plugin, replaced by a token from this credential. */
  readonly credential: TokenCredential;
  /** The AKS server application (Entra) whose token the API server accepts. */
  readonly serverAppId: string;
  /** Refresh this long before the token expires (default 5 minutes). */
  readonly refreshMarginMs?: number;
  /**
   * After a failed refresh, retry after `initialDelayMs` (default 5 s), doubling up to `maxDelayMs`
   * (default 60 s), for as long as it takes: past the token's expiry too, since nothing else renews it.
   */
  readonly retry?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /** A token request that has not settled by then counts as failed (default 60 s). */
  readonly attemptTimeoutMs?: number;
  /** Stops the background refresh. */
  readonly signal?: AbortSignal;
  readonly scheduler?: RefreshScheduler;
  /** Where failed refreshes are reported (never with the token). Default: console JSON lines. */
  readonly log?: Logger;
}

/** A KubeConfig for the AKS cluster, ready for the adapter. Tokens refresh in the background. */
export async function aksKubeConfig(o: AksKubeConfigOptions): Promise<KubeConfig> {
  let result;
  try {
    // Only ever the cluster-user kubeconfig: the local admin credential bypasses Entra ID and Kubernetes
    // RBAC, so the API never asks for it (the identity's rights are its ClusterRole, infra/kube).
    result = await o.client.managedClusters.listClusterUserCredentials(o.resourceGroup, o.clusterName);
  } catch (e: unknown) {
    throw armError(e, `listing user credentials of AKS cluster ${o.resourceGroup}/${o.clusterName}`);
  }
  const value = result.kubeconfigs?.[0]?.value;
  if (!value) throw new UpstreamError(`AKS cluster ${o.clusterName} returned no kubeconfig`);
  const kc = new KubeConfig();
  kc.loadFromString(Buffer.from(value).toString('utf8'));
  const user = kc.getCurrentUser();
  if (user?.exec) await useEntraToken(kc, user.name, o);
  return kc;
}

/** A token is never refreshed sooner than this after the last success, however short-lived it is. */
const MIN_REFRESH_INTERVAL_MS = 10_000;

/**
 * Replaces the exec plugin (kubelogin) of `userName` with a bearer token kept fresh from `credential`.
 * The first token must come now (the caller sees the failure); later refreshes run in the background
 * and, when one fails, the old token stays in place while retries back off up to a bounded interval.
 */
async function useEntraToken(kc: KubeConfig, userName: string, o: AksKubeConfigOptions): Promise<void> {
  const scope = `${o.serverAppId}/.default`;
  const scheduler = o.scheduler ?? realScheduler;
  const log = o.log ?? consoleLogger({ component: 'aks-token' });
  const margin = o.refreshMarginMs ?? 5 * 60_000;
  const initialDelay = o.retry?.initialDelayMs ?? 5_000;
  const maxDelay = o.retry?.maxDelayMs ?? 60_000;
  const attemptTimeout = o.attemptTimeoutMs ?? 60_000;
  let expiresOn = 0;
  let failures = 0;
  let cancelNext: (() => void) | undefined;

  const fetchToken = (): Promise<AccessToken> =>
    new Promise((resolve, reject) => {
      const abort = new AbortController();
      const cancelTimeout = scheduler.schedule(() => {
        abort.abort();
        reject(new UpstreamError(`no Entra token within ${attemptTimeout} ms`, { transient: true }));
      }, attemptTimeout);
      o.credential.getToken(scope, { abortSignal: abort.signal }).then(
        (token) => {
          cancelTimeout();
          if (token) resolve(token);
          else reject(new UpstreamError(`no Entra token for the AKS server application ${o.serverAppId}`));
        },
        (e: unknown) => {
          cancelTimeout();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });

  const install = (token: AccessToken): void => {
    kc.users = kc.users.map((u) => (u.name === userName ? { name: u.name, token: token.token } : u));
    expiresOn = token.expiresOnTimestamp;
  };

  const untilRefreshDue = (): number =>
    Math.max(MIN_REFRESH_INTERVAL_MS, expiresOn - scheduler.now() - margin);

  const scheduleRefresh = (delayMs: number): void => {
    if (o.signal?.aborted) return;
    cancelNext = scheduler.schedule(() => void refresh(), delayMs);
  };

  const refresh = async (): Promise<void> => {
    try {
      install(await fetchToken());
      if (failures > 0)
        log.info('AKS Entra token refreshed after failures', { serverAppId: o.serverAppId, failures });
      failures = 0;
      scheduleRefresh(untilRefreshDue());
    } catch (e: unknown) {
      failures += 1;
      const retryInMs = Math.min(maxDelay, initialDelay * 2 ** (failures - 1));
      const expired = scheduler.now() >= expiresOn;
      log[expired ? 'error' : 'warn'](
        expired
          ? 'AKS Entra token refresh failed and the token in use has expired; retrying'
          : 'AKS Entra token refresh failed; keeping the current token and retrying',
        {
          serverAppId: o.serverAppId,
          failures,
          retryInMs,
          tokenExpiresOn: new Date(expiresOn).toISOString(),
          error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
        },
      );
      scheduleRefresh(retryInMs);
    }
  };

  try {
    install(await fetchToken());
  } catch (e: unknown) {
    throw new UpstreamError(
      `getting an Entra token for the AKS server application ${o.serverAppId}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e, transient: true },
    );
  }
  o.signal?.addEventListener('abort', () => cancelNext?.(), { once: true });
  scheduleRefresh(untilRefreshDue());
}
