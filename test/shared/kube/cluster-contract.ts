/**
 * The ClusterPort contract, written once and run against each implementation: the Kubernetes adapter
 * against a real kube-apiserver, and the sandbox's embedded cluster. The adapter's own promises (one
 * request per object, the API server's validation, faults and stalls at the network) run only where
 * there is a network: `adapter` targets.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError, UpstreamError } from '../../../shared/errors.js';
import type { GatewayState } from '../../../shared/model/gateway.js';
import type { ClusterPort, KubeObject } from '../../../shared/model/cluster-port.js';
import { rolloutComplete } from '../../../shared/model/cluster-port.js';
import { KubeCluster } from '../../../shared/kube/kube-cluster.js';
import { buildGatewayManifests, stateChunkConfigMap } from '../../../shared/kube/manifests.js';
import { renderEntrypoint, renderServerConf } from '../../../shared/openvpn/index.js';

/** A Kubernetes API server reached by the adapter, with a fault-injection proxy in front of it. */
export interface AdapterTarget {
  readonly kubeConfig: KubeConfig;
  /** Make the nth matching request fail with `status` (or reset the connection, or stall). */
  injectFault(spec: {
    method?: string;
    path: RegExp;
    nth?: number;
    status?: number;
    reset?: boolean;
    delayMs?: number;
  }): void;
  clearFaults(): void;
}

export interface ContractTarget {
  /** Either the port itself, or an API server the contract reaches through the adapter. */
  readonly under: { readonly cluster: ClusterPort } | { readonly adapter: AdapterTarget };
  /** New pods of Deployments never become ready (rollback tests). */
  failNewPods(): void;
  clearFailures(): void;
  close(): Promise<void>;
}

export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const complete = rolloutComplete;

/** The objects of a gateway `name`, as the manifest builders make them. */
export function gateway(name: string) {
  const spec = {
    name,
    vpnSubnet: '10.140.0.0/24',
    routes: ['10.0.0.0/16'],
    port: 443,
    loadBalancer: { internal: false, sourceRanges: [] },
    clientCertValidityDays: 365,
  };
  const state: GatewayState = {
    spec,
    clients: [],
    portMappings: [],
    crl: { number: 1, thisUpdate: '2026-11-22T12:00:00.000Z', nextUpdate: '2026-12-22T12:00:00.000Z' },
    server: { serial: '01', notAfter: '2031-11-22T12:00:00.000Z' },
    createdAt: '2026-11-22T12:00:00.000Z',
  };
  return buildGatewayManifests({
    spec,
    image: 'registry.example/openvpn:2.6',
    labelDomain: 'vpn.aks-gateways.io',
    serverConf: renderServerConf(spec),
    entrypoint: renderEntrypoint(spec),
    ccd: {},
    portMappings: [{ port: 8081, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' }],
    state,
    pki: { caCrt: 'ca', serverCrt: 'crt', serverKey: 'key', tlsCryptKey: 'tls', crlPem: 'crl' },
  });
}

export function describeClusterContract(
  name: string,
  kind: 'adapter' | 'port',
  start: () => Promise<ContractTarget>,
): void {
  describe(`ClusterPort contract: ${name}`, () => {
    let target: ContractTarget;
    let adapter: AdapterTarget | undefined;
    let cluster: ClusterPort;
    let requests = 0;

    // A client with a short request deadline for the stalled-server cases (the main one keeps a generous
    // deadline: a timed-out write that did land would be retried, and 50 racing writers must not see that).
    let impatient: KubeCluster;
    const REQUEST_TIMEOUT_MS = 1000;
    const STALL_MS = 4 * REQUEST_TIMEOUT_MS;

    beforeAll(async () => {
      target = await start();
      if ('cluster' in target.under) {
        cluster = target.under.cluster;
        return;
      }
      adapter = target.under.adapter;
      cluster = new KubeCluster({
        kubeConfig: adapter.kubeConfig,
        fieldManager: 'aks-vpn-gateways',
        retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 },
        requestTimeoutMs: 20_000,
        onRequest: () => (requests += 1),
      });
      impatient = new KubeCluster({
        kubeConfig: adapter.kubeConfig,
        fieldManager: 'aks-vpn-gateways',
        retry: { attempts: 2, baseDelayMs: 20, maxDelayMs: 200 },
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        onRequest: () => (requests += 1),
      });
    });
    afterAll(async () => target?.close());

    it('applies a whole gateway, and re-applying it changes nothing', async () => {
      const objects = gateway('contract-a');
      requests = 0;
      await cluster.apply(objects);
      if (adapter) {
        console.log(`${name}: apply of a gateway (${objects.length} objects) = ${requests} requests`);
        expect(requests).toBe(objects.length);
      }
      const before = await cluster.readConfigMap('vpn-contract-a', 'server');
      const rolloutBefore = await cluster.readRollout('vpn-contract-a', 'openvpn');
      await cluster.apply(objects);
      expect((await cluster.readConfigMap('vpn-contract-a', 'server'))?.resourceVersion).toBe(
        before?.resourceVersion,
      );
      expect((await cluster.readRollout('vpn-contract-a', 'openvpn')).generation).toBe(
        rolloutBefore.generation,
      );
      const names = (
        await cluster.list('Service', 'vpn-contract-a', 'vpn.aks-gateways.io/gateway=contract-a')
      )
        .map((s) => s.metadata.name)
        .sort();
      expect(names).toStrictEqual(['openvpn', 'pm-8081']);
    });

    it('lists the namespaces carrying a label, and only those', async () => {
      const names = (
        await cluster.list('Namespace', undefined, 'vpn.aks-gateways.io/gateway=contract-a')
      ).map((n) => n.metadata.name);
      expect(names).toStrictEqual(['vpn-contract-a']);
    });

    it('refuses to create an object that exists', async () => {
      const [, server] = gateway('contract-a');
      await expect(cluster.create(server!)).rejects.toBeInstanceOf(ConflictError);
    });

    it('lands 50 concurrent read-modify-writes, none lost', async () => {
      await cluster.patchConfigMapData('vpn-contract-a', 'ccd', { counter: '0' });
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          cluster.updateConfigMap('vpn-contract-a', 'ccd', (current) => ({
            ...current.data,
            counter: String(Number(current.data['counter']) + 1),
            [`writer-${i}`]: 'x',
          })),
        ),
      );
      const cm = await cluster.readConfigMap('vpn-contract-a', 'ccd');
      expect(cm?.data['counter']).toBe('50');
      expect(Object.keys(cm?.data ?? {}).filter((k) => k.startsWith('writer-'))).toHaveLength(50);
    });

    it('writes on a held version without reading; a stale one is refused and the write re-applied on a read', async () => {
      const ns = 'vpn-contract-a';
      await cluster.apply([
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held', namespace: ns }, data: { n: '0' } },
      ]);
      const bump = (current: { data: Readonly<Record<string, string>> }) => ({
        ...current.data,
        n: String(Number(current.data['n']) + 1),
      });
      // GIVEN a version the caller holds (its own last write)
      const held = await cluster.updateConfigMap(ns, 'held', bump);
      // WHEN it writes on it: THEN one request, no read (counted where there is an API server)
      requests = 0;
      const next = await cluster.updateConfigMap(ns, 'held', bump, held);
      expect(next.data['n']).toBe('2');
      if (adapter) expect(requests).toBe(1);
      // GIVEN another writer moved on meanwhile, WHEN the caller writes on its stale version
      await cluster.updateConfigMap(ns, 'held', (c) => ({ ...c.data, other: 'kept' }));
      const after = await cluster.updateConfigMap(ns, 'held', bump, next);
      // THEN its change is applied to the latest data, the other writer's change kept
      expect(after.data).toStrictEqual({ n: '3', other: 'kept' });
      // AND a "no change" answer on a stale held version is asked again on the current one
      const seen: string[] = [];
      const unchanged = await cluster.updateConfigMap(
        ns,
        'held',
        (c) => {
          seen.push(c.data['n'] ?? '');
          return undefined;
        },
        next,
      );
      expect(seen.at(-1)).toBe('3');
      expect(unchanged.resourceVersion).toBe(after.resourceVersion);
    });

    it('queues the concurrent read-modify-writes of a ConfigMap in one process: one read, then one write each', async () => {
      const ns = 'vpn-contract-a';
      await cluster.apply([
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'queued', namespace: ns },
          data: { n: '0' },
        },
      ]);
      requests = 0;
      await Promise.all(
        Array.from({ length: 20 }, () =>
          cluster.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, n: String(Number(c.data['n']) + 1) })),
        ),
      );
      expect((await cluster.readConfigMap(ns, 'queued'))?.data['n']).toBe('20');
      // 20 writes and the one read before the first (and the read just above): no 409, no read in between
      if (adapter) expect(requests).toBe(22);
    });

    it('merge-patches single keys of ConfigMaps and Secrets (null removes)', async () => {
      await cluster.patchConfigMapData('vpn-contract-a', 'ccd', {
        alpha: 'ifconfig-push 10.140.0.9 255.255.255.0\n',
      });
      await cluster.patchConfigMapData('vpn-contract-a', 'ccd', { alpha: null });
      expect((await cluster.readConfigMap('vpn-contract-a', 'ccd'))?.data['alpha']).toBeUndefined();
      await cluster.patchSecretData('vpn-contract-a', 'server-pki', { 'crl.pem': 'new crl\n' });
      const secret = await cluster.readSecret('vpn-contract-a', 'server-pki');
      expect(secret?.data['crl.pem']).toBe('new crl\n');
      expect(secret?.data['ca.crt']).toBe('ca');
    });

    it('patches Secret keys only at the version read when one is given, 409 otherwise', async () => {
      const before = await cluster.readSecret('vpn-contract-a', 'server-pki');
      const written = await cluster.patchSecretData(
        'vpn-contract-a',
        'server-pki',
        { 'crl.pem': 'conditional crl\n' },
        before!.resourceVersion,
      );
      expect(written.data['crl.pem']).toBe('conditional crl\n');
      expect(written.data['ca.crt']).toBe('ca');
      // WHEN a writer patches at the version it read before that write
      await expect(
        cluster.patchSecretData(
          'vpn-contract-a',
          'server-pki',
          { 'crl.pem': 'stale crl\n' },
          before!.resourceVersion,
        ),
      ).rejects.toBeInstanceOf(ConflictError);
      // THEN nothing changed
      const after = await cluster.readSecret('vpn-contract-a', 'server-pki');
      expect(after).toEqual(written);
    });

    it('rolls the pod by annotation and reports progress until complete', async () => {
      await eventually(() => cluster.readRollout('vpn-contract-a', 'openvpn'), complete);
      const started = await cluster.patchPodTemplateAnnotations('vpn-contract-a', 'openvpn', {
        'kubectl.kubernetes.io/restartedAt': new Date().toISOString(),
      });
      expect(started.templateAnnotations['kubectl.kubernetes.io/restartedAt']).toBeDefined();
      const done = await eventually(() => cluster.readRollout('vpn-contract-a', 'openvpn'), complete);
      expect(done.generation).toBeGreaterThan(1);
      // a later apply of the Deployment keeps the roll's annotation (separate field manager)
      await cluster.apply(gateway('contract-a').filter((o) => o.kind === 'Deployment'));
      expect(
        (await cluster.readRollout('vpn-contract-a', 'openvpn')).templateAnnotations[
          'kubectl.kubernetes.io/restartedAt'
        ],
      ).toBe(started.templateAnnotations['kubectl.kubernetes.io/restartedAt']);
    });

    it('detects a roll whose new pod never becomes ready and rolls back', async () => {
      const before = await eventually(() => cluster.readRollout('vpn-contract-a', 'openvpn'), complete);
      target.failNewPods();
      try {
        await cluster.patchPodTemplateAnnotations('vpn-contract-a', 'openvpn', {
          'vpn.aks-gateways.io/config-hash': 'broken',
        });
        const stuck = await eventually(
          () => cluster.readRollout('vpn-contract-a', 'openvpn'),
          (r) => r.observedGeneration >= r.generation,
        );
        await new Promise((resolve) => setTimeout(resolve, 1000));
        expect(complete(await cluster.readRollout('vpn-contract-a', 'openvpn'))).toBe(false);
        expect(stuck.templateAnnotations['vpn.aks-gateways.io/config-hash']).toBe('broken');
        await cluster.restorePodTemplate('vpn-contract-a', 'openvpn', before.template);
      } finally {
        target.clearFailures();
      }
      const restored = await eventually(() => cluster.readRollout('vpn-contract-a', 'openvpn'), complete);
      expect(restored.templateAnnotations).toStrictEqual(before.templateAnnotations);
    });

    it('reads the LoadBalancer address once assigned', async () => {
      const address = await eventually(
        () => cluster.readLoadBalancerAddress('vpn-contract-a', 'openvpn'),
        Boolean,
      );
      expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    });

    it('maps missing objects to NotFound or undefined', async () => {
      await expect(cluster.readRollout('vpn-nowhere', 'openvpn')).rejects.toBeInstanceOf(NotFoundError);
      expect(await cluster.readConfigMap('vpn-nowhere', 'state')).toBeUndefined();
      await expect(cluster.updateConfigMap('vpn-nowhere', 'state', () => ({}))).rejects.toBeInstanceOf(
        NotFoundError,
      );
      await cluster.delete({ kind: 'Service', namespace: 'vpn-nowhere', name: 'pm-1' });
    });

    it('deletes a ConfigMap, after which a merge patch of it fails NotFound instead of bringing it back', async () => {
      // GIVEN a ConfigMap with an entry (as a gateway's legacy CCD before its move to shards)
      await cluster.create({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'legacy-ccd', namespace: 'vpn-contract-a' },
        data: { a: 'ifconfig-push 10.140.0.2 255.255.255.0\n' },
      });
      // WHEN it is deleted (twice: missing is not an error)
      await cluster.delete({ kind: 'ConfigMap', namespace: 'vpn-contract-a', name: 'legacy-ccd' });
      await cluster.delete({ kind: 'ConfigMap', namespace: 'vpn-contract-a', name: 'legacy-ccd' });
      // THEN it is gone, and a late writer's key patch is refused, not stored
      expect(await cluster.readConfigMap('vpn-contract-a', 'legacy-ccd')).toBeUndefined();
      await expect(
        cluster.patchConfigMapData('vpn-contract-a', 'legacy-ccd', { b: 'late' }),
      ).rejects.toBeInstanceOf(NotFoundError);
      expect(await cluster.readConfigMap('vpn-contract-a', 'legacy-ccd')).toBeUndefined();
    });

    it('creates an immutable ConfigMap (a sealed state chunk), refuses any change of it, and lists it by its label with its creation time', async () => {
      // GIVEN a sealed chunk as the state writes it, created before the state that references it
      const before = Date.now();
      const chunk = stateChunkConfigMap(
        'vpn-contract-a',
        'state-chunk-0123456789abcdef-01234567',
        'H4sIAAAA',
      );
      await cluster.create(chunk);
      // THEN its data cannot be replaced or patched (the API server refuses: 422)
      const stored = await cluster.readConfigMap('vpn-contract-a', chunk.metadata.name);
      expect(stored?.data).toStrictEqual({ 'clients.json.gz.b64': 'H4sIAAAA' });
      await expect(
        cluster.replaceConfigMap(
          'vpn-contract-a',
          chunk.metadata.name,
          { 'clients.json.gz.b64': 'x' },
          stored?.resourceVersion ?? '',
        ),
      ).rejects.toBeInstanceOf(InputError);
      await expect(
        cluster.patchConfigMapData('vpn-contract-a', chunk.metadata.name, { other: 'x' }),
      ).rejects.toBeInstanceOf(InputError);
      expect((await cluster.readConfigMap('vpn-contract-a', chunk.metadata.name))?.data).toStrictEqual(
        stored?.data,
      );
      // AND the chunks' component label lists it, and only chunks, with its creation time (whole seconds)
      const listed = await cluster.list(
        'ConfigMap',
        'vpn-contract-a',
        'app.kubernetes.io/component=state-chunk',
      );
      expect(listed.map((o) => o.metadata.name)).toStrictEqual([chunk.metadata.name]);
      const created = listed.find((o) => o.metadata.name === chunk.metadata.name)?.metadata.creationTimestamp;
      expect(Date.parse(String(created))).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
      expect(Date.parse(String(created))).toBeLessThanOrEqual(Date.now() + 1000);
      await cluster.delete({ kind: 'ConfigMap', namespace: 'vpn-contract-a', name: chunk.metadata.name });
      expect(await cluster.readConfigMap('vpn-contract-a', chunk.metadata.name)).toBeUndefined();
    });

    it('refuses a replace at a stale resourceVersion, and a write into a missing namespace', async () => {
      const current = await cluster.readConfigMap('vpn-contract-a', 'ccd');
      await cluster.patchConfigMapData('vpn-contract-a', 'ccd', { stale: 'maker' });
      await expect(
        cluster.replaceConfigMap('vpn-contract-a', 'ccd', {}, current?.resourceVersion ?? ''),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await cluster.readConfigMap('vpn-contract-a', 'ccd'))?.data['stale']).toBe('maker');
      const [, server] = gateway('contract-a');
      const elsewhere = { ...server!, metadata: { ...server!.metadata, namespace: 'vpn-nowhere' } };
      await expect(cluster.create(elsewhere)).rejects.toBeInstanceOf(NotFoundError);
    });

    it.each([
      ['apply', (o: KubeObject) => cluster.apply([o])],
      ['create', (o: KubeObject) => cluster.create(o)],
      [
        'patch',
        (o: KubeObject) =>
          cluster.patchConfigMapData('vpn-contract-a', 'ccd', o['data'] as Record<string, string>),
      ],
    ])(
      'refuses an object the API server does not accept (%s: a data key with a space) as InputError, and stores nothing',
      async (_verb, write) => {
        // GIVEN a ConfigMap whose data key the API server's validation refuses (422)
        const invalid: KubeObject = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'invalid-data-key', namespace: 'vpn-contract-a' },
          data: { 'bad key': 'x' },
        };
        const before = await cluster.readConfigMap('vpn-contract-a', 'ccd');
        // WHEN written THEN refused as the caller's fault, and nothing changed
        await expect(write(invalid)).rejects.toBeInstanceOf(InputError);
        expect(await cluster.readConfigMap('vpn-contract-a', 'invalid-data-key')).toBeUndefined();
        expect(await cluster.readConfigMap('vpn-contract-a', 'ccd')).toStrictEqual(before);
      },
    );

    if (kind === 'adapter')
      describe('the adapter at the network', () => {
        const net = (): AdapterTarget => {
          if (!adapter) throw new Error('no API server under test');
          return adapter;
        };
        it('lands read-modify-writes of two processes racing on one ConfigMap (409, read, write again)', async () => {
          const ns = 'vpn-contract-a';
          // A second host: its own adapter, its own queue and remembered versions.
          const other = new KubeCluster({ kubeConfig: net().kubeConfig, fieldManager: 'aks-vpn-gateways' });
          const bump = (c: { data: Readonly<Record<string, string>> }) => ({
            ...c.data,
            n: String(Number(c.data['n']) + 1),
          });
          const before = Number((await cluster.readConfigMap(ns, 'queued'))?.data['n']);
          await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              (i % 2 ? other : cluster).updateConfigMap(ns, 'queued', bump),
            ),
          );
          expect(Number((await cluster.readConfigMap(ns, 'queued'))?.data['n'])).toBe(before + 20);
          // GIVEN the other host wrote last, WHEN this one refuses on the version it remembers, THEN it
          // asks again on the current one (a refusal never rests on a version the server did not confirm)
          await other.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, owner: 'other' }));
          await cluster.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, mine: 'remembered' }));
          await other.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, owner: 'other again' }));
          const after = await cluster.updateConfigMap(ns, 'queued', (c) => {
            if (c.data['owner'] !== 'other again') throw new Error('refused on a stale version');
            return { ...c.data, owner: 'this' };
          });
          expect(after.data['owner']).toBe('this');
          // AND a read refreshes what it remembers: the next write goes out without a refused attempt
          await other.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, owner: 'other, last' }));
          await cluster.readConfigMap(ns, 'queued');
          requests = 0;
          await cluster.updateConfigMap(ns, 'queued', (c) => ({ ...c.data, owner: 'this, last' }));
          expect(requests).toBe(1);
        });

        it.each([
          ['apply', (o: KubeObject) => cluster.apply([o])],
          ['create', (o: KubeObject) => cluster.create(o)],
        ])(
          'maps the 422 of an invalid object (%s) to InputError, and stores nothing',
          async (verb, write) => {
            // GIVEN a ConfigMap with a key the API's validation refuses (a ConfigMap, because creating one is
            // the only create the product's ClusterRole grants)
            const invalid: KubeObject = {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: { name: 'invalid-key', namespace: 'vpn-contract-a' },
              data: { 'bad key': 'x' },
            };
            requests = 0;
            // WHEN written THEN one request, refused as the caller's fault with the server's own words
            const error = await write(invalid).catch((e: unknown) => e);
            expect(error).toBeInstanceOf(InputError);
            expect((error as InputError).message).toBe(
              `the Kubernetes API rejected it: ${verb} ConfigMap vpn-contract-a/invalid-key: ConfigMap "invalid-key" is invalid: ` +
                `data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.' ` +
                "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            );
            expect(requests).toBe(1);
            expect(await cluster.readConfigMap('vpn-contract-a', 'invalid-key')).toBeUndefined();
          },
        );

        it.each([
          ['a 500', { status: 500 }],
          ['a 429', { status: 429 }],
          ['a connection reset', { reset: true }],
        ])('retries %s and succeeds', async (_case, fault) => {
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 1, ...fault });
          try {
            expect((await cluster.readConfigMap('vpn-contract-a', 'server'))?.data['server.conf']).toContain(
              'port 443',
            );
          } finally {
            net().clearFaults();
          }
        });

        it('maps an injected 409 on a write to ConflictError without retrying, and survives a delay', async () => {
          net().injectFault({ method: 'PATCH', path: /\/configmaps\/ccd$/, nth: 1, status: 409 });
          try {
            await expect(
              cluster.patchConfigMapData('vpn-contract-a', 'ccd', { beta: 'x' }),
            ).rejects.toBeInstanceOf(ConflictError);
          } finally {
            net().clearFaults();
          }
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 1, delayMs: 300 });
          try {
            const started = Date.now();
            expect((await cluster.readConfigMap('vpn-contract-a', 'server'))?.data['server.conf']).toContain(
              'port 443',
            );
            console.log(`${name}: read through a 300 ms injected delay took ${Date.now() - started} ms`);
          } finally {
            net().clearFaults();
          }
        });

        it('aborts a request the server does not answer in time and retries it', async () => {
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 1, delayMs: STALL_MS });
          try {
            requests = 0;
            expect(
              (await impatient.readConfigMap('vpn-contract-a', 'server'))?.data['server.conf'],
            ).toContain('port 443');
            expect(requests).toBe(2);
          } finally {
            net().clearFaults();
          }
        });

        it('gives up on a server that never answers with a transient UpstreamError', async () => {
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 1, delayMs: STALL_MS });
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 2, delayMs: STALL_MS });
          try {
            requests = 0;
            const error = await impatient.readConfigMap('vpn-contract-a', 'server').catch((e: unknown) => e);
            expect(error).toBeInstanceOf(UpstreamError);
            expect(error).toMatchObject({
              transient: true,
              message: `read ConfigMap vpn-contract-a/server: no answer within ${REQUEST_TIMEOUT_MS} ms`,
            });
            expect(requests).toBe(2);
          } finally {
            net().clearFaults();
          }
        });

        it('gives up on a persistent 503 with a transient UpstreamError', async () => {
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 1, status: 503 });
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 2, status: 503 });
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 3, status: 503 });
          net().injectFault({ method: 'GET', path: /\/configmaps\/server$/, nth: 4, status: 503 });
          try {
            const error = await cluster.readConfigMap('vpn-contract-a', 'server').catch((e: unknown) => e);
            expect(error).toBeInstanceOf(UpstreamError);
            expect((error as UpstreamError).transient).toBe(true);
          } finally {
            net().clearFaults();
          }
        });
      });

    it('deletes a namespace and sees it gone', async () => {
      await cluster.apply(gateway('contract-b').slice(0, 2));
      expect(await cluster.namespaceExists('vpn-contract-b')).toBe(true);
      await cluster.deleteNamespace('vpn-contract-b');
      await eventually(
        () => cluster.namespaceExists('vpn-contract-b'),
        (exists) => !exists,
        120_000,
      );
      expect(await cluster.readConfigMap('vpn-contract-b', 'server')).toBeUndefined();
    });
  });
}
