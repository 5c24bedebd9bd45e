import { KubeConfig } from '@kubernetes/client-node';
import { describeClusterContract } from './cluster-contract.js';
import { startEnvtest, startFakeKubelet, startFaultProxy } from '../support/envtest.js';

// The ClusterPort contract through the adapter, against a real kube-apiserver v1.20.2 + etcd +
// kube-controller-manager (the reference), through a fault-injection proxy.
describeClusterContract('real kube-apiserver', 'adapter', async () => {
  const started = Date.now();
  const envtest = await startEnvtest();
  console.log(`envtest: control plane ready in ${Date.now() - started} ms`);
  const kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  const proxy = await startFaultProxy(envtest);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(proxy.kubeConfigYaml);
  return {
    under: {
      adapter: { kubeConfig, injectFault: (spec) => proxy.add(spec), clearFaults: () => proxy.clear() },
    },
    failNewPods: () => kubelet.failNewPods(),
    clearFailures: () => kubelet.clearFailures(),
    close: async () => {
      await kubelet.stop();
      await proxy.close();
      await envtest.stop();
    },
  };
});
