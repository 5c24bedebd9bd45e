import { describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../../../shared/errors.js';
import {
  deleteGateway,
  getGateway,
  listGateways,
  putGateway,
  restartGateway,
} from '../../../shared/gateways/gateways.js';
import { manifestInputOf } from '../../../shared/gateways/gateway-objects.js';
import { readServerPki } from '../../../shared/gateways/gateway-pki.js';
import { readState } from '../../../shared/gateways/gateway-state.js';
import { configHash } from '../../../shared/kube/manifests.js';
import { gatewayActivities } from '../../../shared/operations/activities.js';
import { readCertificateInfo } from '../../../shared/pki/index.js';
import { makeHarness } from './harness.js';

describe('putGateway', () => {
  it('creates every object, keeps the CA only in the secret store, and starts provisioning', async () => {
    // GIVEN an empty cluster
    const h = makeHarness();
    // WHEN a gateway is created with defaults
    const result = await putGateway(h.deps, 'branch-1', {});
    // THEN
    expect(result.created).toBe(true);
    expect(result.operationId).toBe('op-1');
    expect(h.operations.started).toStrictEqual([{ kind: 'provision', gateway: 'branch-1' }]);
    expect(result.gateway.routes).toStrictEqual(['10.0.0.0/16', '10.244.0.0/16']);
    expect(result.gateway.vpnSubnet).toBe('10.140.0.0/24');
    expect(result.gateway.port).toBe(443);
    const kinds = [...h.cluster.objects.values()].map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toStrictEqual(
      [
        ...Array.from({ length: 16 }, (_, i) => `ConfigMap/ccd-${i}`),
        'ConfigMap/port-mappings',
        'ConfigMap/server',
        'ConfigMap/state',
        'ConfigMap/status',
        'Deployment/openvpn',
        'Namespace/vpn-branch-1',
        'Role/openvpn-status-reporter',
        'RoleBinding/openvpn-status-reporter',
        'Secret/server-pki',
        'Service/openvpn',
        'ServiceAccount/openvpn',
      ].sort(),
    );
    const ca = await h.secrets.getCa('branch-1');
    expect(ca?.keyPem).toMatch(/PRIVATE KEY/);
    expect(h.cluster.snapshot()).not.toContain(ca!.keyPem.split('\n')[1]);
  });

  it('is a no-op that starts no work when the spec is unchanged', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', { port: 1194 });
    const before = h.cluster.snapshot();
    const again = await putGateway(h.deps, 'gw', { port: 1194 });
    expect(again.created).toBe(false);
    expect(again.operationId).toBeUndefined();
    expect(h.cluster.snapshot()).toBe(before);
    expect(h.operations.started).toHaveLength(1);
  });

  it('applies a changed spec without touching the deployed config hash and starts a roll with the new one', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const hashBefore = (await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations[
      'vpn.aks-gateways.io/config-hash'
    ];
    const updated = await putGateway(h.deps, 'gw', { port: 8443 });
    expect(updated.created).toBe(false);
    expect(updated.gateway.port).toBe(8443);
    const roll = h.operations.started[1];
    expect(roll?.kind).toBe('roll');
    const hashAfter = (await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations[
      'vpn.aks-gateways.io/config-hash'
    ];
    expect(hashAfter).toBe(hashBefore);
    expect(roll?.kind === 'roll' && roll.request).toStrictEqual({
      gateway: 'gw',
      force: false,
      reason: 'config-change',
    });
    // WHEN the roll begins THEN it moves the pod template to the hash of the manifests built from the
    // new state and the deployed PKI (the builder's hash, tested for what it covers in manifests.test.ts)
    const begun = await gatewayActivities(h.deps).beginRoll({
      gateway: 'gw',
      since: 0,
      restartedAt: '2026-11-22T12:00:00.000Z',
    });
    const state = await readState(h.cluster, 'gw');
    const pki = await readServerPki(h.deps, 'gw');
    const expected = configHash(manifestInputOf(h.deps, state, pki!));
    expect(begun).toStrictEqual({ targetHash: expected, changed: true, generation: 0, forced: false });
    expect(expected).not.toBe(hashBefore);
    expect(
      (await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations[
        'vpn.aks-gateways.io/config-hash'
      ],
    ).toBe(expected);
  });

  it('applies a change the server does not read (client validity, load balancer ranges) without a roll', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const updated = await putGateway(h.deps, 'gw', {
      clientCertValidityDays: 90,
      loadBalancer: { sourceRanges: ['198.51.100.0/24'] },
    });
    expect(updated.created).toBe(false);
    expect(updated.operationId).toBeUndefined();
    expect(updated.gateway.clientCertValidityDays).toBe(90);
    expect(h.operations.started).toHaveLength(1);
    const service = h.cluster.objects.get('Service/vpn-gw/openvpn');
    expect(
      (service?.['spec'] as { loadBalancerSourceRanges?: string[] }).loadBalancerSourceRanges,
    ).toStrictEqual(['198.51.100.0/24']);
  });

  it('pushes extraRoutes on top of the discovered cluster CIDRs, and points a bad one out by its index', async () => {
    const h = makeHarness();
    const created = await putGateway(h.deps, 'gw', { extraRoutes: ['192.168.50.0/24', '10.0.0.0/16'] });
    expect(created.gateway.routes).toStrictEqual(['10.0.0.0/16', '10.244.0.0/16', '192.168.50.0/24']);
    const snapshot = h.cluster.snapshot();
    const error = await putGateway(h.deps, 'gw', { extraRoutes: ['172.16.0.0/12', '10.140.0.0/16'] }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems).toStrictEqual([
      { path: '/extraRoutes/1', message: '10.140.0.0/16 overlaps the VPN subnet 10.140.0.0/24' },
    ]);
    const overlap = await putGateway(h.deps, 'gw', { extraRoutes: ['10.0.1.0/24'] }).catch((e: unknown) => e);
    expect((overlap as InputError).problems).toStrictEqual([
      { path: '/extraRoutes/0', message: '10.0.1.0/24 overlaps the route 10.0.0.0/16' },
    ]);
    expect(h.cluster.snapshot()).toBe(snapshot);
  });

  it('accepts a 57-character gateway name (namespace and server certificate CN at their limits)', async () => {
    const h = makeHarness();
    const name = 'g'.repeat(57);
    await putGateway(h.deps, name, {});
    expect(h.cluster.objects.has(`Namespace//vpn-${name}`)).toBe(true);
    await expect(putGateway(h.deps, 'g'.repeat(58), {})).rejects.toBeInstanceOf(InputError);
  });

  it('rejects a gateway without routes when none can be discovered, changing nothing', async () => {
    const h = makeHarness();
    h.clusterInfo.info = { notes: ['Azure CNI: no pod CIDR'] };
    await expect(putGateway(h.deps, 'gw', {})).rejects.toBeInstanceOf(InputError);
    expect(h.cluster.objects.size).toBe(0);
    expect(h.secrets.cas.size).toBe(0);
  });

  it('falls back to DEFAULT_ROUTES when the cluster has no pod CIDR', async () => {
    const h = makeHarness({ DEFAULT_ROUTES: '10.50.0.0/16' });
    h.clusterInfo.info = {
      serviceCidr: '10.0.0.0/16',
      notes: ['Azure CNI: no pod CIDR, using DEFAULT_ROUTES'],
    };
    const result = await putGateway(h.deps, 'gw', {});
    expect(result.gateway.routes).toStrictEqual(['10.0.0.0/16', '10.50.0.0/16']);
    expect(result.gateway.status.message).toContain('Azure CNI');
  });

  it('rejects routes that overlap the VPN subnet, changing nothing', async () => {
    const h = makeHarness();
    await expect(putGateway(h.deps, 'gw', { routes: ['10.140.0.0/16'] })).rejects.toBeInstanceOf(InputError);
    expect(h.cluster.objects.size).toBe(0);
  });

  it('repairs a gateway whose creation stopped after the claim (CA never stored)', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    // an interrupted creation: the CA and the PKI Secret are gone, no client was issued
    await h.secrets.deleteGateway('gw', []);
    await h.cluster.delete({ kind: 'Secret', namespace: 'vpn-gw', name: 'server-pki' });
    const repaired = await putGateway(h.deps, 'gw', {});
    expect(repaired.created).toBe(false);
    expect(await h.secrets.getCa('gw')).toBeDefined();
    expect((await h.cluster.readSecret('vpn-gw', 'server-pki'))?.data['crl.pem']).toMatch(/BEGIN X509 CRL/);
  });
});

describe('putGateway: specs that break the data plane or the contract', () => {
  it("rejects a route containing the load balancer's address once it is known, changing nothing", async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const before = JSON.stringify([...h.cluster.objects.values()]);
    // WHEN a route covers the address the load balancer got (203.0.113.10)
    const error = await putGateway(h.deps, 'gw', { routes: ['10.0.0.0/16', '203.0.113.0/24'] }).catch(
      (e: unknown) => e,
    );
    // THEN
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems.map((p) => p.path)).toStrictEqual(['/routes/1']);
    expect(JSON.stringify([...h.cluster.objects.values()])).toBe(before);
  });

  it("refuses a default client validity that reaches the CA's expiry, at creation and at update", async () => {
    const h = makeHarness();
    await expect(putGateway(h.deps, 'gw', { clientCertValidityDays: 3650 })).rejects.toBeInstanceOf(
      InputError,
    );
    expect(h.cluster.objects.size).toBe(0);
    expect(h.secrets.cas.size).toBe(0);
    await putGateway(h.deps, 'gw', {});
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + 10 * 86_400_000));
    const error = await putGateway(h.deps, 'gw', { clientCertValidityDays: 3645 }).catch((e: unknown) => e);
    expect((error as InputError).problems.map((p) => p.path)).toStrictEqual(['/clientCertValidityDays']);
  });

  it("caps a default issue at the CA's remaining days instead of refusing a field the caller never sent", async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', { clientCertValidityDays: 3649 });
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + 100 * 86_400_000));
    const { issueClient } = await import('../../../shared/gateways/clients.js');
    const issued = await issueClient(h.deps, 'gw', { name: 'late' });
    const ca = await h.secrets.getCa('gw');
    expect(Date.parse(issued.notAfter)).toBeLessThanOrEqual(
      readCertificateInfo(ca?.certPem ?? '').notAfter.getTime(),
    );
  });

  it('warns of neither the CRL nor route discovery on a fresh gateway whose routes were given', async () => {
    const h = makeHarness();
    h.clusterInfo.info = {
      notes: ['cluster CIDRs cannot be discovered for this target and DEFAULT_ROUTES is empty'],
    };
    const { gateway } = await putGateway(h.deps, 'gw', { routes: ['10.9.0.0/16'] });
    expect(gateway.status.message).toBeUndefined();
  });

  it('warns of a CRL within CRL_RENEW_BEFORE_DAYS of its nextUpdate (the timer did not renew it)', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + 24 * 86_400_000));
    expect((await getGateway(h.deps, 'gw')).status.message).toMatch(/^CRL expires at .* not been renewed$/);
  });
});

describe('getGateway / listGateways / deleteGateway / restartGateway', () => {
  it('reports Ready with the load balancer address once the rollout is complete', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const view = await getGateway(h.deps, 'gw');
    expect(view.status.phase).toBe('Ready');
    expect(view.status.address).toBe('203.0.113.10');
    expect(view.status.configHash).toMatch(/^[0-9a-f]+$/);
    expect(view.clients).toStrictEqual({ active: 0, revoked: 0, pending: 0, revoking: 0 });
  });

  it('reports the server and client certificates expiring within EXPIRY_WARNING_DAYS', async () => {
    const h = makeHarness({ EXPIRY_WARNING_DAYS: '45' });
    await putGateway(h.deps, 'gw', {});
    const { issueClient } = await import('../../../shared/gateways/clients.js');
    await issueClient(h.deps, 'gw', { name: 'short', validityDays: 40 });
    await issueClient(h.deps, 'gw', { name: 'long', validityDays: 365 });
    const now = await getGateway(h.deps, 'gw');
    expect(now.status.expiringCertificates?.map((c) => `${c.kind}:${c.name}`)).toStrictEqual([
      'client:short',
    ]);
    expect(now.status.message).toContain('1 certificate(s) expire within 45 days');

    // Five years less 30 days later, the server certificate (5 years) is within the window too.
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + (5 * 365 - 30) * 86_400_000));
    const later = await getGateway(h.deps, 'gw');
    expect(later.status.expiringCertificates?.map((c) => `${c.kind}:${c.name}`)).toStrictEqual([
      'server:gw',
      'client:short',
      'client:long',
    ]);
  });

  it('reports Provisioning while the load balancer has no address', async () => {
    const h = makeHarness();
    h.cluster.loadBalancerAddress = undefined;
    await putGateway(h.deps, 'gw', {});
    expect((await getGateway(h.deps, 'gw')).status.phase).toBe('Provisioning');
  });

  it('lists gateways by name', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'b', {});
    await putGateway(h.deps, 'a', {});
    expect((await listGateways(h.deps)).map((g) => g.name)).toStrictEqual(['a', 'b']);
  });

  it('answers NotFound for a missing gateway', async () => {
    const h = makeHarness();
    await expect(getGateway(h.deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(deleteGateway(h.deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(restartGateway(h.deps, 'nope')).rejects.toBeInstanceOf(NotFoundError);
    expect(h.operations.started).toStrictEqual([]);
  });

  it('starts deletion and forced rolls as operations', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    expect(await restartGateway(h.deps, 'gw')).toStrictEqual({ operationId: 'op-2' });
    expect(h.operations.started[1]).toMatchObject({
      kind: 'roll',
      request: { force: true, reason: 'restart' },
    });
    const { operationId } = await deleteGateway(h.deps, 'gw');
    expect(operationId).toBe((await readState(h.cluster, 'gw')).deleting?.operation);
    expect(h.operations.started[2]).toStrictEqual({ kind: 'delete', gateway: 'gw' });
  });

  it('refuses to change the VPN subnet while clients hold addresses in it', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const { issueClient } = await import('../../../shared/gateways/clients.js');
    await issueClient(h.deps, 'gw', { name: 'c1' });
    await expect(putGateway(h.deps, 'gw', { vpnSubnet: '10.150.0.0/24' })).rejects.toBeInstanceOf(
      ConflictError,
    );
  });
});
