/**
 * Benchmarks (`npm run bench`): figures are printed, never asserted.
 *  - Kubernetes API requests per operation (create gateway, issue client = CCD update, roll), counted at
 *    the real adapter against a real kube-apiserver (envtest, with a fake kubelet);
 *  - bytes of the `state` ConfigMap per client at 5,000 clients (the 1 MiB object limit);
 *  - PKI: key generation, client issue, CRL signing with 5,000 revoked serials;
 *  - issue latency through the use-case with the real adapter, directory store and kube-apiserver.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { issueClient, revokeClient } from '../shared/gateways/clients.js';
import { putGateway, restartGateway } from '../shared/gateways/gateways.js';
import type { GatewayState } from '../shared/model/gateway.js';
import { KubeCluster } from '../shared/kube/kube-cluster.js';
import { encodeStateWrite, stateConfigMapData } from '../shared/model/state-codec.js';
import { buildCrl, createCa, issueClientCert, randomSerial } from '../shared/pki/index.js';
import { benchDeps } from './support.js';
import { startEnvtest, startFakeKubelet } from '../test/support/envtest.js';

function stats(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return `n=${samples.length} mean=${mean.toFixed(1)} ms p50=${at(0.5).toFixed(1)} ms p95=${at(0.95).toFixed(1)} ms max=${at(1).toFixed(1)} ms`;
}

async function timeIt<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return [value, Number(process.hrtime.bigint() - t) / 1e6];
}

async function pkiBench(): Promise<void> {
  console.log('\n## PKI (native crypto, RSA-2048, SHA-256)');
  const keygen: number[] = [];
  const ca = await createCa({ commonName: 'bench CA' });
  for (let i = 0; i < 10; i += 1)
    keygen.push((await timeIt(() => issueClientCert(ca, { commonName: `c${i}`, validityDays: 30 })))[1]);
  console.log(`client issue (keygen + sign): ${stats(keygen)}`);
  const revoked = Array.from({ length: 5000 }, () => ({ serial: randomSerial(), revokedAt: new Date() }));
  const [pem, ms] = await timeIt(() =>
    Promise.resolve(
      buildCrl(ca, { revoked, crlNumber: 2, nextUpdate: new Date(Date.now() + 30 * 86_400_000) }),
    ),
  );
  console.log(`CRL with 5000 revoked serials: signed in ${ms.toFixed(1)} ms, ${pem.length} bytes PEM`);
}

function stateBench(): void {
  console.log('\n## state ConfigMap size');
  const state: GatewayState = {
    spec: {
      name: 'bench',
      vpnSubnet: '10.140.0.0/16',
      routes: ['10.0.0.0/16'],
      port: 443,
      loadBalancer: { internal: false, sourceRanges: [] },
      clientCertValidityDays: 365,
    },
    clients: Array.from({ length: 5000 }, (_, i) => ({
      name: `branch-site-${String(i).padStart(5, '0')}`,
      ip: `10.140.${Math.floor(i / 250)}.${(i % 250) + 2}`,
      serial: randomSerial(),
      issuedAt: new Date().toISOString(),
      notAfter: new Date(Date.now() + 365 * 86_400_000).toISOString(),
      status: i % 10 === 0 ? ('revoked' as const) : ('active' as const),
      ...(i % 10 === 0 ? { revokedAt: new Date().toISOString() } : {}),
      keySource: 'generated' as const,
    })),
    portMappings: [],
    crl: { number: 1, thisUpdate: new Date().toISOString(), nextUpdate: new Date().toISOString() },
    server: { serial: randomSerial(), notAfter: new Date().toISOString() },
    createdAt: new Date().toISOString(),
  };
  const sizeOf = (data: Record<string, string>) =>
    Object.values(data).reduce((n, v) => n + Buffer.byteLength(v), 0);
  const bytes = sizeOf(stateConfigMapData(state));
  // As a write stores it: the full chunks sealed in ConfigMaps of their own, the rest in the state.
  const write = encodeStateWrite(
    state,
    undefined,
    () => undefined,
    () => undefined,
  );
  const sealed = write.create.reduce((n, c) => n + Buffer.byteLength(c.text), 0);
  console.log(
    `5000 clients (20-character names, 10% revoked): ${bytes} bytes = ${(bytes / 5000).toFixed(1)} bytes/client; ` +
      `as written: the state object ${sizeOf(write.data)} bytes (${state.clients.length % 256} clients inline) ` +
      `and ${write.create.length} sealed chunks of ${Math.round(sealed / write.create.length)} bytes each`,
  );
}

async function kubeBench(): Promise<void> {
  console.log('\n## Kubernetes API requests per operation (real kube-apiserver, real adapter)');
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const envtest = await startEnvtest();
  const kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(envtest.kubeConfigYaml);
    let requests = 0;
    let writes = 0;
    const cluster = new KubeCluster({
      kubeConfig,
      fieldManager: 'aks-vpn-gateways',
      onRequest: (what) => {
        requests += 1;
        if (!/^(read|list) /.test(what)) writes += 1;
      },
    });
    const { deps, operations } = benchDeps(cluster, dir);
    const count = async (label: string, fn: () => Promise<unknown>) => {
      await operations.drain();
      requests = 0;
      writes = 0;
      const [, ms] = await timeIt(fn);
      const synchronous = requests;
      const synchronousWrites = writes;
      await operations.drain();
      console.log(
        `${label}: ${synchronous} API calls in the request (${synchronousWrites} writes, ${ms.toFixed(0)} ms), ${requests} including its operation (${writes} writes)`,
      );
    };
    await count('create gateway (PUT, then provisioning)', () => putGateway(deps, 'bench', {}));
    await count('issue client (state + CCD key patch)', () => issueClient(deps, 'bench', { name: 'first' }));
    await count('revoke client (state + CRL + CCD)', () => revokeClient(deps, 'bench', 'first'));
    await count('restart (roll to completion)', () => restartGateway(deps, 'bench'));

    const issue: number[] = [];
    for (let i = 0; i < 30; i += 1)
      issue.push((await timeIt(() => issueClient(deps, 'bench', { name: `seq-${i}` })))[1]);
    console.log(`issue latency, sequential (keygen + state + CCD + secret store): ${stats(issue)}`);
    const [, parallelMs] = await timeIt(() =>
      Promise.all(Array.from({ length: 50 }, (_, i) => issueClient(deps, 'bench', { name: `par-${i}` }))),
    );
    console.log(
      `50 parallel issues on one gateway: ${parallelMs.toFixed(0)} ms in all (${(50_000 / parallelMs).toFixed(1)} issues/s), ${requests} API calls counted since the start`,
    );
  } finally {
    await kubelet.stop();
    await envtest.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`# aks-vpn-gateways benchmarks (node ${process.version}, ${new Date().toISOString()})`);
await pkiBench();
stateBench();
await kubeBench();
