/**
 * The light cold start, checked by structure (no timing): loading the compiled entry point the Functions
 * host loads (`functions/index.js`) loads none of the heavy SDKs; the composition's factories load them on
 * the first request that needs them. A module loader hook in a fresh `node` records every module loaded.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const HEAVY = [
  '@kubernetes/client-node',
  '@azure/identity',
  '@azure/arm-containerservice',
  '@azure/keyvault-secrets',
] as const;
/** What the use-cases bring (PKI, the Kubernetes object models): loaded with them, on the first call. */
const DOMAIN = ['node-forge', 'kubernetes-models'] as const;

/**
 * Records the npm package of every module loaded (synchronous hooks run on the main thread, so a script
 * can read the set as it goes), printed as one JSON line on stderr at exit.
 */
const HOOK = `
import { registerHooks } from 'node:module';
const packages = new Set();
globalThis.loadedPackages = packages;
registerHooks({
  load(url, context, next) {
    const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url);
    if (m) packages.add(m[1]);
    return next(url, context);
  },
});
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...packages].sort()) + '\\n'));
`;

let dir = '';
let entry = '';

/** Runs `script` (an ES module body) in a fresh node with the hook; the packages it loaded, and its stderr. */
async function loadedBy(
  script: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ loaded: string[]; stderr: string }> {
  const { stderr } = await run(
    process.execPath,
    ['--import', join(dir, 'hook.mjs'), '--input-type=module', '-e', script],
    { cwd: ROOT, env: { PATH: process.env['PATH'], ...env }, maxBuffer: 16 << 20 },
  );
  const line = stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (!line) throw new Error(`the hook reported nothing:\n${stderr}`);
  return { loaded: JSON.parse(line.slice('LOADED '.length)) as string[], stderr };
}

beforeAll(async () => {
  // Compiled as `npm run build` compiles, into a folder inside the project so node_modules resolves.
  dir = await mkdtemp(join(ROOT, '.cold-start-'));
  await run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', join(dir, 'dist')],
    {
      cwd: ROOT,
    },
  );
  await writeFile(join(dir, 'hook.mjs'), HOOK);
  entry = join(dir, 'dist/functions/index.js');
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('cold start of the Functions entry point', () => {
  it('loads the Functions libraries and none of the heavy SDKs', async () => {
    // WHEN the host's entry point is imported
    const { loaded } = await loadedBy(`await import(${JSON.stringify(entry)});`);
    // THEN the two Functions libraries are there (the hook sees packages) and no heavy SDK is
    expect(loaded).toEqual(expect.arrayContaining(['@azure/functions', 'durable-functions']));
    expect(HEAVY.filter((p) => loaded.includes(p))).toStrictEqual([]);
    // AND neither are the use-cases' libraries (node-forge, kubernetes-models)
    expect(DOMAIN.filter((p) => loaded.includes(p))).toStrictEqual([]);
  }, 120_000);

  it('loads the use-cases and their libraries on the first use-case call', async () => {
    const composition = JSON.stringify(join(dir, 'dist/shared/composition.js'));
    // WHEN the composition is built and one use-case is called (against a cluster port handed in, so no
    // SDK is involved)
    const script = `
      const { createComposition } = await import(${composition});
      const cluster = { list: async () => [] };
      const config = { LABEL_DOMAIN: 'example.test' };
      const c = createComposition({ cluster, config });
      process.stderr.write('BUILT ' + JSON.stringify([...globalThis.loadedPackages]) + '\\n');
      const answer = await c.useCases.listGateways({ cluster, config });
      process.stderr.write('ANSWER ' + JSON.stringify(answer) + '\\n');
    `;
    const { loaded, stderr } = await loadedBy(script);
    const built = JSON.parse(/^BUILT (.*)$/m.exec(stderr)?.[1] ?? 'null') as string[] | null;
    // THEN building the composition loaded neither; the call loaded both and answered through the real table
    expect(built && DOMAIN.filter((p) => built.includes(p))).toStrictEqual([]);
    expect(DOMAIN.filter((p) => loaded.includes(p))).toStrictEqual([...DOMAIN]);
    expect(/^ANSWER (.*)$/m.exec(stderr)?.[1]).toBe('[]');
  }, 120_000);

  it('loads the Kubernetes client on the first request that needs the cluster', async () => {
    // GIVEN a kubeconfig target whose API server refuses connections
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const composition = JSON.stringify(join(dir, 'dist/shared/composition.js'));
    // WHEN a request's dependencies are built, then the cluster is asked something
    const script = `
      const { createComposition } = await import(${composition});
      const { InvocationContext } = (await import('@azure/functions')).default;
      const deps = await createComposition().deps(new InvocationContext());
      const built = [...globalThis.loadedPackages];
      process.stderr.write('DEPS BUILT ' + JSON.stringify(built) + '\\n');
      await deps.cluster.namespaceExists('x').catch(() => undefined);
    `;
    const { loaded, stderr } = await loadedBy(script, {
      KUBECONFIG: kubeconfig,
      OPENVPN_IMAGE: 'example.test/openvpn:1',
    });
    const built = JSON.parse(/^DEPS BUILT (.*)$/m.exec(stderr)?.[1] ?? 'null') as string[] | null;
    // THEN building the dependencies loaded no SDK; the first cluster call loaded the Kubernetes client,
    // and nothing of Azure's (not an AKS target)
    expect(built && HEAVY.filter((p) => built.includes(p))).toStrictEqual([]);
    expect(HEAVY.filter((p) => loaded.includes(p))).toStrictEqual(['@kubernetes/client-node']);
  }, 120_000);

  it('loads Key Vault and Azure identity on the first request that needs the secret store', async () => {
    const composition = JSON.stringify(join(dir, 'dist/shared/composition.js'));
    // WHEN a request's dependencies are built, then the Key Vault store is asked something (no Azure
    // identity is reachable here: the call cannot succeed, so the script waits only until the SDKs have
    // loaded, at most 60 s, and exits)
    const script = `
      const { createComposition } = await import(${composition});
      const { InvocationContext } = (await import('@azure/functions')).default;
      const deps = await createComposition().deps(new InvocationContext());
      process.stderr.write('DEPS BUILT ' + JSON.stringify([...globalThis.loadedPackages]) + '\\n');
      deps.secrets.getCa('g').catch(() => undefined);
      for (let i = 0; i < 600 && !globalThis.loadedPackages.has('@azure/keyvault-secrets'); i += 1)
        await new Promise((r) => setTimeout(r, 100));
      process.exit(0);
    `;
    const { loaded, stderr } = await loadedBy(script, {
      KUBECONFIG: join(dir, 'kubeconfig'),
      OPENVPN_IMAGE: 'example.test/openvpn:1',
      SECRET_STORE: 'keyvault',
      KEY_VAULT_URL: 'https://127.0.0.1:1',
    });
    const built = JSON.parse(/^DEPS BUILT (.*)$/m.exec(stderr)?.[1] ?? 'null') as string[] | null;
    // THEN nothing heavy was loaded to build the dependencies; the store's first call loaded its SDKs
    expect(built && HEAVY.filter((p) => built.includes(p))).toStrictEqual([]);
    expect(HEAVY.filter((p) => loaded.includes(p))).toStrictEqual([
      '@azure/identity',
      '@azure/keyvault-secrets',
    ]);
  }, 120_000);
});
