// Shared set-up for the sandbox API server tests: the real @kubernetes/client-node clients pointed at a
// fresh server, and a poller for what the controllers do asynchronously.
import * as k8s from '@kubernetes/client-node';
import {
  startSandboxKubeApiServer,
  type SandboxKubeApiServer,
  type SandboxKubeApiServerOptions,
} from '../../../shared/sandbox/kube-api-server.js';

export interface SandboxClients {
  readonly server: SandboxKubeApiServer;
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly objects: k8s.KubernetesObjectApi;
}

export async function startWithClients(options: SandboxKubeApiServerOptions = {}): Promise<SandboxClients> {
  const server = await startSandboxKubeApiServer({
    rolloutDelayMs: 50,
    loadBalancerDelayMs: 20,
    namespaceDeletionDelayMs: 20,
    ...options,
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeConfigYaml);
  return {
    server,
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
  };
}

/** The error a client call failed with (its `code` and the `Status` body, parsed). */
export async function failureOf(
  call: Promise<unknown>,
): Promise<{ code: number; status: Record<string, unknown> }> {
  try {
    await call;
  } catch (e: unknown) {
    if (e instanceof k8s.ApiException) {
      const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      return { code: e.code, status: body as Record<string, unknown> };
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}

/** Polls `probe` until it returns a value (not undefined); fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Options for a client-node patch call with an explicit content type. */
export const patchAs = (type: k8s.PatchStrategy) => k8s.setHeaderOptions('Content-Type', type);
