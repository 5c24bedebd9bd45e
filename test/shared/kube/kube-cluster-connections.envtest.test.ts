/**
 * The adapter keeps its TLS connections to the API server open between requests: client-node alone opens
 * a new one (and parses the client key again) for every request. Counted at a TCP relay in front of a
 * real kube-apiserver, reached with the kubeconfig's client certificate as on a cluster.
 */
import { createConnection, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../../../shared/kube/kube-cluster.js';
import type { Envtest } from '../../support/envtest.js';
import { startEnvtest } from '../../support/envtest.js';

describe('the adapter over TLS', () => {
  let envtest: Envtest;
  let connections = 0;
  const relay = createServer((socket) => {
    connections += 1;
    const upstream = new URL(envtest.server);
    const target = createConnection(Number(upstream.port), upstream.hostname);
    socket.pipe(target).pipe(socket);
    socket.on('error', () => target.destroy());
    target.on('error', () => socket.destroy());
  });
  let cluster: KubeCluster;

  beforeAll(async () => {
    envtest = await startEnvtest();
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const { port } = relay.address() as AddressInfo;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(envtest.kubeConfigYaml);
    // The same kubeconfig (client certificate, CA), its server moved to the relay.
    const server = `https://127.0.0.1:${port}`;
    kubeConfig.clusters = kubeConfig.clusters.map((c) => ({ ...c, server }));
    cluster = new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' });
  });
  afterAll(async () => {
    relay.close();
    await envtest?.stop();
  });

  it('reuses one connection for sequential requests and opens at most one per concurrent request', async () => {
    // GIVEN a namespace and a ConfigMap (the first requests open the first connection)
    await cluster.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'keep-alive' } }]);
    await cluster.apply([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'n', namespace: 'keep-alive' },
        data: { n: '0' },
      },
    ]);
    // WHEN 20 requests are made one after another
    connections = 0;
    for (let i = 0; i < 20; i += 1) await cluster.readConfigMap('keep-alive', 'n');
    // THEN they all went over the connection already open
    expect(connections).toBe(0);
    // AND 8 concurrent requests open at most 8 connections, which the next requests reuse
    await Promise.all(Array.from({ length: 8 }, () => cluster.readConfigMap('keep-alive', 'n')));
    const afterBurst = connections;
    expect(afterBurst).toBeLessThanOrEqual(8);
    for (let i = 0; i < 10; i += 1) await cluster.readConfigMap('keep-alive', 'n');
    expect(connections).toBe(afterBurst);
  });
});
