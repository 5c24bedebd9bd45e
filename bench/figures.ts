/**
 * The performance figures, each measured side by side with its floor and anchor in this one run (samples
 * interleaved, so a loaded machine slows both sides alike and the ratio stays meaningful). Printed as a
 * table and written to bench/results/latest.json. Nothing is asserted: no time fails anything.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPair, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { ALL_ROUTES } from '../functions/routes.js';
import { convergeCcd } from '../shared/gateways/ccd-convergence.js';
import { issueClient, revokeClient } from '../shared/gateways/clients.js';
import { updateState } from '../shared/gateways/gateway-state.js';
import { putGateway } from '../shared/gateways/gateways.js';
import { KubeCluster } from '../shared/kube/kube-cluster.js';
import type { ClientRecord } from '../shared/model/gateway.js';
import { buildCrl, createCa, issueClientCert, randomSerial } from '../shared/pki/index.js';
import { startEnvtest, startFakeKubelet } from '../test/support/envtest.js';
import { benchDeps, opensslCsr } from './support.js';

const keygen = promisify(generateKeyPair);
const EASYRSA = '/usr/share/easy-rsa/easyrsa';

const now = () => performance.now();
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(2));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
async function time(fn: () => unknown): Promise<number> {
  const t = now();
  await fn();
  return now() - t;
}
/** `n` rounds of every function in turn (interleaved), the median of each. */
async function sideBySide(
  n: number,
  fns: (() => unknown)[],
  summary: (samples: number[]) => number = median,
): Promise<number[]> {
  const samples = fns.map(() => [] as number[]);
  for (let i = 0; i < n; i += 1) for (const [j, fn] of fns.entries()) samples[j]!.push(await time(fn));
  return samples.map(summary);
}

const mean = (samples: number[]) => samples.reduce((sum, v) => sum + v, 0) / samples.length;

interface Row {
  readonly figure: string;
  readonly ms: number;
  readonly floor?: { readonly what: string; readonly ms: number };
  readonly anchor?: { readonly what: string; readonly ms: number };
  readonly ratio?: { readonly of: string; readonly value: number };
  readonly goal: string;
  readonly met: boolean;
  readonly extra?: Record<string, unknown>;
}
const rows: Row[] = [];

/** Debian's easy-rsa, installed when missing (with an index refresh if the first install fails). */
function ensureEasyRsa(): boolean {
  if (existsSync(EASYRSA)) return true;
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-q', 'easy-rsa'], { stdio: 'ignore' }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
    install();
  }
  return existsSync(EASYRSA);
}

/** easy-rsa's own commands in a fresh PKI: build-client-full, and import-req + sign-req of a CSR. */
function easyRsa(rounds: number): { buildClientFull: number; signReq: number } | undefined {
  if (!ensureEasyRsa()) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'easyrsa-'));
  const env = { ...process.env, EASYRSA_PKI: join(dir, 'pki'), EASYRSA_BATCH: '1' };
  const run = (...args: string[]) => execFileSync(EASYRSA, args, { env, cwd: dir, stdio: 'ignore' });
  try {
    run('init-pki');
    run('--days=3650', '--req-cn=bench', 'build-ca', 'nopass');
    const full: number[] = [];
    const signReq: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      let t = now();
      run('build-client-full', `full-${i}`, 'nopass');
      full.push(now() - t);
      opensslCsr(join(dir, `r${i}.key`), join(dir, `r${i}.req`), `req-${i}`);
      t = now();
      run('import-req', join(dir, `r${i}.req`), `req-${i}`);
      run('sign-req', 'client', `req-${i}`);
      signReq.push(now() - t);
    }
    return { buildClientFull: median(full), signReq: median(signReq) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pkiRows(): Promise<void> {
  const ca = await createCa({ commonName: 'bench CA' });
  const dir = mkdtempSync(join(tmpdir(), 'bench-csr-'));
  opensslCsr(join(dir, 'k'), join(dir, 'r'), 'x');
  const csrPem = readFileSync(join(dir, 'r'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const tbs = Buffer.alloc(900, 1);
  const nativeSign = () => sign('sha256', tbs, privateKey);
  const easy = easyRsa(3);

  // RSA key generation searches for primes: its time is random with a long tail, so a few samples' medians
  // swing from 0.6× to 2× between runs. The mean of many interleaved samples is what settles (150 each:
  // within a few percent from run to run here).
  const [rsaIssue, bareRsa] = await sideBySide(
    150,
    [
      () => issueClientCert(ca, { commonName: 'c', keyType: 'rsa' }),
      () => keygen('rsa', { modulusLength: 2048 }),
    ],
    mean,
  );
  rows.push({
    figure: 'issue with a generated RSA-2048 key (mean of 150)',
    ms: rsaIssue!,
    floor: { what: 'bare native generateKeyPair, mean of 150', ms: bareRsa! },
    ...(easy ? { anchor: { what: 'easy-rsa build-client-full', ms: easy.buildClientFull } } : {}),
    ratio: { of: 'floor', value: rsaIssue! / bareRsa! },
    goal: '≤ 1.15× the floor',
    met: rsaIssue! / bareRsa! <= 1.15,
  });
  const [csrIssue, sig] = await sideBySide(40, [
    () => issueClientCert(ca, { commonName: 'c', csrPem }),
    nativeSign,
  ]);
  rows.push({
    figure: 'issue from a CSR',
    ms: csrIssue!,
    floor: { what: 'one native RSA-2048 signature', ms: sig! },
    ...(easy ? { anchor: { what: 'easy-rsa import-req + sign-req', ms: easy.signReq } } : {}),
    ratio: { of: 'floor', value: csrIssue! / sig! },
    goal: '≤ 5 ms',
    met: csrIssue! <= 5,
  });
  const revoked = Array.from({ length: 1000 }, () => ({ serial: randomSerial(), revokedAt: new Date() }));
  const nextUpdate = new Date(Date.now() + 30 * 86_400_000);
  const [crl, sig2] = await sideBySide(20, [
    () => buildCrl(ca, { revoked, crlNumber: 2, nextUpdate }),
    nativeSign,
  ]);
  rows.push({
    figure: 'CRL with 1,000 revoked serials',
    ms: crl!,
    floor: { what: 'one native RSA-2048 signature', ms: sig2! },
    ratio: { of: 'floor', value: crl! / sig2! },
    goal: '≤ 20 ms',
    met: crl! <= 20,
  });
  const [ecIssue, bareEc] = await sideBySide(40, [
    () => issueClientCert(ca, { commonName: 'c', keyType: 'ec' }),
    () => keygen('ec', { namedCurve: 'prime256v1' }),
  ]);
  rows.push({
    figure: 'issue with a generated P-256 key',
    ms: ecIssue!,
    floor: { what: 'bare native P-256 generateKeyPair', ms: bareEc! },
    ratio: { of: 'floor', value: ecIssue! / bareEc! },
    goal: '≤ 5 ms',
    met: ecIssue! <= 5,
  });
}

/**
 * 50 concurrent issues vs 50 sequential, in a fresh `node` running the compiled product (dist/) with only
 * what serving them needs (the adapter, the directory store, the use-case), so the peak RSS is the
 * product's and not this bench's (tsx, easy-rsa runs, the CRL rows' garbage). RSA keys, the default.
 */
function concurrentIssuesRow(kubeconfig: string, secretsDir: string): Row {
  const script = join('bench', '.concurrent-issues.tmp.mjs');
  writeFileSync(
    script,
    `
import { KubeConfig } from '@kubernetes/client-node';
import { ConflictError } from '../dist/shared/errors.js';
import { KubeCluster } from '../dist/shared/kube/kube-cluster.js';
import { DirectorySecretStore } from '../dist/shared/secrets/directory-store.js';
import { loadConfig } from '../dist/shared/config.js';
import { issueClient } from '../dist/shared/gateways/clients.js';
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(process.env.BENCH_KUBECONFIG);
const cluster = new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' });
let conflicts = 0;
const replace = cluster.replaceConfigMap.bind(cluster);
cluster.replaceConfigMap = (...args) => replace(...args).catch((e) => { if (e instanceof ConflictError) conflicts += 1; throw e; });
const quiet = { info() {}, warn() {}, error() {} };
const none = () => Promise.reject(new Error('no operations in this bench'));
const deps = {
  cluster,
  secrets: new DirectorySecretStore({ directory: process.env.BENCH_SECRETS }),
  clusterInfo: { describe: () => Promise.resolve({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16', notes: [] }) },
  operations: { startRoll: none, startLiveApply: none, startProvision: none, startDeletion: none, getOperation: none },
  config: loadConfig({}),
  clock: () => new Date(),
  log: quiet,
};
const startRss = process.memoryUsage().rss;
let peak = startRss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
let t = performance.now();
for (let i = 0; i < 50; i += 1) await issueClient(deps, 'seq', { name: 's-' + i });
const seqMs = performance.now() - t;
const seqPeak = peak;
conflicts = 0;
peak = process.memoryUsage().rss;
t = performance.now();
const ips = (await Promise.all(Array.from({ length: 50 }, (_, i) => issueClient(deps, 'par', { name: 'p-' + i })))).map((c) => c.ip);
const parMs = performance.now() - t;
clearInterval(sampler);
process.stdout.write(JSON.stringify({ seqMs, parMs, distinct: new Set(ips).size, conflicts, startRss, seqPeak, peak }) + '\\n');
`,
  );
  try {
    const out = execFileSync(process.execPath, [script], {
      encoding: 'utf8',
      env: { ...process.env, BENCH_KUBECONFIG: kubeconfig, BENCH_SECRETS: secretsDir },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
      seqMs: number;
      parMs: number;
      distinct: number;
      conflicts: number;
      startRss: number;
      seqPeak: number;
      peak: number;
    };
    const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
    return {
      figure: '50 concurrent issues vs 50 sequential',
      ms: r.parMs,
      anchor: { what: '50 sequential issues', ms: r.seqMs },
      ratio: { of: 'anchor', value: r.parMs / r.seqMs },
      goal: 'distinct addresses, peak RSS ≤ 256 MB',
      met: r.distinct === 50 && r.peak <= 256 * 2 ** 20,
      extra: {
        distinctAddresses: r.distinct,
        conflictRetries: r.conflicts,
        peakRssMB: mb(r.peak),
        sequentialPeakRssMB: mb(r.seqPeak),
        rssAtStartMB: mb(r.startRss),
      },
    };
  } finally {
    rmSync(script, { force: true });
  }
}

/** The real adapter against a real kube-apiserver (envtest, fake kubelet), with the directory store. */
async function useCaseRows(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-'));
  const envtest = await startEnvtest();
  const kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(envtest.kubeConfigYaml);
    const cluster = new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' });
    const { deps, operations } = benchDeps(cluster, dir);
    for (const g of ['small', 'big', 'par', 'seq']) await putGateway(deps, g, { vpnSubnet: '10.140.0.0/16' });
    await operations.drain();

    rows.push(concurrentIssuesRow(envtest.kubeconfigPath, join(dir, 'secrets')));

    // issue / revoke at 2,010 clients vs 10 (2,000 records written straight into the state)
    for (const g of ['small', 'big'])
      for (let i = 0; i < 10; i += 1) await issueClient(deps, g, { name: `r-${i}` });
    const filler: ClientRecord[] = Array.from({ length: 2000 }, (_, i) => ({
      name: `filler-${String(i).padStart(5, '0')}`,
      ip: `10.140.${100 + Math.floor(i / 250)}.${(i % 250) + 2}`,
      serial: randomSerial(),
      issuedAt: new Date().toISOString(),
      notAfter: new Date(Date.now() + 365 * 86_400_000).toISOString(),
      status: i % 10 === 0 ? 'revoked' : 'active',
      ...(i % 10 === 0 ? { revokedAt: new Date().toISOString() } : {}),
      keySource: 'generated',
    }));
    await updateState(deps.cluster, 'big', (s) => ({ ...s, clients: [...s.clients, ...filler] }));
    // The filler's CCD entries too (whatever the gateway's CCD layout), so the CCD ConfigMaps an issue or a
    // revoke patches hold what a real gateway of 2,010 clients would.
    await convergeCcd(deps, 'big');
    // The kube-apiserver storing the state ConfigMap (written whole by every decision: at 2,010 clients its
    // full chunks are sealed in ConfigMaps of their own, so it holds the 218 clients after them), measured
    // as one conditional replace that changes it. The change must be real: the API server does not store a
    // replace that changes nothing, which would measure a no-op. Here meta.json's JSON layout alternates.
    let layout = 0;
    const write = (g: string) => async () => {
      const read = await cluster.readConfigMap(`vpn-${g}`, 'state');
      if (!read) return;
      const meta = JSON.stringify(JSON.parse(read.data['meta.json'] ?? '{}'), null, (layout += 1) % 2);
      const data = { ...read.data, 'meta.json': meta };
      const t = now();
      await cluster.replaceConfigMap(`vpn-${g}`, 'state', data, read.resourceVersion);
      stateWrites[g]?.push(now() - t);
    };
    const stateWrites: Record<string, number[]> = { small: [], big: [] };
    await sideBySide(12, [write('small'), write('big')]);
    const stateBytes = async (g: string) =>
      Object.values((await cluster.readConfigMap(`vpn-${g}`, 'state'))?.data ?? {}).join('').length;
    const stateFloor = {
      stateWriteMs: `${fmt(median(stateWrites['small']!))} vs ${fmt(median(stateWrites['big']!))}`,
      stateKB: `${((await stateBytes('small')) / 1024).toFixed(1)} vs ${((await stateBytes('big')) / 1024).toFixed(1)}`,
    };
    // RSA-2048 issues: key generation's time is random with a long tail (see the first row), so the
    // means of 30 interleaved samples; the P-256 issues beside them (no key generation to speak of) show
    // the same growth without it, against a much smaller base.
    let n = 0;
    const [issueSmall, issueBig] = await sideBySide(
      30,
      [
        () => issueClient(deps, 'small', { name: `i-${(n += 1)}` }),
        () => issueClient(deps, 'big', { name: `i-${n}` }),
      ],
      mean,
    );
    let e = 0;
    const [ecSmall, ecBig] = await sideBySide(
      15,
      [
        () => issueClient(deps, 'small', { name: `e-${(e += 1)}`, keyType: 'ec' }),
        () => issueClient(deps, 'big', { name: `e-${e}`, keyType: 'ec' }),
      ],
      mean,
    );
    let k = 0;
    const [revokeSmall, revokeBig] = await sideBySide(30, [
      () => revokeClient(deps, 'small', `i-${(k += 1)}`),
      () => revokeClient(deps, 'big', `i-${k}`),
    ]);
    rows.push({
      figure: 'issue at 2,010 clients vs 10 (RSA-2048, mean of 30)',
      ms: issueBig!,
      anchor: { what: 'issue at 10 clients', ms: issueSmall! },
      ratio: { of: 'anchor', value: issueBig! / issueSmall! },
      goal: '≤ 1.2×',
      met: issueBig! / issueSmall! <= 1.2,
      extra: {
        ...stateFloor,
        p256IssueMs: `${fmt(ecSmall!)} vs ${fmt(ecBig!)} (${(ecBig! / ecSmall!).toFixed(2)}×)`,
      },
    });
    rows.push({
      figure: 'revoke at 2,010 clients vs 10 (median of 30)',
      ms: revokeBig!,
      anchor: { what: 'revoke at 10 clients', ms: revokeSmall! },
      ratio: { of: 'anchor', value: revokeBig! / revokeSmall! },
      goal: '≤ 1.5×',
      met: revokeBig! / revokeSmall! <= 1.5,
      extra: stateFloor,
    });
    await operations.drain();
  } finally {
    await kubelet.stop();
    await envtest.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Cold load in a fresh node: dist/functions/index.js vs a bare app registering as many triggers. */
function coldLoadRow(): void {
  const bare = join('bench', '.bare-app.tmp.mjs');
  writeFileSync(
    bare,
    [
      "import functions from '@azure/functions';",
      "import df from 'durable-functions';",
      'const handler = async () => ({ status: 200 });',
      `for (let i = 0; i < ${ALL_ROUTES.length}; i += 1) functions.app.http('r' + i, { route: 'r' + i, methods: ['GET'], handler });`,
      "df.app.orchestration('o', function* () { yield undefined; });",
      "df.app.activity('a', { handler: async () => 1 });",
      "functions.app.timer('t', { schedule: '0 0 * * * *', handler: async () => undefined });",
    ].join('\n'),
  );
  const load = (file: string) => {
    const code = `const t = performance.now(); await import(${JSON.stringify(`./${file}`)}); process.stderr.write(JSON.stringify({ ms: performance.now() - t, rss: process.memoryUsage().rss }) + '\\n');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    const last = run.stderr.trim().split('\n').at(-1) ?? '{}';
    return JSON.parse(last) as { ms: number; rss: number };
  };
  const app: { ms: number; rss: number }[] = [];
  const bareRuns: { ms: number; rss: number }[] = [];
  try {
    for (let i = 0; i < 5; i += 1) {
      app.push(load('dist/functions/index.js'));
      bareRuns.push(load(bare));
    }
  } finally {
    rmSync(bare, { force: true });
  }
  const appMs = median(app.map((r) => r.ms));
  const bareMs = median(bareRuns.map((r) => r.ms));
  const appRss = median(app.map((r) => r.rss)) / 2 ** 20;
  const bareRss = median(bareRuns.map((r) => r.rss)) / 2 ** 20;
  rows.push({
    figure: 'cold load of dist/functions/index.js',
    ms: appMs,
    anchor: {
      what: `bare app, ${ALL_ROUTES.length} routes, @azure/functions + durable-functions only`,
      ms: bareMs,
    },
    ratio: { of: `anchor (time; RSS ${(appRss / bareRss).toFixed(2)}×)`, value: appMs / bareMs },
    goal: '≤ 1.5× in time and in RSS',
    met: appMs / bareMs <= 1.5 && appRss / bareRss <= 1.5,
    extra: {
      rssMB: Math.round(appRss),
      bareRssMB: Math.round(bareRss),
      rssRatio: +(appRss / bareRss).toFixed(2),
    },
  });
}

const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown'}`,
  memoryGB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  loadAverageAtStart: loadavg().map((l) => +l.toFixed(1)),
};
const started = new Date().toISOString();
// The product as the Functions host loads it: the cold-load row and the concurrent-issues child use it.
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
  stdio: 'ignore',
});
await pkiRows();
await useCaseRows();
coldLoadRow();
const loadAverageAtEnd = loadavg().map((l) => +l.toFixed(1));

/** The table as markdown, one row per figure, for the terminal and for README.md (`npm run bench:readme`). */
function markdown(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const lines = [
    `Measured ${started.slice(0, 16).replace('T', ' ')} UTC on ${machine.cpus} (${machine.memoryGB} GB), Node ${machine.node}, ` +
      `load average ${machine.loadAverageAtStart.join(' ')} at the start and ${loadAverageAtEnd.join(' ')} at the end ` +
      '(`npm run bench`; floors and anchors measured in the same run, samples interleaved, medians).',
    '',
    '| figure | ms | floor / anchor in the same run (ms) | ratio | goal | met |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const base = [r.floor, r.anchor].filter((b) => b !== undefined).map((b) => `${b.what} ${fmt(b.ms)}`);
    const extra = Object.entries(r.extra ?? {}).map(([k, v]) => `${k} ${String(v)}`);
    const ratio = r.ratio ? `${r.ratio.value.toFixed(2)}× ${r.ratio.of}` : '';
    lines.push(
      `| ${[r.figure, fmt(r.ms), [...base, ...extra].join('; '), ratio, r.goal, r.met ? 'yes' : 'no'].map(cell).join(' | ')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const table = markdown();
console.log(`\n## Performance figures\n\n${table}`);
mkdirSync(join('bench', 'results'), { recursive: true });
writeFileSync(
  join('bench', 'results', 'latest.json'),
  `${JSON.stringify({ started, machine: { ...machine, loadAverageAtEnd }, rows }, null, 2)}\n`,
);
writeFileSync(join('bench', 'results', 'latest.md'), table);
console.log(
  'Written to bench/results/latest.json and latest.md; `npm run bench:readme` puts the table in README.md.',
);
