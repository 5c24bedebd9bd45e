// A whole gateway's objects (as DESIGN.md's table describes them) applied to the sandbox API server with
// server-side apply through client-node: accepted, converging, and a re-apply writes nothing.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startWithClients, type SandboxClients } from './sandbox-clients.js';

let c: SandboxClients;
beforeAll(async () => {
  c = await startWithClients();
});
afterAll(async () => {
  await c?.server.close();
});

const ns = 'vpn-branch1';
const labels = {
  'app.kubernetes.io/name': 'openvpn',
  'app.kubernetes.io/instance': 'branch1',
  'app.kubernetes.io/managed-by': 'aks-vpn-gateways',
  'app.kubernetes.io/part-of': 'aks-vpn-gateways',
};
const selector = { 'app.kubernetes.io/name': 'openvpn', 'app.kubernetes.io/instance': 'branch1' };

const gatewayObjects = (configHash: string): k8s.KubernetesObject[] => [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } },
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'server', namespace: ns, labels },
    data: { 'server.conf': 'port 443\nproto tcp-server\n', 'entrypoint.sh': '#!/bin/sh\nexec openvpn\n' },
  } as k8s.KubernetesObject,
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'ccd', namespace: ns, labels },
    data: {},
  } as k8s.KubernetesObject,
  {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'port-mappings', namespace: ns, labels },
    data: { 'mappings.txt': '' },
  } as k8s.KubernetesObject,
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'server-pki', namespace: ns, labels },
    type: 'Opaque',
    data: {
      'ca.crt': Buffer.from('CA').toString('base64'),
      'crl.pem': Buffer.from('CRL').toString('base64'),
    },
  } as k8s.KubernetesObject,
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'openvpn', namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels, annotations: { 'vpn.aks-gateways.io/config-hash': configHash } },
        spec: {
          initContainers: [
            {
              name: 'sysctl',
              image: 'registry.example/openvpn:2.6',
              command: ['sysctl', '-w', 'net.ipv4.ip_forward=1'],
              securityContext: { privileged: true },
            },
          ],
          containers: [
            {
              name: 'openvpn',
              image: 'registry.example/openvpn:2.6',
              command: ['/bin/sh', '/etc/openvpn/server/entrypoint.sh'],
              ports: [{ name: 'vpn', containerPort: 443, protocol: 'TCP' }],
              securityContext: { capabilities: { add: ['NET_ADMIN'] } },
              readinessProbe: { tcpSocket: { port: 443 }, periodSeconds: 5 },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
              volumeMounts: [
                { name: 'server', mountPath: '/etc/openvpn/server' },
                { name: 'ccd', mountPath: '/etc/openvpn/ccd' },
                { name: 'pki', mountPath: '/etc/openvpn/pki', readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: 'server', configMap: { name: 'server' } },
            { name: 'ccd', configMap: { name: 'ccd' } },
            { name: 'pki', secret: { secretName: 'server-pki' } },
          ],
        },
      },
    },
  } as k8s.KubernetesObject,
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'openvpn',
      namespace: ns,
      labels,
      annotations: { 'service.beta.kubernetes.io/azure-dns-label-name': 'branch1-vpn' },
    },
    spec: {
      type: 'LoadBalancer',
      selector,
      loadBalancerSourceRanges: ['198.51.100.0/24'],
      ports: [{ name: 'vpn', port: 443, targetPort: 443, protocol: 'TCP' }],
    },
  } as k8s.KubernetesObject,
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'pm-8081', namespace: ns, labels },
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [{ name: 'pm', port: 8081, targetPort: 8081, protocol: 'TCP' }],
    },
  } as k8s.KubernetesObject,
];

const applyAll = async (objects: k8s.KubernetesObject[]) => {
  const out: k8s.KubernetesObject[] = [];
  for (const o of objects) {
    out.push(
      await c.objects.patch(
        o,
        undefined,
        undefined,
        'aks-vpn-gateways',
        true,
        k8s.PatchStrategy.ServerSideApply,
      ),
    );
  }
  return out;
};

describe('a gateway applied with server-side apply', () => {
  it('is accepted, rolls out, gets an address, and re-applying it writes nothing', async () => {
    // GIVEN a whole gateway applied, one apply per object
    c.server.clearRequests();
    await applyAll(gatewayObjects('h1'));
    const writes = c.server.requests().filter((r) => r.method === 'PATCH');
    console.log(
      `gateway apply: ${c.server.requests().length} requests (${writes.length} applies, rest discovery)`,
    );
    expect(writes.every((r) => r.contentType === 'application/apply-patch+yaml')).toBe(true);
    // THEN the rollout completes and the LoadBalancer gets an address
    await eventually(async () => {
      const d = await c.apps.readNamespacedDeployment({ name: 'openvpn', namespace: ns });
      return d.status?.availableReplicas === 1 && d.status.observedGeneration === 1 ? d : undefined;
    });
    const ip = await eventually(async () => {
      const s = await c.core.readNamespacedService({ name: 'openvpn', namespace: ns });
      return s.status?.loadBalancer?.ingress?.[0]?.ip;
    });
    expect(ip).toMatch(/^203\.0\.113\./);
    // WHEN the same objects are applied again
    const before = await c.core.listNamespacedConfigMap({ namespace: ns });
    const again = await applyAll(gatewayObjects('h1'));
    // THEN nothing changed: every object keeps its resourceVersion
    const after = await c.core.listNamespacedConfigMap({ namespace: ns });
    expect(after.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    const deployment = again.find((o) => o.kind === 'Deployment') as k8s.V1Deployment;
    expect(deployment.metadata?.generation).toBe(1);
    // WHEN the config hash changes THEN only the Deployment's generation moves and a roll follows
    await applyAll(gatewayObjects('h2'));
    const rolled = await eventually(async () => {
      const d = await c.apps.readNamespacedDeployment({ name: 'openvpn', namespace: ns });
      return d.status?.observedGeneration === 2 &&
        d.status.updatedReplicas === 1 &&
        d.status.availableReplicas === 1
        ? d
        : undefined;
    });
    expect(rolled.metadata?.generation).toBe(2);
  });
});
