import type { ClusterPort } from '../model/cluster-port.js';

/**
 * A ClusterPort whose adapter is still being built (AKS: the kubeconfig comes from ARM first). Every call
 * waits for it; a failed build is retried by the next call instead of failing forever.
 */
export function deferredCluster(build: () => Promise<ClusterPort>): ClusterPort {
  let pending: Promise<ClusterPort> | undefined;
  const get = () => {
    pending ??= build().catch((e: unknown) => {
      pending = undefined;
      throw e;
    });
    return pending;
  };
  return new Proxy({} as ClusterPort, {
    get(_target, method: string) {
      return async (...args: unknown[]) => {
        const port = (await get()) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return port[method]?.(...args);
      };
    },
  });
}
