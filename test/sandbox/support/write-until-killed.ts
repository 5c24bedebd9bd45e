// Child process of the durability test: opens the embedded cluster on the directory given, then merge-patches
// one new key after another, printing `ack <n>` as each write is acknowledged, until it is killed.
import { EmbeddedCluster } from '../../../sandbox/embedded-cluster.js';

const cluster = await EmbeddedCluster.open({ dataDir: process.argv[2] ?? '' });
await cluster.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'vpn-durable' } }]);
await cluster.apply([
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ccd', namespace: 'vpn-durable' } },
]);
for (let n = 1; ; n += 1) {
  await cluster.patchConfigMapData('vpn-durable', 'ccd', {
    [`client-${n}`]: `ifconfig-push 10.140.0.${n % 250}`,
  });
  process.stdout.write(`ack ${n}\n`);
}
