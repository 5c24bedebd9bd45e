import type { ClusterPort } from '../model/cluster-port.js';

/**
 * A port whose adapter is still being built (its SDK still loading, AKS's kubeconfig still coming from
 * ARM). Every call waits for it; a failed build is retried by the next call instead of failing forever.
 * Only for ports whose every method returns a promise.
 */
export function deferredPort<T extends object>(build: () => Promise<T>): T {
  let pending: Promise<T> | undefined;
  const get = () => {
    pending ??= build().catch((e: unknown) => {
      pending = undefined;
      throw e;
    });
    return pending;
  };
  return new Proxy({} as T, {
    get(_target, method: string) {
      return async (...args: unknown[]) => {
        const port = (await get()) as unknown as Record<string, (...a: unknown[]) => unknown>;
        return port[method]?.(...args);
      };
    },
  });
}

/** A ClusterPort built on first use. */
export const deferredCluster = (build: () => Promise<ClusterPort>): ClusterPort => deferredPort(build);
