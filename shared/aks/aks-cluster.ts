/**
 * The AKS target through Azure Resource Manager: the cluster's network profile (default pushed routes),
 * and a kubeconfig for it. A Function app has no `kubelogin`, so an Entra-enabled cluster's user
 * kubeconfig (exec plugin) gets a bearer token from @azure/identity for the AKS server application
 * instead, refreshed before it expires; admin credentials are used as they come when configured.
 */
import type { TokenCredential } from '@azure/identity';
import type { ContainerServiceClient } from '@azure/arm-containerservice';
import { KubeConfig } from '@kubernetes/client-node';
import { NotFoundError, UpstreamError } from '../errors.js';
import type { ClusterInfo, ClusterInfoSource } from './cluster-info.js';

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

export interface AksKubeConfigOptions extends AksTarget {
  readonly client: ContainerServiceClient;
  readonly credentials: 'user' | 'admin';
  /** For user credentials whose kubeconfig uses the kubelogin exec plugin. */
  readonly credential: TokenCredential;
  /** The AKS server application (Entra) whose token the API server accepts. */
  readonly serverAppId: string;
  /** Refresh this long before the token expires (default 5 minutes). */
  readonly refreshMarginMs?: number;
}

/** A KubeConfig for the AKS cluster, ready for the adapter. Tokens refresh in the background. */
export async function aksKubeConfig(o: AksKubeConfigOptions): Promise<KubeConfig> {
  let result;
  try {
    result =
      o.credentials === 'admin'
        ? await o.client.managedClusters.listClusterAdminCredentials(o.resourceGroup, o.clusterName)
        : await o.client.managedClusters.listClusterUserCredentials(o.resourceGroup, o.clusterName);
  } catch (e: unknown) {
    throw armError(
      e,
      `listing ${o.credentials} credentials of AKS cluster ${o.resourceGroup}/${o.clusterName}`,
    );
  }
  const value = result.kubeconfigs?.[0]?.value;
  if (!value) throw new UpstreamError(`AKS cluster ${o.clusterName} returned no kubeconfig`);
  const kc = new KubeConfig();
  kc.loadFromString(Buffer.from(value).toString('utf8'));
  const user = kc.getCurrentUser();
  if (user?.exec) await useEntraToken(kc, user.name, o);
  return kc;
}

/** Replaces the exec plugin (kubelogin) of `userName` with a bearer token kept fresh from `credential`. */
async function useEntraToken(kc: KubeConfig, userName: string, o: AksKubeConfigOptions): Promise<void> {
  const scope = `${o.serverAppId}/.default`;
  const margin = o.refreshMarginMs ?? 5 * 60_000;
  const refresh = async (): Promise<void> => {
    const token = await o.credential.getToken(scope);
    if (!token) throw new UpstreamError(`no Entra token for the AKS server application ${o.serverAppId}`);
    const users = kc.users.map((u) => (u.name === userName ? { name: u.name, token: token.token } : u));
    kc.users = users;
    const wait = Math.max(10_000, token.expiresOnTimestamp - Date.now() - margin);
    // Refresh in the background; a failed refresh retries soon and the old token is kept meanwhile.
    setTimeout(
      () =>
        void refresh().catch(() => setTimeout(() => void refresh().catch(() => undefined), 10_000).unref()),
      wait,
    ).unref();
  };
  await refresh();
}
