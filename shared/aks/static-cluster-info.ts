import type { ClusterInfo, ClusterInfoSource } from '../model/cluster-info.js';

/**
 * Cluster info for targets where nothing can be discovered (a plain kubeconfig): no CIDRs, so gateways
 * created without `routes` push DEFAULT_ROUTES (see `resolveSpec`), and the status says why.
 */
export class StaticClusterInfo implements ClusterInfoSource {
  private readonly info: ClusterInfo;

  constructor(options: { defaultRoutes: readonly string[]; location?: string | undefined }) {
    this.info = {
      location: options.location,
      notes: [
        options.defaultRoutes.length === 0
          ? 'cluster CIDRs cannot be discovered for this target and DEFAULT_ROUTES is empty: pass routes explicitly'
          : 'cluster CIDRs cannot be discovered for this target: default routes come from DEFAULT_ROUTES',
      ],
    };
  }

  describe(): Promise<ClusterInfo> {
    return Promise.resolve(this.info);
  }
}
