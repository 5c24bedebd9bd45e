/**
 * End-to-end API tests over real HTTP through the sandbox host, with the real use-cases, the directory
 * secret store and in-process operations: over the memory fakes, the embedded cluster, and a real
 * kube-apiserver through the Kubernetes adapter (the sandbox with KUBECONFIG).
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientListSchema,
  clientSchema,
  connectionsSchema,
  gatewayListSchema,
  gatewaySchema,
  portMappingsSchema,
} from '../../shared/api/schemas.js';
import type { ApiBackend } from './harness.js';
import { api, memoryBackend, realClusterBackend, sandboxBackend, waitForOperation } from './harness.js';

const ROUTES = ['10.0.0.0/16', '10.244.0.0/16'];
const BACKENDS: readonly { name: string; start: () => Promise<ApiBackend> }[] = [
  { name: 'memory fakes', start: memoryBackend },
  { name: 'sandbox', start: sandboxBackend },
  { name: 'sandbox on a real kube-apiserver', start: realClusterBackend },
];

describe.each(BACKENDS)('the API over HTTP ($name)', ({ start }) => {
  let backend: ApiBackend;
  let base = '';
  /** Waits for the operation when the backend runs them; returns its final status. */
  const settle = async (r: { headers: Headers }): Promise<string> => {
    const url = r.headers.get('operation-location');
    expect(url).toMatch(new RegExp(`^${base}/operations/`));
    return backend.runsOperations ? (await waitForOperation(url ?? '')).status : 'Succeeded';
  };

  beforeAll(async () => {
    backend = await start();
    base = backend.url;
  }, 120_000);

  afterAll(async () => {
    await backend?.stop();
  });

  it('creates a gateway: 201 + Location + Operation-Location, then Ready', async () => {
    // WHEN
    const put = await api(base, 'PUT', '/gateways/g1', { routes: ROUTES, publicHost: 'vpn.example.com' });
    // THEN
    expect(put.status).toBe(201);
    expect(put.headers.get('location')).toBe(`${base}/gateways/g1`);
    expect(gatewaySchema.parse(put.json())).toMatchObject({
      name: 'g1',
      vpnSubnet: '10.140.0.0/24',
      port: 443,
    });
    expect(await settle(put)).toBe('Succeeded');
    // The provision operation ends with the load balancer address; the first rollout may still be converging.
    let got = gatewaySchema.parse((await api(base, 'GET', '/gateways/g1')).json());
    for (let i = 0; i < 100 && got.status.phase !== 'Ready'; i += 1) {
      await new Promise((r) => setTimeout(r, 100));
      got = gatewaySchema.parse((await api(base, 'GET', '/gateways/g1')).json());
    }
    expect(got.status).toMatchObject({ phase: 'Ready', address: 'vpn.example.com' });
  });

  it('treats a PUT with the same spec as a no-op 200 without Operation-Location', async () => {
    const again = await api(base, 'PUT', '/gateways/g1', { routes: ROUTES, publicHost: 'vpn.example.com' });
    expect([again.status, again.headers.get('operation-location')]).toStrictEqual([200, null]);
  });

  it('updates a gateway: a change the server reads rolls to a new config hash, one it does not read does not', async () => {
    const before = gatewaySchema.parse((await api(base, 'GET', '/gateways/g1')).json()).status.configHash;
    const body = { routes: ROUTES, extraRoutes: ['192.168.50.0/24'], publicHost: 'vpn.example.com' };
    const rolled = await api(base, 'PUT', '/gateways/g1', body);
    expect(rolled.status).toBe(200);
    expect(gatewaySchema.parse(rolled.json()).routes).toStrictEqual([...ROUTES, '192.168.50.0/24']);
    expect(await settle(rolled)).toBe('Succeeded');
    if (backend.runsOperations) {
      const after = gatewaySchema.parse((await api(base, 'GET', '/gateways/g1')).json()).status.configHash;
      expect(after).toMatch(/^[0-9a-f]+$/);
      expect(after).not.toBe(before);
    }
    const quiet = await api(base, 'PUT', '/gateways/g1', { ...body, clientCertValidityDays: 180 });
    // On the sandbox the roll ran, so the server already runs this configuration: no roll. The memory
    // backend never runs rolls, so there the deployed hash is still the old one and it rolls again.
    expect(quiet.status).toBe(200);
    expect(quiet.headers.get('operation-location') === null).toBe(backend.runsOperations);
    expect(gatewaySchema.parse(quiet.json()).clientCertValidityDays).toBe(180);
    // back to the spec the following tests expect
    const restored = await api(base, 'PUT', '/gateways/g1', {
      routes: ROUTES,
      publicHost: 'vpn.example.com',
    });
    expect(restored.status).toBe(200);
    const restoring = restored.headers.get('operation-location');
    if (restoring && backend.runsOperations) await waitForOperation(restoring);
  });

  it('lists gateways', async () => {
    const list = gatewayListSchema.parse((await api(base, 'GET', '/gateways')).json());
    expect(list.value.map((g) => g.name)).toStrictEqual(['g1']);
  });

  it('issues a client with a generated key and serves its profile', async () => {
    const issued = await api(base, 'POST', '/gateways/g1/clients', {
      name: 'site-a',
      staticIp: '10.140.0.50',
    });
    expect(issued.status).toBe(201);
    expect(issued.headers.get('location')).toBe(`${base}/gateways/g1/clients/site-a`);
    expect(clientSchema.parse(issued.json())).toMatchObject({
      name: 'site-a',
      ip: '10.140.0.50',
      status: 'active',
      keySource: 'generated',
    });
    const profile = await api(base, 'GET', '/gateways/g1/clients/site-a/profile');
    expect(profile.status).toBe(200);
    expect(profile.headers.get('content-type')).toBe('application/x-openvpn-profile');
    expect(profile.text).toMatch(/^remote vpn\.example\.com 443$/m);
    expect(profile.text).toContain('<key>');
  });

  it('issues a client from a CSR: the certificate matches, the profile holds no key', async () => {
    const keys = forge.pki.rsa.generateKeyPair(2048);
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = keys.publicKey;
    csr.setSubject([{ name: 'commonName', value: 'site-b' }]);
    csr.sign(keys.privateKey, forge.md.sha256.create());
    const issued = await api(base, 'POST', '/gateways/g1/clients', {
      name: 'site-b',
      csr: forge.pki.certificationRequestToPem(csr),
    });
    expect(issued.status).toBe(201);
    expect(clientSchema.parse(issued.json()).keySource).toBe('csr');
    const profile = await api(base, 'GET', '/gateways/g1/clients/site-b/profile');
    expect(profile.text).not.toContain('<key>');
    const certPem = /<cert>\n([\s\S]*?)<\/cert>/.exec(profile.text)?.[1] ?? '';
    expect(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(
      forge.pki.publicKeyToPem(keys.publicKey).replace(/\r\n/g, '\n'),
    );
  });

  it('gives 50 parallel issues on one gateway 50 distinct addresses', async () => {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_v, i) => api(base, 'POST', '/gateways/g1/clients', { name: `p-${i}` })),
    );
    console.log(`50 parallel issues: ${Date.now() - started} ms`);
    expect(results.map((r) => r.status)).toStrictEqual(Array.from({ length: 50 }, () => 201));
    const ips = results.map((r) => clientSchema.parse(r.json()).ip);
    expect(new Set(ips).size).toBe(50);
    const list = clientListSchema.parse((await api(base, 'GET', '/gateways/g1/clients')).json());
    expect(list.value).toHaveLength(52);
    // every issue landed in the CCD ConfigMap (with its own address) and in the secret store
    const stored = await backend.stored('g1');
    const names = Array.from({ length: 50 }, (_v, i) => `p-${i}`);
    for (const [i, name] of names.entries())
      expect(stored.ccd[name]).toBe(`ifconfig-push ${ips[i]} 255.255.255.0\n`);
    expect(stored.secretClients.filter((c) => c.startsWith('p-')).sort()).toStrictEqual([...names].sort());
    // A hang guard, not a figure: on a real kube-apiserver on a loaded 2-core machine, 50 writers racing for
    // one state object take well over the default minute.
  }, 300_000);

  it('replaces the port mappings: 202 + Operation-Location, then reads them back', async () => {
    const put = await api(base, 'PUT', '/gateways/g1/port-mappings', {
      mappings: [{ port: 8081, client: 'site-a', targetPort: 80 }],
    });
    expect(put.status).toBe(202);
    if (backend.runsOperations && !backend.podReports) {
      // THEN with no pod to report it applied the set, the operation fails after the timeout, saying so
      const op = await waitForOperation(put.headers.get('operation-location') ?? '');
      expect(op).toMatchObject({ status: 'Failed', error: { code: 'live-apply-failed' } });
      expect(op.error?.message).toMatch(
        /did not report the latest port mappings applied within 2 s; last report: the pod has not reported yet/,
      );
    } else expect(await settle(put)).toBe('Succeeded');
    expect(
      portMappingsSchema.parse((await api(base, 'GET', '/gateways/g1/port-mappings')).json()),
    ).toStrictEqual({
      mappings: [{ port: 8081, client: 'site-a', targetPort: 80, protocol: 'tcp' }],
    });
  });

  it('shows the connected clients and what the pod applied, as the (simulated) pod reports them', async () => {
    const connections = connectionsSchema.parse((await api(base, 'GET', '/gateways/g1/connections')).json());
    const client = clientSchema.parse((await api(base, 'GET', '/gateways/g1/clients/site-a')).json());
    const gateway = gatewaySchema.parse((await api(base, 'GET', '/gateways/g1')).json());
    if (!backend.podReports) {
      // THEN without a report nothing is claimed connected, and nothing counts as applied
      expect(connections.value).toStrictEqual([]);
      expect(client.connected).not.toBe(true);
      expect(gateway.status.applied?.portMappings ?? false).toBe(false);
      return;
    }
    // THEN the sandbox's simulated pod lists site-a at its tunnel address, from a documentation address
    const siteA = connections.value.find((c) => c.client === 'site-a');
    expect(siteA).toMatchObject({ tunnelAddress: client.ip, bytesIn: 0, bytesOut: 0 });
    expect(siteA?.realAddress).toMatch(/^203\.0\.113\.\d+:\d+$/);
    expect(client).toMatchObject({ connected: true, connectedSince: siteA?.connectedSince });
    expect(gateway.status.applied).toMatchObject({ portMappings: true, crl: true, configHash: true });
  });

  it('refuses to revoke a mapped client (409) unless forced, then publishes it in the CRL', async () => {
    const refused = await api(base, 'DELETE', '/gateways/g1/clients/site-a');
    expect(refused.status).toBe(409);
    const serial = clientSchema.parse((await api(base, 'GET', '/gateways/g1/clients/site-a')).json()).serial;
    const forced = await api(base, 'DELETE', '/gateways/g1/clients/site-a?force=true');
    expect(forced.status).toBe(200);
    expect(clientSchema.parse(forced.json()).status).toBe('revoked');
    expect((await api(base, 'GET', '/gateways/g1/port-mappings')).json()).toStrictEqual({ mappings: [] });
    expect((await api(base, 'GET', '/gateways/g1/clients/site-a/profile')).status).toBe(409);
    const crlPem = await api(base, 'GET', '/gateways/g1/crl', undefined, {
      accept: 'application/x-pem-file',
    });
    expect(crlPem.headers.get('content-type')).toBe('application/x-pem-file');
    const der = await fetch(`${base}/gateways/g1/crl`);
    expect(der.headers.get('content-type')).toBe('application/pkix-crl');
    const bytes = Buffer.from(await der.arrayBuffer());
    expect(bytes.toString('hex')).toContain(serial);
    expect(bytes.toString('base64')).toBe(crlPem.text.replace(/-----[A-Z0-9 ]+-----|\s/g, ''));
  });

  it('restarts the gateway with a roll that succeeds', async () => {
    const restart = await api(base, 'POST', '/gateways/g1/restart');
    expect(restart.status).toBe(202);
    expect(await settle(restart)).toBe('Succeeded');
  });

  it('issues a client with a branch LAN, replaces it live (200, no roll) and writes its iroutes', async () => {
    const issued = await api(base, 'POST', '/gateways/g1/clients', {
      name: 'lan-a',
      subnets: ['192.168.20.0/24'],
    });
    expect(issued.status).toBe(201);
    expect(clientSchema.parse(issued.json()).subnets).toStrictEqual(['192.168.20.0/24']);
    const put = await api(base, 'PUT', '/gateways/g1/clients/lan-a/subnets', {
      subnets: ['192.168.21.0/24', '192.168.20.0/24'],
    });
    expect({ status: put.status, operation: put.headers.get('operation-location') }).toStrictEqual({
      status: 200,
      operation: null,
    });
    expect(put.json()).toStrictEqual({ subnets: ['192.168.20.0/24', '192.168.21.0/24'] });
    expect((await api(base, 'GET', '/gateways/g1/clients/lan-a/subnets')).json()).toStrictEqual({
      subnets: ['192.168.20.0/24', '192.168.21.0/24'],
    });
    const client = clientSchema.parse((await api(base, 'GET', '/gateways/g1/clients/lan-a')).json());
    expect((await backend.stored('g1')).ccd['lan-a']).toBe(
      `ifconfig-push ${client.ip} 255.255.255.0\n` +
        'iroute 192.168.20.0 255.255.255.0\niroute 192.168.21.0 255.255.255.0\n',
    );
  });

  it('serves an OpenAPI document naming every route', async () => {
    const doc = (await api(base, 'GET', '/openapi.json')).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toContain('/api/gateways/{gateway}/clients/{client}/profile');
  });

  it('deletes the gateway: 202, then 404', async () => {
    const del = await api(base, 'DELETE', '/gateways/g1');
    expect(del.status).toBe(202);
    expect(await settle(del)).toBe('Succeeded');
    if (backend.runsOperations) expect((await api(base, 'GET', '/gateways/g1')).status).toBe(404);
  });
});
