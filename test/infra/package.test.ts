/**
 * The deployment package, built the way azd builds it for a Functions app (azure-dev
 * cli/azd/pkg/project: framework_service_node.go, service_target_functionapp.go, project_utils.go): the
 * service's `prepackage` hook, then a zip of the `dist` folder with `.funcignore` applied (gitignore syntax,
 * relative to that folder) and `.azure`, `.funcignore` and `local.settings.json` always left out.
 *
 * It runs on a copy of the working tree in which a sandbox CA key (`.data/secrets`), a client profile
 * (`site-a.ovpn`) and `local.settings.json` have been planted, as `npm start` and the walk-through leave them.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import ignore from 'ignore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '../..');
const STAGE = '.azd-package';

/** Files of the azd zip, as paths relative to the package root ('/'-separated), directories excluded. */
async function azdZipEntries(root: string): Promise<string[]> {
  const rules = ignore().add(readFileSync(join(root, '.funcignore'), 'utf8'));
  const entries: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path).split('\\').join('/');
      const isDir = entry.isDirectory();
      if (isDir && entry.name === '.azure') continue;
      if (!isDir && (entry.name === '.funcignore' || entry.name === 'local.settings.json')) continue;
      if (rules.ignores(isDir ? `${rel}/` : rel)) continue;
      if (isDir) await walk(path);
      else entries.push(rel);
    }
  };
  await walk(root);
  return entries.sort();
}

/** A PEM private key block (PKCS#1, PKCS#8, EC, encrypted), not merely its header in a string. */
const PRIVATE_KEY =
  /-----BEGIN ([A-Z]+ )*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n:,-]{40,}-----END ([A-Z]+ )*PRIVATE KEY-----/;

let project: string;
let files: string[];
let entries: string[];
let packageRoot: string;

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'azd-package-'));
  // The working tree as a developer has it: tracked and untracked files (not ignored ones), the installed
  // node_modules, plus what `npm start` and the walk-through leave behind.
  files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repo })
    .toString('utf8')
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    try {
      if (!lstatSync(join(repo, file)).isFile()) continue;
    } catch {
      continue; // deleted in the working tree
    }
    mkdirSync(dirname(join(project, file)), { recursive: true });
    cpSync(join(repo, file), join(project, file));
  }
  symlinkSync(join(repo, 'node_modules'), join(project, 'node_modules'));
  const key = execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  mkdirSync(join(project, '.data/secrets/gw'), { recursive: true });
  writeFileSync(join(project, '.data/secrets/gw/ca.key'), key);
  writeFileSync(join(project, 'site-a.ovpn'), `client\n<key>\n${key.toString()}</key>\n`);
  writeFileSync(join(project, 'local.settings.json'), '{"Values":{}}\n');

  // azd: the service's prepackage hook (azure.yaml), then the zip of `dist` with .funcignore.
  const azureYaml = readFileSync(join(project, 'azure.yaml'), 'utf8');
  expect(azureYaml).toMatch(/^ {4}dist: \.azd-package$/m);
  expect(azureYaml).toMatch(/^ {8}run: scripts\/azd\/stage-package\.sh$/m);
  // Asynchronously: the hook installs packages for a minute or more, and the test worker must stay responsive.
  await promisify(execFile)('sh', ['scripts/azd/stage-package.sh'], { cwd: project, maxBuffer: 64 << 20 });
  packageRoot = join(project, STAGE);
  entries = await azdZipEntries(packageRoot);
}, 600_000);

// Asynchronously: some 200 MB of small files, which would otherwise block the test worker past vitest's
// 60 s RPC deadline on a busy machine.
afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the azd deployment package', () => {
  it('holds host.json, package.json, the compiled code and node_modules at its root, and nothing else', () => {
    expect([...new Set(entries.map((e) => e.split('/')[0]))].sort()).toStrictEqual([
      'dist',
      'host.json',
      'node_modules',
      'package.json',
    ]);
  });

  it('holds the compiled code of every function and shared module, and only compiled code', () => {
    const sources = files.filter(
      (f) => /^(functions|shared)\/.+\.ts$/.test(f) && !f.split('/').includes('sandbox'),
    );
    expect(sources.length).toBeGreaterThan(30);
    for (const source of sources) expect(entries).toContain(`dist/${source.replace(/\.ts$/, '.js')}`);
    for (const e of entries.filter((p) => p.startsWith('dist/')))
      expect(e).toMatch(/^dist\/(functions|shared)\/.+\.js(\.map)?$/);
  });

  it('holds every production dependency and no development-only package', () => {
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const installed = new Set(
      entries
        .filter((e) => e.startsWith('node_modules/') && e.endsWith('/package.json'))
        .map((e) => e.slice(0, -'/package.json'.length)),
    );
    const locked = Object.entries(lock.packages).filter(([path]) => path.startsWith('node_modules/'));
    const production = locked
      .filter(([, p]) => !p.dev && !p.optional && !p.devOptional)
      .map(([path]) => path);
    const devOnly = locked.filter(([, p]) => p.dev).map(([path]) => path);
    expect(production.length).toBeGreaterThan(20);
    for (const path of production) expect(installed, `${path} is missing`).toContain(path);
    for (const path of devOnly) expect(installed, `${path} is a dev dependency`).not.toContain(path);
    for (const tool of ['vitest', 'typescript', 'eslint', 'prettier', 'tsx'])
      expect(installed).not.toContain(`node_modules/${tool}`);
  });

  it('ships no sandbox code, no tests, no infra, no git data, no local state or profiles', () => {
    const forbidden = entries.filter((e) => {
      const segments = e.split('/');
      const inOwnCode = !e.startsWith('node_modules/');
      return (
        (inOwnCode && segments.some((s) => ['sandbox', 'test', 'tests', 'infra', 'scripts'].includes(s))) ||
        (inOwnCode && /\.test\.js$/.test(e)) ||
        segments.some((s) => ['.git', '.data', '.cache', '.azure'].includes(s)) ||
        /\.(ovpn|pem|key|p12|pfx)$/.test(e) ||
        segments.at(-1) === 'local.settings.json'
      );
    });
    expect(forbidden).toStrictEqual([]);
  });

  it('holds no PEM private key in any file', async () => {
    // Read asynchronously, a few files at a time: the package is some 200 MB.
    const withKeys: string[] = [];
    const queue = [...entries];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let e = queue.pop(); e !== undefined; e = queue.pop())
          if (PRIVATE_KEY.test(await readFile(join(packageRoot, e), 'latin1'))) withKeys.push(e);
      }),
    );
    expect(withKeys).toStrictEqual([]);
    // the planted keys are real keys the scan recognises
    expect(PRIVATE_KEY.test(readFileSync(join(project, '.data/secrets/gw/ca.key'), 'latin1'))).toBe(true);
    expect(PRIVATE_KEY.test(readFileSync(join(project, 'site-a.ovpn'), 'latin1'))).toBe(true);
  });

  it('starts in plain Node with only what it ships: the entry point loads and registers its functions', async () => {
    const main = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { main: string })
      .main;
    expect(entries).toContain(main);
    const run = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(`./${main}`)}); console.log('loaded');`],
      { cwd: packageRoot, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } },
    );
    expect(run.stderr).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find/);
    expect(run.stdout).toContain('loaded');
  });
});
