/**
 * What the domain learns about the target cluster: the CIDRs to push as default routes.
 * Implemented from ARM for AKS (`aks-cluster.ts`), from configuration for a plain kubeconfig,
 * and by the sandbox.
 */
export interface ClusterInfo {
  /** Kubernetes service CIDR (e.g. `10.0.0.0/16`), when known. */
  readonly serviceCidr?: string | undefined;
  /** Pod CIDR with kubenet / overlay; absent with Azure CNI (pods on the VNet). */
  readonly podCidr?: string | undefined;
  readonly location?: string | undefined;
  readonly fqdn?: string | undefined;
  /** Human-readable notes, e.g. "Azure CNI: no pod CIDR, using DEFAULT_ROUTES". Shown in gateway status. */
  readonly notes: readonly string[];
}

export interface ClusterInfoSource {
  describe(): Promise<ClusterInfo>;
}
