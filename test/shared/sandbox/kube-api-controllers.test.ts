// What the sandbox's controllers make visible through the API: rollouts that converge (or get stuck until
// their progress deadline and then roll back), LoadBalancer addresses, and namespace deletion cascading.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, failureOf, patchAs, startWithClients, type SandboxClients } from './sandbox-clients.js';

let c: SandboxClients;
const ns = 'vpn-ctrl';

beforeAll(async () => {
  c = await startWithClients({ rolloutDelayMs: 100, progressDeadlineMs: 400 });
  await c.core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(async () => {
  await c?.server.close();
});

const deployment = (name: string, replicas = 1): k8s.V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name }, annotations: { 'vpn.aks-gateways.io/config-hash': 'v1' } },
      spec: { containers: [{ name: 'openvpn', image: 'registry.example/openvpn:2.6' }] },
    },
  },
});

const read = (name: string) => c.apps.readNamespacedDeployment({ name, namespace: ns });
const complete = (d: k8s.V1Deployment): boolean => {
  const want = d.spec?.replicas ?? 1;
  return (
    (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
    (d.status?.updatedReplicas ?? 0) === want &&
    (d.status?.availableReplicas ?? 0) === want &&
    (d.status?.replicas ?? 0) === want
  );
};
const conditionsOf = (d: k8s.V1Deployment) =>
  (d.status?.conditions ?? []).map((x) => ({ type: x.type, status: x.status, reason: x.reason }));
const podReady = (p: k8s.V1Pod): boolean =>
  p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;
const rollTo = (name: string, hash: string) =>
  c.apps.patchNamespacedDeployment(
    {
      name,
      namespace: ns,
      body: {
        spec: { template: { metadata: { annotations: { 'vpn.aks-gateways.io/config-hash': hash } } } },
      },
    },
    patchAs(k8s.PatchStrategy.StrategicMergePatch),
  );

describe('deployment rollouts', () => {
  it('converges a new Deployment and a template change, reporting progress on the way', async () => {
    // GIVEN a new Deployment
    const started = Date.now();
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('roll', 2) });
    // THEN it becomes complete with the conditions a real controller sets
    const done = await eventually(async () => {
      const d = await read('roll');
      return complete(d) ? d : undefined;
    });
    console.log(`sandbox rollout of a new Deployment completed in ${Date.now() - started} ms`);
    expect(done.status?.readyReplicas).toBe(2);
    expect(conditionsOf(done)).toStrictEqual([
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
    ]);
    // WHEN the pod template changes
    const patched = await rollTo('roll', 'v2');
    expect(patched.metadata?.generation).toBe(2);
    // THEN the status still describes generation 1 (the controller has not noticed yet)
    expect(patched.status?.observedGeneration).toBe(1);
    // AND the controller then observes the new generation with the rollout in progress
    const inProgress = await eventually(async () => {
      const d = await read('roll');
      return d.status?.observedGeneration === 2 && !complete(d) ? d : undefined;
    });
    expect(inProgress.status?.updatedReplicas).toBeLessThan(2);
    expect(conditionsOf(inProgress)).toContainEqual({
      type: 'Progressing',
      status: 'True',
      reason: 'ReplicaSetUpdated',
    });
    // AND then completes it
    const rolled = await eventually(async () => {
      const d = await read('roll');
      return complete(d) ? d : undefined;
    });
    expect(rolled.status?.observedGeneration).toBe(2);
    // AND, as the deployment controller does, the revision annotation counts templates (no generation bump)
    expect(rolled.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('2');
    expect(rolled.metadata?.generation).toBe(2);
  });

  it('gets stuck past the progress deadline when new pods never become ready, and recovers on rollback', async () => {
    // GIVEN a completed Deployment
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('stuck') });
    const good = await eventually(async () => {
      const d = await read('stuck');
      return complete(d) ? d : undefined;
    });
    // AND the failure mode: new pods never become ready
    c.server.rollouts.failNewPods({ namespace: ns, name: 'stuck' });
    try {
      // WHEN the template changes
      await rollTo('stuck', 'bad');
      // THEN the rollout stays behind and finally reports ProgressDeadlineExceeded
      const failed = await eventually(async () => {
        const d = await read('stuck');
        return d.status?.conditions?.some((x) => x.reason === 'ProgressDeadlineExceeded') ? d : undefined;
      });
      expect(failed.status?.observedGeneration).toBe(2);
      expect(failed.status?.updatedReplicas).toBe(1);
      expect(failed.status?.availableReplicas).toBe(1); // the old pod keeps serving (maxUnavailable 0)
      expect(failed.status?.unavailableReplicas).toBe(1);
      // AND the pods show it: the old one ready, the new one not
      const stuckPods = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=stuck' });
      expect(
        stuckPods.items
          .map((p) => [p.metadata?.annotations?.['vpn.aks-gateways.io/config-hash'], podReady(p)])
          .sort(),
      ).toStrictEqual([
        ['bad', false],
        ['v1', true],
      ]);
      expect(conditionsOf(failed)).toStrictEqual([
        { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
        { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' },
      ]);
      // WHEN the previous template is put back (rollback)
      await c.apps.patchNamespacedDeployment(
        {
          name: 'stuck',
          namespace: ns,
          body: [{ op: 'replace', path: '/spec/template', value: good.spec?.template }],
        },
        patchAs(k8s.PatchStrategy.JsonPatch),
      );
      // THEN the rollout completes on the old pods, even though new pods still never become ready
      const back = await eventually(async () => {
        const d = await read('stuck');
        return complete(d) && d.status?.conditions?.some((x) => x.reason === 'NewReplicaSetAvailable')
          ? d
          : undefined;
      });
      expect(back.metadata?.generation).toBe(3);
      expect(back.metadata?.annotations?.['deployment.kubernetes.io/revision']).toBe('3'); // a rollback is a new revision
      expect(back.spec?.template.metadata?.annotations).toStrictEqual({
        'vpn.aks-gateways.io/config-hash': 'v1',
      });
      const pods = await eventually(async () => {
        const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=stuck' });
        return list.items.length === 1 ? list.items : undefined;
      });
      expect(
        pods.map((p) => [p.metadata?.annotations?.['vpn.aks-gateways.io/config-hash'], podReady(p)]),
      ).toStrictEqual([['v1', true]]);
    } finally {
      c.server.rollouts.clearFailures();
    }
  });

  it('omits zero counts from the status of a Deployment scaled to zero', async () => {
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('zero', 0) });
    const d = await eventually(async () => {
      const r = await read('zero');
      return r.status?.observedGeneration === 1 ? r : undefined;
    });
    expect([d.status?.replicas, d.status?.updatedReplicas, d.status?.availableReplicas]).toStrictEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('ignores status in a main-resource write and accepts it through the status subresource', async () => {
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('status') });
    const current = await eventually(async () => {
      const d = await read('status');
      return complete(d) ? d : undefined;
    });
    const replaced = await c.apps.replaceNamespacedDeployment({
      name: 'status',
      namespace: ns,
      body: { ...current, status: { replicas: 42 } },
    });
    expect(replaced.status?.replicas).toBe(1);
    const viaStatus = await c.apps.patchNamespacedDeploymentStatus(
      { name: 'status', namespace: ns, body: { status: { replicas: 42 } } },
      patchAs(k8s.PatchStrategy.MergePatch),
    );
    expect(viaStatus.status?.replicas).toBe(42);
  });
});

describe('pods', () => {
  it('are created ready for a completed rollout, read-only, and removed with their Deployment', async () => {
    // GIVEN a completed 2-replica Deployment
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deployment('pods', 2) });
    const pods = await eventually(async () => {
      const list = await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=pods' });
      return list.items.length === 2 && list.items.every(podReady) ? list.items : undefined;
    });
    // THEN the pods carry the template's labels plus pod-template-hash, a node and an IP
    for (const p of pods) {
      expect(p.metadata?.name).toMatch(
        /^pods-[bcdfghjklmnpqrstvwxz2456789]{1,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/,
      );
      expect(p.metadata?.labels?.['pod-template-hash']).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
      expect(p.spec?.nodeName).toBeTruthy();
      expect(p.status?.podIP).toMatch(/^10\.244\./);
    }
    // AND they cannot be written through the API
    const f = await failureOf(c.core.deleteNamespacedPod({ name: pods[0]!.metadata!.name!, namespace: ns }));
    expect([f.code, f.status.reason]).toStrictEqual([405, 'MethodNotAllowed']);
    // WHEN the Deployment is deleted THEN its pods go too
    await c.apps.deleteNamespacedDeployment({ name: 'pods', namespace: ns });
    expect(
      (await c.core.listNamespacedPod({ namespace: ns, labelSelector: 'app=pods' })).items,
    ).toStrictEqual([]);
  });
});

describe('LoadBalancer Services', () => {
  it('get an ingress IP from 203.0.113.0/24 after a short delay', async () => {
    // GIVEN a LoadBalancer Service
    const created = await c.core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'openvpn' },
        spec: { type: 'LoadBalancer', selector: { app: 'x' }, ports: [{ port: 443 }] },
      },
    });
    expect(created.status?.loadBalancer).toEqual({});
    // THEN it gets an address
    const ip = await eventually(async () => {
      const s = await c.core.readNamespacedService({ name: 'openvpn', namespace: ns });
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    expect(ip).toMatch(/^203\.0\.113\.\d{1,3}$/);
    // AND a second one gets a different address
    await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'openvpn2' }, spec: { type: 'LoadBalancer', ports: [{ port: 443 }] } },
    });
    const ip2 = await eventually(async () => {
      const s = await c.core.readNamespacedService({ name: 'openvpn2', namespace: ns });
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    expect(ip2).not.toBe(ip);
  });

  it('never get an address as ClusterIP Services', async () => {
    await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'pm-9000' }, spec: { ports: [{ port: 9000 }] } },
    });
    // A LoadBalancer created afterwards gets its address; by then the ClusterIP one would have had one too.
    await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'lb-after' }, spec: { type: 'LoadBalancer', ports: [{ port: 443 }] } },
    });
    await eventually(async () => {
      const s = await c.core.readNamespacedService({ name: 'lb-after', namespace: ns });
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    const plain = await c.core.readNamespacedService({ name: 'pm-9000', namespace: ns });
    expect(plain.status?.loadBalancer?.ingress).toBeUndefined();
  });
});

describe('namespace deletion', () => {
  it('removes the namespace and its objects after a short delay', async () => {
    // GIVEN a namespace with objects of every kind
    const gone = 'vpn-gone';
    await c.core.createNamespace({ body: { metadata: { name: gone } } });
    await c.core.createNamespacedConfigMap({ namespace: gone, body: { metadata: { name: 'state' } } });
    await c.core.createNamespacedSecret({ namespace: gone, body: { metadata: { name: 'server-pki' } } });
    await c.core.createNamespacedService({
      namespace: gone,
      body: { metadata: { name: 'openvpn' }, spec: { ports: [{ port: 443 }] } },
    });
    await c.apps.createNamespacedDeployment({
      namespace: gone,
      body: { ...deployment('openvpn'), metadata: { name: 'openvpn', namespace: gone } },
    });
    // WHEN it is deleted
    await c.core.deleteNamespace({ name: gone });
    // THEN finally the namespace and everything in it are gone
    await eventually(() =>
      c.core.readNamespace({ name: gone }).then(
        () => undefined,
        (e: unknown) => (e instanceof k8s.ApiException && e.code === 404 ? true : undefined),
      ),
    );
    expect(
      (await c.core.listConfigMapForAllNamespaces({ fieldSelector: `metadata.namespace=${gone}` })).items,
    ).toStrictEqual([]);
    expect(
      (await c.apps.listDeploymentForAllNamespaces({ fieldSelector: `metadata.namespace=${gone}` })).items,
    ).toStrictEqual([]);
  });

  it('keeps a deleted namespace Terminating for a while: a second delete is harmless, new content gets 403', async () => {
    const slow = await startWithClients({ namespaceDeletionDelayMs: 60_000 });
    try {
      await slow.core.createNamespace({ body: { metadata: { name: 'twice' } } });
      await slow.core.deleteNamespace({ name: 'twice' });
      const terminating = await slow.core.readNamespace({ name: 'twice' });
      expect(terminating.status?.phase).toBe('Terminating');
      expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
      // a second delete answers with the namespace, still terminating (kube-apiserver does the same)
      await slow.core.deleteNamespace({ name: 'twice' });
      expect((await slow.core.readNamespace({ name: 'twice' })).status?.phase).toBe('Terminating');
      const late = await failureOf(
        slow.core.createNamespacedConfigMap({ namespace: 'twice', body: { metadata: { name: 'late' } } }),
      );
      expect([late.code, late.status.reason]).toStrictEqual([403, 'Forbidden']);
    } finally {
      await slow.server.close();
    }
  });
});
