import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeClusterContract } from './cluster-contract.js';
import type { KubeRequest } from '../../support/envtest.js';
import { startEnvtest, startFakeKubelet, startFaultProxy } from '../../support/envtest.js';

// The ClusterPort contract through the adapter, against a real kube-apiserver v1.20.2 + etcd +
// kube-controller-manager (the reference), through a fault-injection proxy that speaks to the API server as
// the product's identity: a user holding only infra/kube/cluster-role.yaml (RBAC), so a request the role
// does not grant fails the suite.
let forwarded: () => readonly KubeRequest[] = () => [];

describeClusterContract('real kube-apiserver', 'adapter', async () => {
  const started = Date.now();
  const envtest = await startEnvtest();
  console.log(`envtest: control plane ready in ${Date.now() - started} ms`);
  const kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  const proxy = await startFaultProxy(envtest);
  forwarded = proxy.requests;
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

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** Every (verb, group, resource) the ClusterRole grants, as `verb group/resource` ('' group: core). */
function granted(): string[] {
  const role = parse(
    readFileSync(join(import.meta.dirname, '../../../infra/kube/cluster-role.yaml'), 'utf8'),
  ) as {
    kind: string;
    rules: PolicyRule[];
  };
  expect(role.kind).toBe('ClusterRole');
  return role.rules.flatMap((rule) =>
    rule.apiGroups.flatMap((group) =>
      rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${verb} ${group}/${resource}`)),
    ),
  );
}

describe('the API identity’s ClusterRole (infra/kube/cluster-role.yaml)', () => {
  it('grants exactly the (verb, resource) pairs the adapter issued in the contract suite: none missing, none unused', () => {
    // GIVEN every request the adapter sent through the proxy during the whole contract suite
    const used = [...new Set(forwarded().map((r) => `${r.verb} ${r.group}/${r.resource}`))].sort();
    // THEN the role is that list: no wildcard, nothing the adapter never asks for
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(granted())].sort()).toStrictEqual(used);
    expect(granted().some((g) => g.includes('*'))).toBe(false);
  });
});
