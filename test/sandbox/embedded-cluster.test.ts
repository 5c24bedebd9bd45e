/**
 * The sandbox's embedded cluster: the ClusterPort contract (the same suite the adapter passes against a
 * real kube-apiserver), the YAML files it keeps, and that an acknowledged write survives `kill -9`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutComplete } from '../../shared/model/cluster-port.js';
import { EmbeddedCluster } from '../../sandbox/embedded-cluster.js';
import { describeClusterContract, eventually, gateway } from '../shared/kube/cluster-contract.js';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'avg-embedded-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeClusterContract('embedded cluster', 'port', async () => {
  const cluster = await EmbeddedCluster.open({
    dataDir: await freshDir(),
    delayMs: 200,
  });
  return {
    under: { cluster },
    failNewPods: () => cluster.failNewPods(),
    clearFailures: () => cluster.failNewPods(false),
    close: () => cluster.close(),
  };
});

describe('the embedded cluster on disk', () => {
  let dataDir = '';
  let cluster: EmbeddedCluster;
  const objects = gateway('disk');

  beforeAll(async () => {
    dataDir = await freshDir();
    // Controllers that wait a minute: nothing changes behind the tests' backs until they reopen it.
    cluster = await EmbeddedCluster.open({ dataDir, delayMs: 60_000 });
  });
  afterAll(async () => cluster?.close());

  it('writes every object it holds as the YAML a cluster would get, one file each', async () => {
    // WHEN a whole gateway is applied
    await cluster.apply(objects);
    // THEN each object is a file named for its namespace, kind and name, holding what was applied
    for (const o of objects) {
      const file = cluster.fileOf(o.kind, o.metadata.namespace, o.metadata.name);
      const onDisk = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      const {
        status: _status,
        metadata,
        ...rest
      } = onDisk as {
        status?: unknown;
        metadata: Record<string, unknown>;
      };
      const { resourceVersion, generation: _g, ...names } = metadata;
      expect(resourceVersion).toMatch(/^\d+$/);
      expect({ ...rest, metadata: names }).toStrictEqual(JSON.parse(JSON.stringify(o)));
    }
    expect((await readdir(dataDir)).sort()).toStrictEqual(['vpn-disk']);
    expect((await readdir(join(dataDir, 'vpn-disk'))).sort()).toStrictEqual(
      objects.map((o) => `${o.kind.toLowerCase()}-${o.metadata.name}.yaml`).sort(),
    );
  });

  it('loads what it wrote after a restart, drops temporaries, and finishes the rollout and the address', async () => {
    // GIVEN a roll under way, no address yet, and a temporary file a crash left behind
    const rolled = await cluster.patchPodTemplateAnnotations('vpn-disk', 'openvpn', { roll: '2' });
    expect(rolloutComplete(rolled)).toBe(false);
    const ccd = await cluster.patchConfigMapData('vpn-disk', 'ccd', { a: 'ifconfig-push 10.140.0.2' });
    expect(await cluster.readLoadBalancerAddress('vpn-disk', 'openvpn')).toBeUndefined();
    await cluster.close();
    const stray = join(dataDir, 'vpn-disk', '.configmap-ccd.yaml.0.tmp');
    await writeFile(stray, 'half a file');
    // WHEN the cluster opens again
    cluster = await EmbeddedCluster.open({ dataDir, delayMs: 100 });
    // THEN it holds the same data at the same version, the temporary is gone, and the controllers resume
    expect(await cluster.readConfigMap('vpn-disk', 'ccd')).toStrictEqual(ccd);
    expect(await readdir(join(dataDir, 'vpn-disk'))).not.toContain('.configmap-ccd.yaml.0.tmp');
    const done = await eventually(() => cluster.readRollout('vpn-disk', 'openvpn'), rolloutComplete);
    expect(done.templateAnnotations['roll']).toBe('2');
    expect(await eventually(() => cluster.readLoadBalancerAddress('vpn-disk', 'openvpn'), Boolean)).toMatch(
      /^203\.0\.113\.\d+$/,
    );
  });

  it('writes nothing for a write that changes nothing, and forgets a deleted namespace', async () => {
    const before = await cluster.readConfigMap('vpn-disk', 'ccd');
    expect(
      await cluster.patchConfigMapData('vpn-disk', 'ccd', { a: 'ifconfig-push 10.140.0.2' }),
    ).toStrictEqual(before);
    await cluster.deleteNamespace('vpn-disk');
    expect(await readdir(dataDir)).toStrictEqual([]);
    expect(await cluster.list('ConfigMap', 'vpn-disk', '')).toStrictEqual([]);
  });
});

describe('durability', () => {
  it('keeps every write it acknowledged when its process is killed (SIGKILL) right after', async () => {
    // GIVEN a child process writing one key after another, printing each acknowledgement
    const dataDir = await freshDir();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/sandbox/support/write-until-killed.ts', dataDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    // WHEN it is killed the moment its 40th write is acknowledged
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, s) => resolve(s)));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/^ack 40$/m.test(out)) child.kill('SIGKILL');
    });
    expect(await exited).toBe('SIGKILL');
    const acknowledged = [...out.matchAll(/^ack (\d+)$/gm)].map((m) => `client-${m[1]}`);
    // THEN a cluster opened on the same directory holds every acknowledged key
    const reopened = await EmbeddedCluster.open({ dataDir });
    const data = (await reopened.readConfigMap('vpn-durable', 'ccd'))?.data ?? {};
    await reopened.close();
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);
    expect(acknowledged.filter((key) => data[key] === undefined)).toStrictEqual([]);
  });
});
