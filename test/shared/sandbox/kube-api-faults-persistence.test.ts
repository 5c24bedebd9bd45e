// Fault injection (fail the Nth matching request, delay, reset), persistence of the object store across a
// restart, watches, and request recording of the sandbox API server, through the real client-node clients.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, failureOf, startWithClients, type SandboxClients } from './sandbox-clients.js';

describe('fault injection', () => {
  let c: SandboxClients;
  const ns = 'vpn-faults';
  beforeAll(async () => {
    c = await startWithClients();
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'state' }, data: { a: '1' } },
    });
  });
  afterEach(() => c.server.faults.clear());
  afterAll(async () => {
    await c?.server.close();
  });

  const readState = () => c.core.readNamespacedConfigMap({ name: 'state', namespace: ns });

  it.each([
    { status: 409, reason: 'Conflict' },
    { status: 429, reason: 'TooManyRequests' },
    { status: 500, reason: 'InternalError' },
    { status: 503, reason: 'ServiceUnavailable' },
  ])('fails only the nth matching request with $status $reason', async ({ status, reason }) => {
    // GIVEN a fault on the 2nd GET of the state ConfigMap
    const fault = c.server.faults.add({ method: 'GET', path: /\/configmaps\/state$/, nth: 2, status });
    // WHEN it is read three times
    await readState();
    const f = await failureOf(readState());
    await readState();
    // THEN only the second read failed, with a Status body of that code
    expect(f.code).toBe(status);
    expect(f.status).toMatchObject({ kind: 'Status', status: 'Failure', reason, code: status });
    expect([fault.matched, fault.triggered]).toStrictEqual([3, 1]);
  });

  it('sends Retry-After with 429', async () => {
    c.server.faults.add({ path: /\/configmaps\/state$/, status: 429, retryAfterSeconds: 3 });
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/configmaps/state`);
    expect([res.status, res.headers.get('retry-after')]).toStrictEqual([429, '3']);
    const body = (await res.json()) as { details: unknown };
    expect(body.details).toStrictEqual({ retryAfterSeconds: 3 });
  });

  it('fails several consecutive requests with times', async () => {
    c.server.faults.add({ path: /\/configmaps\/state$/, status: 500, times: 2 });
    expect((await failureOf(readState())).code).toBe(500);
    expect((await failureOf(readState())).code).toBe(500);
    expect((await readState()).data).toStrictEqual({ a: '1' });
  });

  it('resets the connection', async () => {
    c.server.faults.add({ path: /\/configmaps\/state$/, reset: true });
    await expect(readState()).rejects.toThrow();
    expect((await readState()).data).toStrictEqual({ a: '1' });
  });

  it('delays a request and then serves it', async () => {
    c.server.faults.add({ path: /\/configmaps\/state$/, delayMs: 150 });
    const started = Date.now();
    const read = await readState();
    console.log(`delayed read took ${Date.now() - started} ms (fault delay 150 ms)`);
    expect(read.data).toStrictEqual({ a: '1' });
  });

  it('does not apply a write that was failed by a fault', async () => {
    c.server.faults.add({ method: 'PUT', path: /\/configmaps\/state$/, status: 500 });
    const before = await readState();
    await failureOf(
      c.core.replaceNamespacedConfigMap({
        name: 'state',
        namespace: ns,
        body: { ...before, data: { a: 'lost' } },
      }),
    );
    const after = await readState();
    expect([after.data, after.metadata?.resourceVersion]).toStrictEqual([
      before.data,
      before.metadata?.resourceVersion,
    ]);
  });

  it('records every request with method, path and content type', async () => {
    c.server.clearRequests();
    await c.core.patchNamespacedConfigMap(
      { name: 'state', namespace: ns, body: { data: { b: '2' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    expect(c.server.requests().map((r) => [r.method, r.path, r.contentType, r.status])).toStrictEqual([
      ['PATCH', `/api/v1/namespaces/${ns}/configmaps/state`, 'application/merge-patch+json', 200],
    ]);
  });
});

describe('persistence', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sandbox-kube-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps objects, versions and rollout state across a restart', async () => {
    // GIVEN a server with a dataDir holding a namespace, a ConfigMap and a completed Deployment
    const first = await startWithClients({ dataDir });
    let rv: string | undefined;
    let uid: string | undefined;
    try {
      await first.core.createNamespace({ body: { metadata: { name: 'vpn-keep' } } });
      const cm = await first.core.createNamespacedConfigMap({
        namespace: 'vpn-keep',
        body: { metadata: { name: 'state' }, data: { clients: '[]' } },
      });
      uid = cm.metadata?.uid;
      await first.apps.createNamespacedDeployment({
        namespace: 'vpn-keep',
        body: {
          metadata: { name: 'openvpn' },
          spec: {
            selector: { matchLabels: { app: 'o' } },
            template: {
              metadata: { labels: { app: 'o' } },
              spec: { containers: [{ name: 'o', image: 'x:1' }] },
            },
          },
        },
      });
      await eventually(async () => {
        const d = await first.apps.readNamespacedDeployment({ name: 'openvpn', namespace: 'vpn-keep' });
        return d.status?.availableReplicas === 1 ? d : undefined;
      });
      rv = (await first.core.readNamespacedConfigMap({ name: 'state', namespace: 'vpn-keep' })).metadata
        ?.resourceVersion;
    } finally {
      await first.server.close();
    }
    // THEN only the store file is left behind (the temp file was renamed into place)
    expect(await readdir(dataDir)).toStrictEqual(['kube-api-store.json']);
    // WHEN a new server starts on the same dataDir
    const second = await startWithClients({ dataDir });
    try {
      // THEN the objects are back, unchanged
      const cm = await second.core.readNamespacedConfigMap({ name: 'state', namespace: 'vpn-keep' });
      expect([cm.data, cm.metadata?.uid, cm.metadata?.resourceVersion]).toStrictEqual([
        { clients: '[]' },
        uid,
        rv,
      ]);
      const d = await second.apps.readNamespacedDeployment({ name: 'openvpn', namespace: 'vpn-keep' });
      expect(d.status?.availableReplicas).toBe(1);
      // AND resourceVersions keep increasing from where they were
      const updated = await second.core.replaceNamespacedConfigMap({
        name: 'state',
        namespace: 'vpn-keep',
        body: { metadata: { name: 'state', resourceVersion: rv }, data: { clients: '[1]' } },
      });
      expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(rv));
    } finally {
      await second.server.close();
    }
  });
});

describe('watch', () => {
  it('streams ADDED, MODIFIED and DELETED events to client-node Watch', async () => {
    const c = await startWithClients();
    try {
      await c.core.createNamespace({ body: { metadata: { name: 'vpn-watch' } } });
      const list = await c.core.listNamespacedConfigMap({ namespace: 'vpn-watch' });
      const events: string[] = [];
      const watch = new k8s.Watch(c.kc);
      const req = await watch.watch(
        '/api/v1/namespaces/vpn-watch/configmaps',
        { resourceVersion: list.metadata?.resourceVersion },
        (type: string, obj: k8s.V1ConfigMap) => events.push(`${type} ${obj.metadata?.name}`),
        () => undefined,
      );
      try {
        await c.core.createNamespacedConfigMap({ namespace: 'vpn-watch', body: { metadata: { name: 'w' } } });
        await c.core.replaceNamespacedConfigMap({
          name: 'w',
          namespace: 'vpn-watch',
          body: { metadata: { name: 'w' }, data: { a: '1' } },
        });
        await c.core.deleteNamespacedConfigMap({ name: 'w', namespace: 'vpn-watch' });
        await eventually(() => Promise.resolve(events.length >= 3 ? true : undefined));
        expect(events).toStrictEqual(['ADDED w', 'MODIFIED w', 'DELETED w']);
      } finally {
        req.abort();
      }
    } finally {
      await c.server.close();
    }
  });
});

describe('large objects with persistence', () => {
  it('stores and replaces a ConfigMap close to the 1 MiB limit, saving each version', async () => {
    // GIVEN a server that persists to disk
    const dataDir = await mkdtemp(join(tmpdir(), 'sandbox-kube-big-'));
    const c = await startWithClients({ dataDir });
    try {
      await c.core.createNamespace({ body: { metadata: { name: 'vpn-big' } } });
      // A state ConfigMap of ~5,000 clients at ~180 bytes each (~900 KB)
      const clients = 'x'.repeat(900 * 1024);
      let cm = await c.core.createNamespacedConfigMap({
        namespace: 'vpn-big',
        body: { metadata: { name: 'state' }, data: { clients } },
      });
      // WHEN it is replaced repeatedly with resourceVersion preconditions
      const started = Date.now();
      const rounds = 10;
      for (let i = 0; i < rounds; i += 1) {
        cm = await c.core.replaceNamespacedConfigMap({
          name: 'state',
          namespace: 'vpn-big',
          body: {
            metadata: { name: 'state', resourceVersion: cm.metadata?.resourceVersion },
            data: { clients: `${i}${clients.slice(1)}` },
          },
        });
      }
      console.log(
        `replace of a 900 KB ConfigMap with persistence: ${((Date.now() - started) / rounds).toFixed(1)} ms each`,
      );
      // THEN the last version is what a restarted server reads
      await c.server.close();
      const again = await startWithClients({ dataDir });
      try {
        const read = await again.core.readNamespacedConfigMap({ name: 'state', namespace: 'vpn-big' });
        expect(read.data?.clients?.slice(0, 1)).toBe(String(rounds - 1));
        expect(read.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
      } finally {
        await again.server.close();
      }
    } finally {
      await c.server.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
