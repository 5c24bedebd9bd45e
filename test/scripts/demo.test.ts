/**
 * The README's curl walk-through (`scripts/demo.sh`) against the BUILT sandbox started with plain
 * `node dist-sandbox/sandbox/main.js`, exactly what `npm start` runs; then SIGTERM and a clean exit.
 * Also: the product's own build (what deploys) holds no sandbox code.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let child: ChildProcess | undefined;
let dataDir = '';
let base = '';
let output = '';

/**
 * Runs a command to completion without blocking the test worker (a chain of synchronous spawns starves
 * vitest's worker RPC, which gives up after 60 s on a busy machine).
 */
function runAsync(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  // A fresh dist/: what deploys is exactly what this build makes.
  await rm('dist', { recursive: true, force: true });
  for (const project of ['tsconfig.json', 'sandbox/tsconfig.json']) {
    const build = spawnSync('npx', ['tsc', '-p', project], { encoding: 'utf8' });
    expect(build.status, build.stdout + build.stderr).toBe(0);
  }
  dataDir = await mkdtemp(join(tmpdir(), 'avg-demo-'));
  const port = await freePort();
  child = spawn(process.execPath, ['dist-sandbox/sandbox/main.js'], {
    env: {
      PATH: process.env.PATH ?? '',
      SANDBOX_PORT: String(port),
      SANDBOX_DATA_DIR: dataDir,
      SECRETS_DIR: join(dataDir, 'secrets'),
      ROLL_POLL_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  base = `http://127.0.0.1:${port}/api`;
  const deadline = Date.now() + 30_000;
  // The start-up banner ends with the OpenAPI line: wait for all of it, not just its first chunk.
  while (!output.includes('OpenAPI: ')) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`sandbox did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('scripts/demo.sh against npm start', () => {
  it('prints where it listens and which backends it uses', () => {
    expect(output).toContain(`sandbox listening on ${base}`);
    expect(output).toMatch(/Kubernetes: embedded cluster, one YAML file per object under .*\/cluster/);
    expect(output).toMatch(/secret store: directory/);
    expect(output).toMatch(/operations: in-process/);
  });

  it('builds what deploys without a line of the sandbox', async () => {
    // GIVEN the product's build (dist/, fresh) THEN it holds functions/ and shared/ only, and no module
    // of it names a module of the sandbox
    const files = (await readdir('dist', { recursive: true })).filter((f) => f.endsWith('.js'));
    expect(new Set(files.map((f) => f.split('/')[0]))).toStrictEqual(new Set(['functions', 'shared']));
    const sources = await Promise.all(files.map((f) => readFile(join('dist', f), 'utf8')));
    const naming = files.filter((_f, i) =>
      /sandbox\/|embedded-cluster|in-process-operations|run-orchestration|replay-engine/.test(
        sources[i] ?? '',
      ),
    );
    expect(naming).toStrictEqual([]);
  });

  it('loads the Functions entry point from the built output with plain node', async () => {
    const load = await runAsync(
      process.execPath,
      ['-e', "import('./dist/functions/index.js').then(() => console.log('loaded'))"],
      {},
    );
    expect([load.status, load.stdout.trim()]).toStrictEqual([0, 'loaded']);
  });

  it('runs every step of the walk-through', async () => {
    const started = Date.now();
    const demo = await runAsync('bash', ['scripts/demo.sh'], {
      env: { ...process.env, BASE: base, GW: 'demo' },
      timeout: 240_000,
    });
    console.log(demo.stderr);
    console.log(`demo.sh: ${Date.now() - started} ms`);
    expect(demo.status, demo.stderr).toBe(0);
    expect(demo.stderr).toContain('demo finished');
  }, 300_000);

  it("runs the README's walk-through block verbatim", async () => {
    const readme = await readFile('README.md', 'utf8');
    const block = /## Walk-through[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const cwd = await mkdtemp(join(tmpdir(), 'avg-readme-'));
    try {
      const run = await runAsync('bash', ['-e', '-o', 'pipefail', '-c', block!], {
        cwd,
        env: { ...process.env, BASE: base },
        timeout: 120_000,
      });
      console.log(run.stdout, run.stderr);
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('"status":"Succeeded"');
      expect(run.stdout).toMatch(/^remote vpn\.example\.com 443$/m);
      expect(run.stdout).toContain('<key>');
      expect(run.stdout).toMatch(/"status":"revoked"/);
      expect(run.stdout).toMatch(/Serial Number: [0-9A-F]+/);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 180_000);

  it("runs the operator's guide's API block verbatim (first gateway, client, profile, port mapping, revocation)", async () => {
    const readme = await readFile('README.md', 'utf8');
    const block = /### Operator's guide[\s\S]*?5\. \*\*The first gateway[\s\S]*?```sh\n([\s\S]*?)```/.exec(
      readme,
    )?.[1];
    expect(block).toBeDefined();
    const cwd = await mkdtemp(join(tmpdir(), 'avg-guide-'));
    try {
      const run = await runAsync('bash', ['-e', '-o', 'pipefail', '-c', block!], {
        cwd,
        env: { ...process.env, BASE: base },
        timeout: 120_000,
      });
      expect(run.status, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('"status":"Succeeded"');
      expect(run.stdout).toMatch(/"phase":"Ready"/);
      expect(run.stdout).toMatch(/"name":"branch-a"/);
      expect(run.stdout).toMatch(/"status":"revoked"/);
      const profile = await readFile(join(cwd, 'branch-a.ovpn'), 'utf8');
      expect(profile).toMatch(/^client$/m);
      expect(profile).toContain('<key>');
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 180_000);

  it('passes scripts/smoke.sh, the first-deploy check: create, wait, issue, download, revoke, delete', async () => {
    const smoke = await runAsync('bash', ['scripts/smoke.sh'], {
      env: { ...process.env, BASE: base, GW: 'smoke', WAIT_SECONDS: '60' },
      timeout: 240_000,
    });
    expect(smoke.status, smoke.stdout + smoke.stderr).toBe(0);
    expect(smoke.stdout).toContain('smoke: OK');
    for (const step of [
      'PUT /gateways/smoke -> 201',
      'POST /gateways/smoke/clients -> 201',
      'GET /gateways/smoke/clients/smoke-client/profile -> 200',
      'DELETE /gateways/smoke/clients/smoke-client -> 200',
      'DELETE /gateways/smoke -> 202',
      'GET /gateways/smoke -> 404',
    ])
      expect(smoke.stderr).toContain(step);
  }, 300_000);

  it('shuts down cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child?.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
