import { KubeConfig } from '@kubernetes/client-node';
import { startSandboxKubeApiServer } from '../../shared/sandbox/kube-api-server.js';
import { describeClusterContract } from './cluster-contract.js';

describeClusterContract('sandbox API server', 'adapter', async () => {
  const server = await startSandboxKubeApiServer({ rolloutDelayMs: 200, loadBalancerDelayMs: 200 });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeConfigYaml);
  return {
    under: {
      adapter: {
        kubeConfig,
        injectFault: (spec) => void server.faults.add(spec),
        clearFaults: () => server.faults.clear(),
      },
    },
    failNewPods: () => server.rollouts.failNewPods(),
    clearFailures: () => server.rollouts.clearFailures(),
    close: () => server.close(),
  };
});
