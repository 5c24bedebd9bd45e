/**
 * The two clusters the races, the crash-at-every-step tests and the roll ledger run against: a real
 * kube-apiserver (through the product's Kubernetes adapter) and the sandbox's embedded cluster.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeCluster } from '../../shared/kube/kube-cluster.js';
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import { EmbeddedCluster } from '../../sandbox/embedded-cluster.js';
import { startEnvtest } from './envtest.js';

export interface ClusterBackend {
  readonly cluster: ClusterPort;
  stop(): Promise<void>;
}

/** A fresh kube-apiserver (no controller manager), reached through the Kubernetes adapter. */
export async function startKubeApiserverBackend(): Promise<ClusterBackend> {
  const envtest = await startEnvtest({ controllerManager: false });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(envtest.api.kubeConfigYaml);
  const cluster = new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' });
  return { cluster, stop: () => envtest.stop() };
}

/** An embedded cluster on a fresh data directory (removed at stop), with instant rollouts and addresses. */
export async function startEmbeddedBackend(prefix: string): Promise<ClusterBackend> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const cluster = await EmbeddedCluster.open({ dataDir, delayMs: 0 });
  return {
    cluster,
    stop: async () => {
      await cluster.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
