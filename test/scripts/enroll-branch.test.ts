/**
 * scripts/enroll-branch.sh under dash (a strict POSIX shell) against the sandbox host: the key is made on
 * the "branch" (a temporary directory), only the token and the URL are handed over, and every failure
 * leaves the directory as it was.
 */
import { spawn } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createdEnrollmentSchema, enrollmentSchema } from '../../shared/api/schemas.js';
import type { SandboxUnderTest } from '../api/harness.js';
import { api, removeDir, startTestSandbox, waitForOperation } from '../api/harness.js';

const SCRIPT = join(import.meta.dirname, '../../scripts/enroll-branch.sh');
let sut: SandboxUnderTest;
let base = '';
const work = mkdtempSync(join(tmpdir(), 'enroll-script-'));

/** Runs the script without blocking the event loop (the sandbox answering it runs in this process). */
function runScript(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('dash', [SCRIPT, ...args], {
      env: { PATH: process.env['PATH'] ?? '', ENROLL_ALLOW_HTTP: '1', ENROLL_SYSTEMD: 'no', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function gateway(name: string, body: Record<string, unknown>) {
  const put = await api(base, 'PUT', `/gateways/${name}`, body);
  expect(put.status).toBe(201);
  expect((await waitForOperation(put.headers.get('operation-location') ?? '')).status).toBe('Succeeded');
}

async function enrollment(gatewayName: string, client: string) {
  const r = await api(base, 'POST', `/gateways/${gatewayName}/enrollments`, { client });
  expect(r.status).toBe(201);
  return createdEnrollmentSchema.parse(r.json());
}

const branchDir = (label: string) => {
  const d = join(work, label);
  mkdirSync(d);
  return d;
};

beforeAll(async () => {
  sut = await startTestSandbox();
  base = sut.sandbox.url;
  await gateway('rsa-gw', { publicHost: 'vpn.example.net' });
  await gateway('ec-gw', { publicHost: 'vpn.example.net', keyType: 'ec' });
}, 120_000);

afterAll(async () => {
  await sut?.stop();
  if (sut) await removeDir(sut.dataDir);
  rmSync(work, { recursive: true, force: true });
});

describe('scripts/enroll-branch.sh', () => {
  it('makes an RSA-2048 key here (0600), enrolls with the token alone and writes a config naming the key', async () => {
    const e = await enrollment('rsa-gw', 'site-a');
    const dir = branchDir('rsa');
    const run = await runScript([e.enrollUrl, e.token, 'site-a', dir]);
    expect([run.status, run.stderr]).toStrictEqual([0, '']);
    expect(readdirSync(dir).sort()).toStrictEqual(['site-a.conf', 'site-a.key']);
    for (const f of ['site-a.conf', 'site-a.key']) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    const conf = readFileSync(join(dir, 'site-a.conf'), 'utf8');
    expect(conf).not.toContain('<key>');
    expect(conf).toContain(`key "${join(dir, 'site-a.key')}"`);
    const cert = new X509Certificate(/<cert>\n([\s\S]*?)<\/cert>/.exec(conf)?.[1] ?? '');
    const key = createPublicKey(readFileSync(join(dir, 'site-a.key')));
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.modulusLength]).toStrictEqual(['rsa', 2048]);
    expect(cert.publicKey.export({ format: 'der', type: 'spki' })).toStrictEqual(
      key.export({ format: 'der', type: 'spki' }),
    );
    expect(
      enrollmentSchema.parse((await api(base, 'GET', `/gateways/rsa-gw/enrollments/${e.id}`)).json()).status,
    ).toBe('used');
  });

  it('makes a P-256 key when the enrollment URL says keyType=ec, and takes everything from the environment', async () => {
    const e = await enrollment('ec-gw', 'site-ec');
    expect(e.enrollUrl).toMatch(/\?keyType=ec$/);
    const dir = branchDir('ec');
    const run = await runScript([], { ENROLL_URL: e.enrollUrl, ENROLL_TOKEN: e.token, ENROLL_DIR: dir });
    expect([run.status, run.stderr]).toStrictEqual([0, '']);
    // The name defaults to the gateway named in the token.
    const key = createPublicKey(readFileSync(join(dir, 'ec-gw.key')));
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toStrictEqual(['ec', 'prime256v1']);
    expect((await api(base, 'GET', '/gateways/ec-gw/clients/site-ec')).json()).toMatchObject({
      keyType: 'ec',
    });
  });

  it('says the token was refused and leaves nothing behind when it is used again', async () => {
    const e = await enrollment('rsa-gw', 'site-twice');
    expect((await runScript([e.enrollUrl, e.token, 'first', branchDir('first')])).status).toBe(0);
    const dir = branchDir('again');
    const run = await runScript([e.enrollUrl, e.token, 'again', dir]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/token was refused/);
    expect(readdirSync(dir)).toStrictEqual([]);
  });

  it('says why and leaves nothing behind when the API cannot be reached, the URL is http, or the CSR is refused', async () => {
    const e = await enrollment('rsa-gw', 'site-fail');
    const dir = branchDir('fail');
    const unreachable = await runScript(['http://127.0.0.1:9/api/enroll', e.token, 'x', dir]);
    expect([unreachable.status, unreachable.stderr]).toStrictEqual([
      1,
      expect.stringMatching(/could not reach/),
    ]);
    const http = await runScript([e.enrollUrl, e.token, 'x', dir], { ENROLL_ALLOW_HTTP: '' });
    expect([http.status, http.stderr]).toStrictEqual([1, expect.stringMatching(/plain http/)]);
    // A name the CSR cannot carry is refused before anything is made.
    const badName = await runScript([e.enrollUrl, e.token, 'a b', dir]);
    expect([badName.status, badName.stderr]).toStrictEqual([1, expect.stringMatching(/letters, digits/)]);
    expect(readdirSync(dir)).toStrictEqual([]);
    expect(
      enrollmentSchema.parse((await api(base, 'GET', `/gateways/rsa-gw/enrollments/${e.id}`)).json()).status,
    ).toBe('pending');
  });

  it('never replaces an existing config or key', async () => {
    const e = await enrollment('rsa-gw', 'site-kept');
    const dir = branchDir('kept');
    writeFileSync(join(dir, 'kept.conf'), 'mine');
    const run = await runScript([e.enrollUrl, e.token, 'kept', dir]);
    expect([run.status, run.stderr]).toStrictEqual([1, expect.stringMatching(/kept\.conf exists/)]);
    expect(readdirSync(dir)).toStrictEqual(['kept.conf']);
    expect(readFileSync(join(dir, 'kept.conf'), 'utf8')).toBe('mine');
  });

  it('enables and starts openvpn-client@<name> where systemd runs', async () => {
    const e = await enrollment('rsa-gw', 'site-systemd');
    const dir = branchDir('systemd');
    // A systemctl that records what it was asked, first on the PATH.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$@" >> "${join(work, 'systemctl.log')}"\n`);
    chmodSync(join(bin, 'systemctl'), 0o755);
    const run = await runScript([e.enrollUrl, e.token, 'branch', dir], {
      ENROLL_SYSTEMD: 'yes',
      PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    });
    expect([run.status, run.stderr]).toStrictEqual([0, '']);
    expect(readFileSync(join(work, 'systemctl.log'), 'utf8')).toBe('enable --now openvpn-client@branch\n');
  });
});
