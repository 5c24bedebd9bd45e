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
import { loadConfig } from '../../shared/config.js';
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import type { Logger } from '../../shared/logging.js';
import { MemorySecretStore } from '../fakes/memory-secret-store.js';
import { RecordingOperations } from '../fakes/recording-operations.js';
import { EmbeddedCluster } from '../../sandbox/embedded-cluster.js';
import { startEnvtest } from './envtest.js';

export interface ClusterBackend {
  readonly cluster: ClusterPort;
  stop(): Promise<void>;
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The use-cases' dependencies over a backend's cluster, as the races use them: secrets in memory,
 * operations recorded (not run), default configuration, the real clock, no logs unless `log` is given.
 */
export function depsOver(cluster: ClusterPort, log: Logger = silent): GatewayDeps {
  return {
    cluster,
    secrets: new MemorySecretStore(),
    clusterInfo: { describe: () => Promise.resolve({ notes: [] }) },
    operations: new RecordingOperations(),
    config: loadConfig({}),
    clock: () => new Date(),
    log,
  };
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
