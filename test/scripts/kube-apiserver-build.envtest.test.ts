/**
 * scripts/kube-apiserver/build.sh with KUBEBUILDER_ASSETS: the directory it prints always holds the three
 * binaries startEnvtest runs, or it stops with a message saying what to do.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeAssets } from '../support/envtest.js';

const script = join(import.meta.dirname, '../../scripts/kube-apiserver/build.sh');
let built: string;
let dir: string;

function run(env: Record<string, string>) {
  const r = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, lastLine: r.stdout.trim().split('\n').at(-1), stderr: r.stderr };
}

/** A directory with links to the given binaries of the cached build. */
function assets(name: string, binaries: readonly string[]): string {
  const path = join(dir, name);
  mkdirSync(path);
  for (const b of binaries) symlinkSync(join(built, b), join(path, b));
  return path;
}

beforeAll(() => {
  built = kubeAssets();
  dir = mkdtempSync(join(tmpdir(), 'kube-assets-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('build.sh with KUBEBUILDER_ASSETS', () => {
  it('uses a directory that holds all three binaries as is', () => {
    const full = assets('full', ['kube-apiserver', 'etcd', 'kube-controller-manager']);
    expect(run({ KUBEBUILDER_ASSETS: full })).toMatchObject({ status: 0, lastLine: full });
  });

  it('pairs a v1.20 kube-apiserver without kube-controller-manager with the built one', () => {
    // GIVEN setup-envtest-like assets (no kube-controller-manager) and a cache that has one
    const given = assets('envtest-1.20', ['kube-apiserver', 'etcd']);
    const cache = join(dir, 'cache');
    mkdirSync(join(cache, 'bin'), { recursive: true });
    symlinkSync(join(built, 'kube-controller-manager'), join(cache, 'bin', 'kube-controller-manager'));
    // WHEN the script runs THEN it prints one directory (in the cache) holding all three
    const r = run({ KUBEBUILDER_ASSETS: given, KUBE_ASSETS_DIR: cache });
    expect(r.status).toBe(0);
    expect(r.lastLine?.startsWith(join(cache, 'assets-'))).toBe(true);
    const printed = r.lastLine!;
    expect(
      ['kube-apiserver', 'etcd', 'kube-controller-manager'].map((b) => readlinkSync(join(printed, b))),
    ).toStrictEqual([
      join(given, 'kube-apiserver'),
      join(given, 'etcd'),
      join(cache, 'bin', 'kube-controller-manager'),
    ]);
  });

  it('refuses another version without kube-controller-manager, saying what to do', () => {
    const given = join(dir, 'envtest-1.30');
    mkdirSync(given);
    for (const b of ['kube-apiserver', 'etcd']) {
      writeFileSync(join(given, b), '#!/bin/sh\necho "Kubernetes v1.30.0"\n');
      chmodSync(join(given, b), 0o755);
    }
    const r = run({ KUBEBUILDER_ASSETS: given, KUBE_ASSETS_DIR: join(dir, 'unused-cache') });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `KUBEBUILDER_ASSETS=${given} holds kube-apiserver v1.30.0 and etcd but no kube-controller-manager`,
    );
    expect(r.stderr).toContain('Add the kube-controller-manager of the same version to that directory');
  });
});
