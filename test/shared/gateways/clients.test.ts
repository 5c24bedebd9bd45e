import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../../../shared/errors.js';
import {
  getClient,
  getClientProfile,
  issueClient,
  listClients,
  revokeClient,
} from '../../../shared/gateways/clients.js';
import { getCrl, refreshCrls } from '../../../shared/gateways/crl.js';
import { readState } from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import { canonicalSerial, crlNumberOf, crlSerials } from '../../../shared/pki/index.js';
import { opensslCsr } from '../../support/openssl-csr.js';
import { makeHarness } from './harness.js';
import { ccdEntries } from '../../support/ccd-entries.js';

function crlText(crlPem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'crl-'));
  try {
    writeFileSync(join(dir, 'crl.pem'), crlPem);
    return execFileSync('openssl', ['crl', '-in', join(dir, 'crl.pem'), '-noout', '-text'], {
      encoding: 'utf8',
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function gatewayWithClient() {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', {});
  const client = await issueClient(h.deps, 'gw', { name: 'branch-a' });
  return { h, client };
}

describe('issueClient', () => {
  it('allocates the lowest free static address, writes the CCD entry and stores the bundle', async () => {
    const { h, client } = await gatewayWithClient();
    expect(client).toMatchObject({
      gateway: 'gw',
      name: 'branch-a',
      ip: '10.140.0.2',
      status: 'active',
      keySource: 'generated',
    });
    expect(await ccdEntries(h.cluster, 'gw')).toStrictEqual({
      'branch-a': 'ifconfig-push 10.140.0.2 255.255.255.0\n',
    });
    const stored = h.secrets.clients.get('gw/branch-a');
    expect(stored?.info).toMatchObject({ serial: client.serial, notAfter: client.notAfter, enabled: true });
    expect(stored?.bundle.keyPem).toMatch(/PRIVATE KEY/);
    expect(stored?.bundle.profile).toContain('remote 203.0.113.10 443');
  });

  it('succeeds when the state write is replayed (an adapter retry after a lost answer)', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    // GIVEN the first state write lands, but its answer is lost and the adapter runs the mutation again
    const update = h.cluster.updateConfigMap.bind(h.cluster);
    let replays = 1;
    h.cluster.updateConfigMap = async (ns, name, mutate) => {
      const first = await update(ns, name, mutate);
      return name === 'state' && replays-- > 0 ? update(ns, name, mutate) : first;
    };
    const issued = await issueClient(h.deps, 'gw', { name: 'branch-a' });
    expect(issued).toMatchObject({ name: 'branch-a', ip: '10.140.0.2', status: 'active' });
    expect((await listClients(h.deps, 'gw')).map((c) => c.name)).toStrictEqual(['branch-a']);
    // a real duplicate is still refused
    await expect(issueClient(h.deps, 'gw', { name: 'branch-a' })).rejects.toBeInstanceOf(ConflictError);
  });

  it('reads the state once per issue and revocation: each later state write starts from the version it holds', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'warm-up' });
    // GIVEN every read and every conditional write of the state counted, with whether it came with a held version
    const read = h.cluster.readConfigMap.bind(h.cluster);
    const update = h.cluster.updateConfigMap.bind(h.cluster);
    const seen = { reads: 0, writesOnHeld: 0, writesReading: 0 };
    h.cluster.readConfigMap = (ns, name) => {
      if (name === 'state') seen.reads += 1;
      return read(ns, name);
    };
    h.cluster.updateConfigMap = (ns, name, mutate, known) => {
      if (name === 'state') seen[known ? 'writesOnHeld' : 'writesReading'] += 1;
      return update(ns, name, mutate, known);
    };
    // WHEN a client is issued
    await issueClient(h.deps, 'gw', { name: 'branch-a' });
    // THEN one read (the checks before the key is made); the intent and its completion write on what it holds
    expect(seen).toStrictEqual({ reads: 1, writesOnHeld: 2, writesReading: 0 });
    // WHEN it is revoked: the intent reads in its conditional write; the end (which records the new CRL's
    // dates too) writes on what the intent wrote
    Object.assign(seen, { reads: 0, writesOnHeld: 0, writesReading: 0 });
    h.setNow(new Date('2026-11-22T13:00:00Z'));
    await revokeClient(h.deps, 'gw', 'branch-a');
    expect(seen).toStrictEqual({ reads: 0, writesOnHeld: 1, writesReading: 1 });
    // AND the state records the number and dates of the CRL the pod holds
    const deployed = (await h.cluster.readSecret('vpn-gw', 'server-pki'))?.data['crl.pem'] ?? '';
    const { crl } = await readState(h.deps.cluster, 'gw');
    expect(crl.number).toBe(crlNumberOf(deployed));
    expect(crl.thisUpdate).toBe('2026-11-22T13:00:00.000Z');
  });

  it('gives 50 concurrent issues on one gateway 50 distinct addresses', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    // every write yields first, so concurrent read-modify-writes really interleave and conflict
    h.cluster.beforeConfigMapWrite = () => new Promise((resolve) => setImmediate(resolve));
    const clients = await Promise.all(
      Array.from({ length: 50 }, (_, i) => issueClient(h.deps, 'gw', { name: `c${i}` })),
    );
    const ips = new Set(clients.map((c) => c.ip));
    expect(ips.size).toBe(50);
    expect((await listClients(h.deps, 'gw')).length).toBe(50);
    expect(Object.keys(await ccdEntries(h.cluster, 'gw')).length).toBe(50);
  });

  it('honours a requested static address', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    expect((await issueClient(h.deps, 'gw', { name: 'x', staticIp: '10.140.0.77' })).ip).toBe('10.140.0.77');
  });

  it.each([
    ['a duplicate name', { name: 'branch-a' }, ConflictError],
    ['a taken address', { name: 'other', staticIp: '10.140.0.2' }, ConflictError],
    ['the server address', { name: 'other', staticIp: '10.140.0.1' }, InputError],
    ['an address outside the subnet', { name: 'other', staticIp: '192.168.1.2' }, InputError],
    [
      'a malformed CSR',
      { name: 'other', csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----' },
      InputError,
    ],
    ['a validity of 0 days', { name: 'other', validityDays: 0 }, InputError],
    ['a validity beyond the CA', { name: 'other', validityDays: 365 * 20 }, InputError],
  ])('rejects %s and changes nothing', async (_case, input, errorClass) => {
    const { h } = await gatewayWithClient();
    const cluster = h.cluster.snapshot();
    const secrets = h.secrets.snapshot();
    await expect(issueClient(h.deps, 'gw', input)).rejects.toBeInstanceOf(errorClass);
    expect(h.cluster.snapshot()).toBe(cluster);
    expect(h.secrets.snapshot()).toBe(secrets);
  });

  it('signs a CSR without ever holding the private key', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const dir = mkdtempSync(join(tmpdir(), 'csr-'));
    try {
      const { csrPem: csr } = opensslCsr(dir, 'ignored');
      const client = await issueClient(h.deps, 'gw', { name: 'csr-client', csr });
      expect(client.keySource).toBe('csr');
      const bundle = h.secrets.clients.get('gw/csr-client')!.bundle;
      expect(bundle.keyPem).toBeUndefined();
      expect(bundle.profile).not.toContain('<key>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an issue that crashed after writing its record', () => {
  /** The state and CCD entry of an issue whose process died before the secret store had its material. */
  async function halfIssued() {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const first = await issueClient(h.deps, 'gw', { name: 'c1' });
    h.secrets.clients.delete('gw/c1');
    return { h, first };
  }

  it('refuses a retry while the first issue may still be running, then issues the name again', async () => {
    const { h, first } = await halfIssued();
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toBeInstanceOf(ConflictError);
    // WHEN the retry comes after the abandonment bound
    h.setNow(new Date(Date.parse(first.issuedAt) + 11 * 60_000));
    const again = await issueClient(h.deps, 'gw', { name: 'c1' });
    // THEN the name is usable again: one record, its CCD entry and its material
    expect(again.serial).not.toBe(first.serial);
    expect((await listClients(h.deps, 'gw')).map((c) => c.serial)).toStrictEqual([again.serial]);
    expect((await ccdEntries(h.cluster, 'gw'))['c1']).toMatch(/^ifconfig-push /);
    expect(await h.secrets.getClient('gw', 'c1')).toBeDefined();
  });

  it('rolls the record back when its profile is read after the abandonment bound', async () => {
    const { h, first } = await halfIssued();
    await expect(getClientProfile(h.deps, 'gw', 'c1')).rejects.toThrow(/missing from the secret store/);
    h.setNow(new Date(Date.parse(first.issuedAt) + 11 * 60_000));
    await expect(getClientProfile(h.deps, 'gw', 'c1')).rejects.toThrow(/rolled back/);
    expect(await listClients(h.deps, 'gw')).toStrictEqual([]);
    expect((await ccdEntries(h.cluster, 'gw'))['c1']).toBeUndefined();
  });
});

describe('profiles', () => {
  it('renders the profile with the current address and port', async () => {
    const { h } = await gatewayWithClient();
    const profile = await getClientProfile(h.deps, 'gw', 'branch-a');
    expect(profile).toContain('remote 203.0.113.10 443');
    expect(profile).toContain('<tls-crypt>');
    expect(profile).toContain('<key>');
  });

  it('refuses the profile of a revoked client and of an unknown one', async () => {
    const { h } = await gatewayWithClient();
    await revokeClient(h.deps, 'gw', 'branch-a');
    await expect(getClientProfile(h.deps, 'gw', 'branch-a')).rejects.toBeInstanceOf(ConflictError);
    await expect(getClientProfile(h.deps, 'gw', 'nobody')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('revokeClient', () => {
  it('never deploys an older CRL over a newer one when two revocations write it out of order', async () => {
    // GIVEN two clients, and the first revocation's CRL write held until the second revocation is done
    const { h } = await gatewayWithClient();
    await issueClient(h.deps, 'gw', { name: 'branch-b' });
    const patchSecretData = h.cluster.patchSecretData.bind(h.cluster);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reachedWrite!: () => void;
    const atWrite = new Promise<void>((resolve) => (reachedWrite = resolve));
    let holdNext = true;
    const deployed: string[] = [];
    h.cluster.patchSecretData = async (ns, name, data, version) => {
      if (holdNext && data['crl.pem']) {
        holdNext = false;
        reachedWrite();
        await held;
      }
      const written = await patchSecretData(ns, name, data, version);
      if (data['crl.pem']) deployed.push(data['crl.pem']);
      return written;
    };
    const first = revokeClient(h.deps, 'gw', 'branch-a', { force: false });
    await atWrite;
    // WHEN the second revocation completes meanwhile, then the first one's write goes on
    await revokeClient(h.deps, 'gw', 'branch-b', { force: false });
    const b = (await listClients(h.deps, 'gw')).find((c) => c.name === 'branch-b')!;
    expect(b.status).toBe('revoked');
    const fromNowOn = deployed.length;
    release();
    await first;
    // THEN no CRL deployed after branch-b was recorded revoked lacks its serial, not even for a moment
    for (const pem of deployed.slice(fromNowOn)) expect(crlSerials(pem)).toContain(canonicalSerial(b.serial));
    const clients = await listClients(h.deps, 'gw');
    expect(clients.map((c) => [c.name, c.status])).toStrictEqual([
      ['branch-a', 'revoked'],
      ['branch-b', 'revoked'],
    ]);
    const text = crlText(await getCrl(h.deps, 'gw'));
    for (const c of clients) expect(text).toContain(`Serial Number: ${c.serial.toUpperCase()}`);
  });

  it('re-signs the CRL with the serial, removes the CCD entry and disables the secret', async () => {
    const { h, client } = await gatewayWithClient();
    const revoked = await revokeClient(h.deps, 'gw', 'branch-a');
    expect(revoked.status).toBe('revoked');
    expect(revoked.revokedAt).toBe('2026-11-22T12:00:00.000Z');
    expect(crlText(await getCrl(h.deps, 'gw')).toUpperCase()).toContain(client.serial.toUpperCase());
    expect(await ccdEntries(h.cluster, 'gw')).toStrictEqual({});
    expect(h.secrets.clients.get('gw/branch-a')?.info.enabled).toBe(false);
    expect((await getClient(h.deps, 'gw', 'branch-a')).status).toBe('revoked');
  });

  it('is idempotent', async () => {
    const { h } = await gatewayWithClient();
    await revokeClient(h.deps, 'gw', 'branch-a');
    const snapshot = h.cluster.snapshot();
    expect((await revokeClient(h.deps, 'gw', 'branch-a')).status).toBe('revoked');
    expect(h.cluster.snapshot()).toBe(snapshot);
  });

  it('a repeated revoke completes a revocation that failed after it was recorded', async () => {
    const { h, client } = await gatewayWithClient();
    await replacePortMappings(h.deps, 'gw', [
      { port: 8081, client: 'branch-a', targetPort: 80, protocol: 'tcp' },
    ]);
    h.setNow(new Date('2026-11-23T08:00:00Z'));
    // GIVEN the CRL write fails once: the revocation is recorded in the state, nothing after it ran
    const patchSecretData = h.cluster.patchSecretData.bind(h.cluster);
    let failures = 1;
    h.cluster.patchSecretData = (ns, name, data, version) =>
      failures-- > 0
        ? Promise.reject(new Error('connection reset'))
        : patchSecretData(ns, name, data, version);
    await expect(revokeClient(h.deps, 'gw', 'branch-a', { force: true })).rejects.toThrow('connection reset');
    expect((await listClients(h.deps, 'gw'))[0]?.status).toBe('revoking');
    expect(crlText(await getCrl(h.deps, 'gw')).toUpperCase()).not.toContain(client.serial.toUpperCase());
    expect(h.cluster.objects.has('Service/vpn-gw/pm-8081')).toBe(true);

    // WHEN the caller retries
    const again = await revokeClient(h.deps, 'gw', 'branch-a');

    // THEN every step is done: CRL, CCD entry, secret, and the mapping's removal written (the pod applies it live)
    expect(crlText(await getCrl(h.deps, 'gw')).toUpperCase()).toContain(client.serial.toUpperCase());
    expect(await ccdEntries(h.cluster, 'gw')).toStrictEqual({});
    expect(h.secrets.clients.get('gw/branch-a')?.info.enabled).toBe(false);
    expect(h.cluster.objects.has('Service/vpn-gw/pm-8081')).toBe(false);
    expect(again).toMatchObject({ status: 'revoked', revokedAt: '2026-11-23T08:00:00.000Z' });
    // AND no roll: the mappings change reaches the running pod live
    expect(h.operations.started.filter((o) => o.kind === 'roll')).toStrictEqual([]);
    // AND a third call finds nothing left to do
    const snapshot = h.cluster.snapshot();
    expect((await revokeClient(h.deps, 'gw', 'branch-a')).operationId).toBeUndefined();
    expect(h.cluster.snapshot()).toBe(snapshot);
  });

  it('keeps every revocation when many run concurrently', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const clients = await Promise.all(
      Array.from({ length: 8 }, (_, i) => issueClient(h.deps, 'gw', { name: `c${i}` })),
    );
    h.cluster.beforeConfigMapWrite = () => new Promise((resolve) => setImmediate(resolve));
    await Promise.all(clients.map((c) => revokeClient(h.deps, 'gw', c.name)));
    const text = crlText(await getCrl(h.deps, 'gw')).toUpperCase();
    for (const c of clients) expect(text).toContain(c.serial.toUpperCase());
  });

  it('refuses while a port mapping targets the client, unless forced', async () => {
    const { h } = await gatewayWithClient();
    await replacePortMappings(h.deps, 'gw', [
      { port: 8081, client: 'branch-a', targetPort: 80, protocol: 'tcp' },
    ]);
    const snapshot = h.cluster.snapshot();
    await expect(revokeClient(h.deps, 'gw', 'branch-a')).rejects.toBeInstanceOf(ConflictError);
    expect(h.cluster.snapshot()).toBe(snapshot);
    const forced = await revokeClient(h.deps, 'gw', 'branch-a', { force: true });
    expect(forced.status).toBe('revoked');
    expect(forced.operationId).toBeDefined();
    expect(h.cluster.objects.has('Service/vpn-gw/pm-8081')).toBe(false);
  });
});

describe('refreshCrls', () => {
  it('re-signs a CRL close to its nextUpdate and reports expiring certificates', async () => {
    const { h } = await gatewayWithClient();
    const before = await getCrl(h.deps, 'gw');
    // GIVEN 25 days later (CRL valid 30 days, renewed 7 days ahead)
    h.setNow(new Date('2026-12-17T12:00:00Z'));
    const [report] = await refreshCrls(h.deps);
    expect(report).toMatchObject({ gateway: 'gw', renewed: true, nextUpdate: '2027-01-16T12:00:00.000Z' });
    const after = await getCrl(h.deps, 'gw');
    expect(after).not.toBe(before);
    expect(crlText(after)).toMatch(/Next Update: Jan 16 12:00:00 2027 GMT/);
  });

  it('leaves a fresh CRL alone', async () => {
    const { h } = await gatewayWithClient();
    const [report] = await refreshCrls(h.deps);
    expect(report).toMatchObject({ gateway: 'gw', renewed: false, expiring: [] });
  });

  it('reports a client certificate expiring within the warning window', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'short', validityDays: 10 });
    const [report] = await refreshCrls(h.deps);
    expect(report?.expiring).toStrictEqual([
      { kind: 'client', name: 'short', notAfter: '2026-12-02T12:00:00.000Z' },
    ]);
    expect(h.logs.some((l) => l.includes('certificate expires soon') && l.includes('short'))).toBe(true);
  });
});

describe('the issue state machine', () => {
  it('leaves an issue whose material could not be stored pending, and a retry completes it with the same answer', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = () => Promise.reject(new Error('connection reset'));
    await expect(issueClient(h.deps, 'gw', { name: 'c1', validityDays: 30 })).rejects.toThrow(
      'connection reset',
    );
    const [pending] = await listClients(h.deps, 'gw');
    expect(pending?.status).toBe('pending');
    expect((await ccdEntries(h.cluster, 'gw'))['c1']).toBeUndefined();
    h.secrets.putClient = putClient;
    const again = await issueClient(h.deps, 'gw', { name: 'c1', validityDays: 30 });
    expect(again).toStrictEqual({ ...pending, status: 'active' });
    expect(h.secrets.clients.get('gw/c1')?.info).toMatchObject({ serial: again.serial, enabled: true });
    expect((await ccdEntries(h.cluster, 'gw'))['c1']).toMatch(/^ifconfig-push 10\.140\.0\.2 /);
  });

  it('refuses a request for a pending name that asks for something else', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    h.secrets.putClient = () => Promise.reject(new Error('connection reset'));
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toThrow('connection reset');
    const snapshot = h.cluster.snapshot();
    await expect(issueClient(h.deps, 'gw', { name: 'c1', staticIp: '10.140.0.9' })).rejects.toBeInstanceOf(
      ConflictError,
    );
    await expect(issueClient(h.deps, 'gw', { name: 'c1', validityDays: 7 })).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(h.cluster.snapshot()).toBe(snapshot);
  });

  it('answers 409 for the profile of a client still being issued', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    h.secrets.putClient = () => Promise.reject(new Error('connection reset'));
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toThrow('connection reset');
    await expect(getClientProfile(h.deps, 'gw', 'c1')).rejects.toThrow(/still being issued/);
    expect((await getClient(h.deps, 'gw', 'c1')).status).toBe('pending');
  });

  it('rolls the intent back when the secret store refuses the name for good, so the name is free again', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = () =>
      Promise.reject(new ConflictError('a deleted secret of that name is being purged'));
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toBeInstanceOf(ConflictError);
    expect(await listClients(h.deps, 'gw')).toStrictEqual([]);
    h.secrets.putClient = putClient;
    expect((await issueClient(h.deps, 'gw', { name: 'c1' })).status).toBe('active');
  });

  it('completes a pending CSR issue without the caller, signing the recorded serial for the same key', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const dir = mkdtempSync(join(tmpdir(), 'csr-'));
    try {
      const { csrPem: csr, keyPath } = opensslCsr(dir, 'x');
      const putClient = h.secrets.putClient.bind(h.secrets);
      h.secrets.putClient = () => Promise.reject(new Error('connection reset'));
      await expect(issueClient(h.deps, 'gw', { name: 'c1', csr })).rejects.toThrow('connection reset');
      h.secrets.putClient = putClient;
      const [pending] = await listClients(h.deps, 'gw');
      // WHEN the client is read (no CSR in hand)
      const read = await getClient(h.deps, 'gw', 'c1');
      expect(read).toStrictEqual({ ...pending, status: 'active' });
      // THEN the stored certificate carries the recorded serial and the CSR's key
      const certPem = h.secrets.clients.get('gw/c1')!.bundle.certPem;
      writeFileSync(join(dir, 'c.pem'), certPem);
      const serial = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-serial'], {
        encoding: 'utf8',
      });
      expect(serial.trim().toLowerCase()).toBe(`serial=${read.serial}`);
      const keyOf = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
      expect(keyOf(['x509', '-in', join(dir, 'c.pem'), '-noout', '-pubkey'])).toBe(
        keyOf(['pkey', '-in', keyPath, '-pubout']),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('undoes what an issue wrote after its client was revoked mid-way, and refuses it', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    // GIVEN the client is revoked (completely) while its issue is about to store the material
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = async (...args) => {
      h.secrets.putClient = putClient;
      expect((await revokeClient(h.deps, 'gw', 'c1')).status).toBe('revoked');
      return putClient(...args);
    };
    // WHEN the issue goes on
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toThrow(
      /revoked while it was being issued/,
    );
    // THEN its late writes are undone: no enabled material, no CCD entry, serial in the CRL
    const [revoked] = await listClients(h.deps, 'gw');
    expect(revoked?.status).toBe('revoked');
    expect(h.secrets.clients.get('gw/c1')?.info.enabled).toBe(false);
    expect(await ccdEntries(h.cluster, 'gw')).toStrictEqual({});
    expect(crlText(await getCrl(h.deps, 'gw')).toUpperCase()).toContain(revoked!.serial.toUpperCase());
  });

  it('gives two identical requests racing for one name the same client, or one a 409', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    h.cluster.beforeConfigMapWrite = () => new Promise((resolve) => setImmediate(resolve));
    const results = await Promise.allSettled([
      issueClient(h.deps, 'gw', { name: 'twin' }),
      issueClient(h.deps, 'gw', { name: 'twin' }),
    ]);
    const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(refused.every((e) => e instanceof ConflictError)).toBe(true);
    expect(new Set(ok.map((c) => c.serial)).size).toBe(1);
    expect((await listClients(h.deps, 'gw')).map((c) => [c.name, c.status])).toStrictEqual([
      ['twin', 'active'],
    ]);
  });
});
