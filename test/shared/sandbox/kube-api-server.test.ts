// The sandbox Kubernetes API server, driven by the real @kubernetes/client-node 1.4 clients: discovery,
// CRUD, resourceVersion semantics, selectors, every patch type, server-side apply, and Status errors.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, failureOf, patchAs, startWithClients, type SandboxClients } from './sandbox-clients.js';

let c: SandboxClients;
const ns = 'vpn-crud';

beforeAll(async () => {
  c = await startWithClients();
  await c.core.createNamespace({ body: { metadata: { name: ns } } });
});
afterAll(async () => {
  await c?.server.close();
});

const deploymentBody = (name: string, image = 'registry.example/openvpn:2.6'): k8s.V1Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'openvpn', image, ports: [{ containerPort: 443 }] }] },
    },
  },
});

describe('discovery', () => {
  it('serves the API resource lists client-node resolves kinds from', async () => {
    // GIVEN the generic object client (it discovers resources before each first use of a kind)
    // WHEN it reads objects of core and apps kinds
    const namespace = await c.objects.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    // THEN discovery resolved plural names and scopes
    expect(namespace.metadata?.name).toBe(ns);
    const core = await c.kc.makeApiClient(k8s.CoreV1Api).getAPIResources();
    expect(core.resources.map((r) => [r.name, r.namespaced, r.kind])).toEqual(
      expect.arrayContaining([
        ['namespaces', false, 'Namespace'],
        ['configmaps', true, 'ConfigMap'],
        ['secrets', true, 'Secret'],
        ['services', true, 'Service'],
      ]),
    );
    const apps = await c.kc.makeApiClient(k8s.AppsV1Api).getAPIResources();
    expect(apps.resources.map((r) => r.name)).toStrictEqual(['deployments', 'deployments/status']);
    const version = await c.kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.major).toBe('1');
    const groups = await c.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    expect(groups.groups.map((g) => g.name)).toStrictEqual(['apps']);
  });
});

describe('CRUD and resourceVersion', () => {
  it('creates, reads, replaces and deletes a ConfigMap, bumping resourceVersion on every write', async () => {
    // GIVEN a new ConfigMap
    const created = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'crud' }, data: { a: '1' } },
    });
    const rv1 = Number(created.metadata?.resourceVersion);
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    // WHEN it is replaced with the current resourceVersion
    const replaced = await c.core.replaceNamespacedConfigMap({
      name: 'crud',
      namespace: ns,
      body: { metadata: { name: 'crud', resourceVersion: String(rv1) }, data: { a: '2' } },
    });
    // THEN the version moved forward and the data changed
    expect(Number(replaced.metadata?.resourceVersion)).toBeGreaterThan(rv1);
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);
    const read = await c.core.readNamespacedConfigMap({ name: 'crud', namespace: ns });
    expect(read.data).toStrictEqual({ a: '2' });
    // WHEN it is deleted THEN the server answers with a Success Status and it is gone
    const status = await c.core.deleteNamespacedConfigMap({ name: 'crud', namespace: ns });
    expect(status.status).toBe('Success');
    expect((await failureOf(c.core.readNamespacedConfigMap({ name: 'crud', namespace: ns }))).code).toBe(404);
  });

  it('leaves resourceVersion alone when a write changes nothing', async () => {
    // GIVEN a ConfigMap
    const created = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'noop' }, data: { a: '1' } },
    });
    // WHEN it is replaced with identical content
    const replaced = await c.core.replaceNamespacedConfigMap({
      name: 'noop',
      namespace: ns,
      body: { metadata: { name: 'noop' }, data: { a: '1' } },
    });
    // THEN no new version was written
    expect(replaced.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
  });

  it('rejects a replace with a stale resourceVersion with 409 Conflict', async () => {
    // GIVEN a ConfigMap updated once after we read it
    const created = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'stale' }, data: { a: '1' } },
    });
    const stale = created.metadata?.resourceVersion;
    await c.core.replaceNamespacedConfigMap({
      name: 'stale',
      namespace: ns,
      body: { metadata: { name: 'stale' }, data: { a: '2' } },
    });
    // WHEN we replace it with the old version
    const f = await failureOf(
      c.core.replaceNamespacedConfigMap({
        name: 'stale',
        namespace: ns,
        body: { metadata: { name: 'stale', resourceVersion: stale }, data: { a: '3' } },
      }),
    );
    // THEN 409 Conflict, as a Status
    expect(f).toStrictEqual({
      code: 409,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
        reason: 'Conflict',
        details: { name: 'stale', kind: 'configmaps' },
        code: 409,
      },
    });
  });

  it('rejects creating an existing object with 409 AlreadyExists', async () => {
    // GIVEN an existing Secret
    await c.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'dup' }, stringData: { k: 'v' } },
    });
    // WHEN it is created again
    const f = await failureOf(
      c.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'dup' }, stringData: { k: 'v' } },
      }),
    );
    // THEN 409 AlreadyExists
    expect(f).toStrictEqual({
      code: 409,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'secrets "dup" already exists',
        reason: 'AlreadyExists',
        details: { name: 'dup', kind: 'secrets' },
        code: 409,
      },
    });
  });

  it('refuses to create an object that carries a resourceVersion, as the real storage layer does', async () => {
    const read = await c.core.readNamespace({ name: ns });
    const f = await failureOf(
      c.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'with-rv', resourceVersion: read.metadata?.resourceVersion } },
      }),
    );
    expect([f.code, f.status.message]).toStrictEqual([
      500,
      'resourceVersion should not be set on objects to be created',
    ]);
  });

  it('folds Secret stringData into base64 data and defaults the type', async () => {
    // WHEN a Secret is created with stringData
    const s = await c.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'pki' },
        stringData: { 'ca.crt': 'PEM' },
        data: { other: Buffer.from('x').toString('base64') },
      },
    });
    // THEN it is stored as data, Opaque
    expect(s.data).toStrictEqual({ 'ca.crt': Buffer.from('PEM').toString('base64'), other: 'eA==' });
    expect(s.stringData).toBeUndefined();
    expect(s.type).toBe('Opaque');
  });

  it('answers 404 NotFound as a Status, also for objects in a missing namespace', async () => {
    const missing = await failureOf(c.core.readNamespacedService({ name: 'nope', namespace: ns }));
    expect(missing).toStrictEqual({
      code: 404,
      status: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'services "nope" not found',
        reason: 'NotFound',
        details: { name: 'nope', kind: 'services' },
        code: 404,
      },
    });
    const noNamespace = await failureOf(
      c.core.createNamespacedConfigMap({ namespace: 'no-such-ns', body: { metadata: { name: 'x' } } }),
    );
    expect(noNamespace.code).toBe(404);
    expect(noNamespace.status.message).toBe('namespaces "no-such-ns" not found');
    const deployment = await failureOf(c.apps.readNamespacedDeployment({ name: 'nope', namespace: ns }));
    expect(deployment.status.message).toBe('deployments.apps "nope" not found');
    expect(deployment.status.details).toStrictEqual({ name: 'nope', group: 'apps', kind: 'deployments' });
  });

  it('rejects a delete whose resourceVersion precondition is stale', async () => {
    const cm = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'predel' } },
    });
    await c.core.patchNamespacedConfigMap(
      { name: 'predel', namespace: ns, body: { data: { x: '1' } } },
      patchAs(k8s.PatchStrategy.MergePatch),
    );
    const f = await failureOf(
      c.core.deleteNamespacedConfigMap({
        name: 'predel',
        namespace: ns,
        body: { preconditions: { resourceVersion: cm.metadata?.resourceVersion } },
      }),
    );
    expect([f.code, f.status.reason]).toStrictEqual([409, 'Conflict']);
  });

  it('allocates a cluster IP and defaults ports on Services', async () => {
    const svc = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'pm-8081' }, spec: { selector: { app: 'x' }, ports: [{ port: 8081 }] } },
    });
    expect(svc.spec?.clusterIP).toMatch(/^10\.0\.\d+\.\d+$/);
    expect(svc.spec?.type).toBe('ClusterIP');
    expect(svc.spec?.ports).toEqual([{ port: 8081, protocol: 'TCP', targetPort: 8081 }]);
  });
});

describe('validation (422 Invalid) and malformed requests (400)', () => {
  it.each([
    {
      what: 'a ConfigMap without a name',
      call: () => c.core.createNamespacedConfigMap({ namespace: ns, body: { data: {} } }),
      field: 'metadata.name',
      reason: 'FieldValueRequired',
    },
    {
      what: 'a ConfigMap with an invalid name',
      call: () =>
        c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'Bad_Name' } } }),
      field: 'metadata.name',
      reason: 'FieldValueInvalid',
    },
    {
      what: 'a ConfigMap with an invalid key',
      call: () =>
        c.core.createNamespacedConfigMap({
          namespace: ns,
          body: { metadata: { name: 'badkey' }, data: { 'a/b': 'x' } },
        }),
      field: 'data[a/b]',
      reason: 'FieldValueInvalid',
    },
    {
      what: 'a ConfigMap over 1 MiB',
      call: () =>
        c.core.createNamespacedConfigMap({
          namespace: ns,
          body: { metadata: { name: 'big' }, data: { a: 'x'.repeat(1024 * 1024 + 1) } },
        }),
      field: '[]',
      reason: 'FieldValueTooLong',
    },
    {
      what: 'a Deployment without containers',
      call: () => {
        const d = deploymentBody('nocontainers');
        d.spec!.template.spec!.containers = [];
        return c.apps.createNamespacedDeployment({ namespace: ns, body: d });
      },
      field: 'spec.template.spec.containers',
      reason: 'FieldValueRequired',
    },
    {
      what: 'a Deployment whose selector does not match its template',
      call: () => {
        const d = deploymentBody('mismatch');
        d.spec!.selector = { matchLabels: { app: 'other' } };
        return c.apps.createNamespacedDeployment({ namespace: ns, body: d });
      },
      field: 'spec.template.metadata.labels',
      reason: 'FieldValueInvalid',
    },
    {
      what: 'a container without an image',
      call: () => {
        const d = deploymentBody('noimage');
        d.spec!.template.spec!.containers = [{ name: 'openvpn' }];
        return c.apps.createNamespacedDeployment({ namespace: ns, body: d });
      },
      field: 'spec.template.spec.containers[0].image',
      reason: 'FieldValueRequired',
    },
    {
      what: 'a Service without ports',
      call: () =>
        c.core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'noports' }, spec: {} } }),
      field: 'spec.ports',
      reason: 'FieldValueRequired',
    },
    {
      what: 'a Service with a bad source range',
      call: () =>
        c.core.createNamespacedService({
          namespace: ns,
          body: {
            metadata: { name: 'badrange' },
            spec: { type: 'LoadBalancer', ports: [{ port: 443 }], loadBalancerSourceRanges: ['10.0.0.0/33'] },
          },
        }),
      field: 'spec.LoadBalancerSourceRanges',
      reason: 'FieldValueInvalid',
    },
  ])('rejects $what with 422 Invalid', async ({ call, field, reason }) => {
    const f = await failureOf(call());
    expect(f.code).toBe(422);
    expect(f.status).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
    });
    const details = f.status.details as { causes: { field: string; reason: string }[] };
    expect(details.causes.map((x) => [x.field, x.reason])).toContainEqual([field, reason]);
  });

  it('rejects a body that is not JSON with 400 BadRequest', async () => {
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/configmaps`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect([res.status, body.kind, body.reason, body.code]).toStrictEqual([400, 'Status', 'BadRequest', 400]);
  });

  it('rejects a field of the wrong JSON type with 400, as decoding does', async () => {
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/services`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metadata: { name: 'typed' }, spec: { ports: [{ port: '443' }] } }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect([res.status, body.reason, body.message]).toStrictEqual([
      400,
      'BadRequest',
      'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field Service.spec.ports.port of type int32',
    ]);
  });

  it('rejects a body whose namespace differs from the URL with 400', async () => {
    const f = await failureOf(
      c.core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'x', namespace: 'other' } },
      }),
    );
    expect([f.code, f.status.reason]).toStrictEqual([400, 'BadRequest']);
  });

  it('rejects an unsupported patch content type with 415', async () => {
    await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'p415' } } });
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/configmaps/p415`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toStrictEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: '415: Unsupported Media Type',
      reason: 'UnsupportedMediaType',
      details: {},
      code: 415,
    });
  });

  it('rejects a Deployment selector change as immutable', async () => {
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('immutable') });
    const d = deploymentBody('immutable');
    d.spec!.selector = { matchLabels: { app: 'immutable', tier: 'x' } };
    d.spec!.template.metadata!.labels = { app: 'immutable', tier: 'x' };
    const f = await failureOf(
      c.apps.replaceNamespacedDeployment({ name: 'immutable', namespace: ns, body: d }),
    );
    expect([f.code, f.status.message]).toStrictEqual([
      422,
      expect.stringContaining('spec.selector: Invalid value') as unknown,
    ]);
  });
});

describe('label and field selectors', () => {
  beforeAll(async () => {
    const labelled: [string, Record<string, string>][] = [
      ['sel-a', { app: 'vpn', tier: 'server' }],
      ['sel-b', { app: 'vpn', tier: 'state' }],
      ['sel-c', { app: 'other' }],
      ['sel-d', {}],
    ];
    for (const [name, labels] of labelled) {
      await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels } } });
    }
  });

  it.each([
    { selector: 'app=vpn', names: ['sel-a', 'sel-b'] },
    { selector: 'app==vpn,tier=state', names: ['sel-b'] },
    { selector: 'app!=vpn', names: ['sel-c', 'sel-d'] },
    { selector: 'tier in (server, state)', names: ['sel-a', 'sel-b'] },
    { selector: 'app notin (vpn)', names: ['sel-c', 'sel-d'] },
    { selector: 'tier', names: ['sel-a', 'sel-b'] },
    { selector: '!tier', names: ['sel-c', 'sel-d'] },
    { selector: 'app in (vpn,other),!tier', names: ['sel-c'] },
  ])('lists with labelSelector "$selector"', async ({ selector, names }) => {
    const list = await c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: selector });
    expect(list.items.map((i) => i.metadata?.name).filter((n) => n?.startsWith('sel-'))).toStrictEqual(names);
  });

  it('lists by metadata.name field selector and across namespaces', async () => {
    const byName = await c.core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.name=sel-a' });
    expect(byName.items.map((i) => [i.metadata?.namespace, i.metadata?.name])).toStrictEqual([[ns, 'sel-a']]);
  });

  it('rejects a malformed selector with 400', async () => {
    const f = await failureOf(
      c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'app in (vpn' }),
    );
    expect([f.code, f.status.reason]).toStrictEqual([400, 'BadRequest']);
  });

  it('pages with limit and continue', async () => {
    const first = await c.core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'app', limit: 2 });
    expect(first.items.map((i) => i.metadata?.name)).toStrictEqual(['sel-a', 'sel-b']);
    const rest = await c.core.listNamespacedConfigMap({
      namespace: ns,
      labelSelector: 'app',
      limit: 2,
      _continue: first.metadata?._continue,
    });
    expect(rest.items.map((i) => i.metadata?.name)).toStrictEqual(['sel-c']);
    expect(rest.metadata?._continue).toBeUndefined();
  });
});

describe('patches', () => {
  it('merges maps with a JSON merge patch and removes keys set to null', async () => {
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'mp' }, data: { a: '1', b: '2' } },
    });
    const patched = await c.core.patchNamespacedConfigMap(
      { name: 'mp', namespace: ns, body: { data: { b: null, c: '3' }, metadata: { labels: { x: 'y' } } } },
      patchAs(k8s.PatchStrategy.MergePatch),
    );
    expect(patched.data).toStrictEqual({ a: '1', c: '3' });
    expect(patched.metadata?.labels).toStrictEqual({ x: 'y' });
  });

  it('rejects a merge patch carrying a stale resourceVersion with 409', async () => {
    const cm = await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'mprv' } },
    });
    await c.core.patchNamespacedConfigMap(
      { name: 'mprv', namespace: ns, body: { data: { a: '1' } } },
      patchAs(k8s.PatchStrategy.MergePatch),
    );
    const f = await failureOf(
      c.core.patchNamespacedConfigMap(
        {
          name: 'mprv',
          namespace: ns,
          body: { metadata: { resourceVersion: cm.metadata?.resourceVersion }, data: { a: '2' } },
        },
        patchAs(k8s.PatchStrategy.MergePatch),
      ),
    );
    expect([f.code, f.status.reason]).toStrictEqual([409, 'Conflict']);
  });

  it('merges pod template annotations with a strategic merge patch and bumps generation', async () => {
    const created = await c.apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('smp') });
    expect(created.metadata?.generation).toBe(1);
    const patched = await c.apps.patchNamespacedDeployment(
      {
        name: 'smp',
        namespace: ns,
        body: {
          spec: {
            template: {
              metadata: { annotations: { 'vpn.aks-gateways.io/config-hash': 'abc' } },
              spec: { containers: [{ name: 'openvpn', image: 'registry.example/openvpn:2.7' }] },
            },
          },
        },
      },
      patchAs(k8s.PatchStrategy.StrategicMergePatch),
    );
    expect(patched.metadata?.generation).toBe(2);
    expect(patched.spec?.template.metadata?.annotations).toStrictEqual({
      'vpn.aks-gateways.io/config-hash': 'abc',
    });
    // containers merge by name: the port of the existing container survives
    expect(
      patched.spec?.template.spec?.containers.map((x) => [x.name, x.image, x.ports?.[0]?.containerPort]),
    ).toStrictEqual([['openvpn', 'registry.example/openvpn:2.7', 443]]);
  });

  it('does not bump generation for a label-only change', async () => {
    await c.apps.createNamespacedDeployment({ namespace: ns, body: deploymentBody('labels-only') });
    const patched = await c.apps.patchNamespacedDeployment(
      { name: 'labels-only', namespace: ns, body: { metadata: { labels: { a: 'b' } } } },
      patchAs(k8s.PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.generation).toBe(1);
  });

  it('applies a JSON patch, and answers 422 when a test operation fails', async () => {
    await c.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'jp' }, data: { a: '1' } },
    });
    const patched = await c.core.patchNamespacedConfigMap(
      {
        name: 'jp',
        namespace: ns,
        body: [
          { op: 'test', path: '/data/a', value: '1' },
          { op: 'add', path: '/data/b', value: '2' },
          { op: 'remove', path: '/data/a' },
        ],
      },
      patchAs(k8s.PatchStrategy.JsonPatch),
    );
    expect(patched.data).toStrictEqual({ b: '2' });
    const f = await failureOf(
      c.core.patchNamespacedConfigMap(
        { name: 'jp', namespace: ns, body: [{ op: 'test', path: '/data/b', value: 'nope' }] },
        patchAs(k8s.PatchStrategy.JsonPatch),
      ),
    );
    expect([f.code, f.status.kind]).toStrictEqual([422, 'Status']);
  });

  it('answers 404 when patching a missing object (non-apply)', async () => {
    const f = await failureOf(
      c.core.patchNamespacedConfigMap(
        { name: 'missing', namespace: ns, body: { data: { a: '1' } } },
        patchAs(k8s.PatchStrategy.MergePatch),
      ),
    );
    expect(f.code).toBe(404);
  });
});

describe('server-side apply', () => {
  const apply = (o: k8s.KubernetesObject, manager = 'vpn-api', force = true) =>
    c.objects.patch(o, undefined, undefined, manager, force, k8s.PatchStrategy.ServerSideApply);

  it('creates, updates, and removes the fields its manager stopped setting', async () => {
    // GIVEN an apply that creates a ConfigMap with labels, annotations and data
    const first = await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ssa', namespace: ns, labels: { a: '1', b: '2' }, annotations: { n: 'x' } },
      data: { k1: 'v1', k2: 'v2' },
    } as k8s.KubernetesObject);
    expect(first.metadata?.managedFields?.map((m) => [m.manager, m.operation])).toStrictEqual([
      ['vpn-api', 'Apply'],
    ]);
    // WHEN the same manager applies without label b, the annotation and k2
    const second = (await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ssa', namespace: ns, labels: { a: '1' } },
      data: { k1: 'v1' },
    } as k8s.KubernetesObject)) as k8s.V1ConfigMap;
    // THEN those fields are gone
    expect(second.metadata?.labels).toStrictEqual({ a: '1' });
    expect(second.metadata?.annotations).toBeUndefined();
    expect(second.data).toStrictEqual({ k1: 'v1' });
  });

  it('is a no-op (same resourceVersion) when re-applied unchanged', async () => {
    // GIVEN an applied Deployment whose rollout finished (the controller's status writes are over)
    const d = deploymentBody('ssa-noop');
    await apply(d);
    const settled = await eventually(async () => {
      const r = await c.apps.readNamespacedDeployment({ name: 'ssa-noop', namespace: ns });
      return r.status?.availableReplicas === 1 ? r : undefined;
    });
    // WHEN the same configuration is applied again
    const again = await apply(d);
    // THEN nothing was written
    expect(again.metadata?.resourceVersion).toBe(settled.metadata?.resourceVersion);
    expect(again.metadata?.generation).toBe(1);
  });

  it('keeps fields another manager set, and reports conflicts unless forced', async () => {
    // GIVEN a ConfigMap applied by vpn-api, then a key added by another writer (an Update)
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ssa-own', namespace: ns },
      data: { a: '1' },
    } as k8s.KubernetesObject);
    await c.core.patchNamespacedConfigMap(
      { name: 'ssa-own', namespace: ns, body: { data: { a: 'changed', other: 'kept' } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    // WHEN vpn-api applies its value again without force
    const f = await failureOf(
      apply(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'ssa-own', namespace: ns },
          data: { a: '1' },
        } as k8s.KubernetesObject,
        'vpn-api',
        false,
      ),
    );
    // THEN 409 Conflict names the other manager and the field
    expect(f.code).toBe(409);
    expect(f.status.reason).toBe('Conflict');
    const causes = (f.status.details as { causes: { reason: string; message: string; field: string }[] })
      .causes;
    expect(causes.map((x) => [x.reason, x.field])).toStrictEqual([['FieldManagerConflict', '.data.a']]);
    expect(causes[0]?.message).toBe('conflict with "node-fetch" using v1');
    // WHEN forced THEN vpn-api's value wins and the other writer's key stays
    const forced = (await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ssa-own', namespace: ns },
      data: { a: '1' },
    } as k8s.KubernetesObject)) as k8s.V1ConfigMap;
    expect(forced.data).toStrictEqual({ a: '1', other: 'kept' });
  });

  it('owns container fields item by item: keeps what another manager added, names the item in conflicts', async () => {
    // GIVEN a Deployment applied by vpn-api, and an env var added to its container by another writer
    const d = deploymentBody('ssa-items');
    await apply(d);
    await c.apps.patchNamespacedDeployment(
      {
        name: 'ssa-items',
        namespace: ns,
        body: {
          spec: {
            template: { spec: { containers: [{ name: 'openvpn', env: [{ name: 'DEBUG', value: '1' }] }] } },
          },
        },
      },
      patchAs(k8s.PatchStrategy.StrategicMergePatch),
    );
    // WHEN vpn-api re-applies its configuration
    const again = (await apply(d)) as k8s.V1Deployment;
    // THEN the other writer's env var is still there (it owns that item)
    expect(again.spec?.template.spec?.containers[0]?.env).toEqual([{ name: 'DEBUG', value: '1' }]);
    const owners = again.metadata?.managedFields?.map((m) => m.manager);
    expect(owners).toStrictEqual(['vpn-api', 'node-fetch']);
    // WHEN another applier sets a different image without force THEN the conflict names the container
    const other = deploymentBody('ssa-items', 'registry.example/openvpn:9.9');
    const f = await failureOf(apply(other, 'someone-else', false));
    const causes = (f.status.details as { causes: { field: string }[] }).causes;
    expect(causes.map((x) => x.field)).toStrictEqual([
      '.spec.template.spec.containers[name="openvpn"].image',
    ]);
  });

  it('rejects an apply without fieldManager with 422', async () => {
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/configmaps/nomgr`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/apply-patch+yaml' },
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nomgr\n',
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { message: string }).message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  });

  it('accepts YAML apply bodies', async () => {
    const res = await fetch(`${c.server.url}/api/v1/namespaces/${ns}/configmaps/yaml?fieldManager=kubectl`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/apply-patch+yaml' },
      body: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: yaml\ndata:\n  a: "1"\n',
    });
    expect(res.status).toBe(201);
    const read = await c.core.readNamespacedConfigMap({ name: 'yaml', namespace: ns });
    expect(read.data).toStrictEqual({ a: '1' });
  });

  it('keeps the Service cluster IP and node port across re-applies', async () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'openvpn', namespace: ns },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'x' },
        ports: [{ name: 'vpn', port: 443, targetPort: 443 }],
      },
    } as k8s.KubernetesObject;
    const first = (await apply(svc)) as k8s.V1Service;
    const second = (await apply(svc)) as k8s.V1Service;
    expect(second.spec?.clusterIP).toBe(first.spec?.clusterIP);
    expect(second.spec?.ports?.[0]?.nodePort).toBe(first.spec?.ports?.[0]?.nodePort);
    expect(first.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
  });
});
