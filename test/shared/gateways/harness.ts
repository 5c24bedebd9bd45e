/** Builds GatewayDeps from plain fakes, with a controllable clock. */
import type { ClusterInfo } from '../../../shared/model/cluster-info.js';
import { loadConfig } from '../../../shared/config.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import type { Logger } from '../../../shared/logging.js';
import { MemoryCluster } from '../../fakes/memory-cluster.js';
import { MemorySecretStore } from '../../fakes/memory-secret-store.js';
import { RecordingOperations } from '../../fakes/recording-operations.js';

export interface Harness {
  deps: GatewayDeps;
  cluster: MemoryCluster;
  secrets: MemorySecretStore;
  operations: RecordingOperations;
  logs: string[];
  clusterInfo: { info: ClusterInfo };
  setNow(date: Date): void;
}

export function makeHarness(env: Record<string, string> = {}): Harness {
  const cluster = new MemoryCluster();
  const secrets = new MemorySecretStore();
  const operations = new RecordingOperations();
  const logs: string[] = [];
  let now = new Date('2026-11-22T12:00:00Z');
  const clusterInfo = {
    info: {
      serviceCidr: '10.0.0.0/16',
      podCidr: '10.244.0.0/16',
      location: 'westeurope',
      notes: [],
    } as ClusterInfo,
  };
  const log: Logger = {
    info: (m, f) => logs.push(JSON.stringify({ level: 'info', m, ...f })),
    warn: (m, f) => logs.push(JSON.stringify({ level: 'warn', m, ...f })),
    error: (m, f) => logs.push(JSON.stringify({ level: 'error', m, ...f })),
  };
  const deps: GatewayDeps = {
    cluster,
    secrets,
    operations,
    clusterInfo: { describe: () => Promise.resolve(clusterInfo.info) },
    config: loadConfig(env),
    clock: () => now,
    log,
  };
  return { deps, cluster, secrets, operations, logs, clusterInfo, setNow: (d) => (now = d) };
}
