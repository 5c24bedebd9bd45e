#!/usr/bin/env node
// The whole test command: lint, type check, then every vitest suite (unit, the real-OpenVPN end-to-end
// suite, the kube-apiserver integration suite). Ends with the plain line CI reads: "N passed, N failed".
// Lint and type check count as one test each, so a red lint can never hide behind green tests.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const extraArgs = process.argv.slice(2);
let passed = 0;
let failed = 0;

function step(name, cmd, args) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  const ok = r.status === 0;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (ok) passed += 1;
  else failed += 1;
}

if (extraArgs.length === 0) {
  step('lint', 'npx', ['eslint', '.', '--max-warnings=0']);
  step('prettier', 'npx', ['prettier', '--check', '.']);
  step('layers', 'npm', ['run', '--silent', 'lint:layers']);
  step('typecheck', 'npx', ['tsc', '-p', 'tsconfig.check.json']);
}

mkdirSync('.cache', { recursive: true });
const report = '.cache/vitest-report.json';
rmSync(report, { force: true });
const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extraArgs],
  { stdio: 'inherit' },
);
let skipped = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  // A suite that failed to load has no tests counted: count it as a failure.
  failed += r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  if (r.numTotalTests === 0) failed += 1;
} catch {
  console.log('vitest wrote no report');
  failed += 1;
}
if (vitest.status !== 0 && failed === 0) failed += 1;
// Skipped tests are not allowed: a prerequisite missing in CI is a failure, not a skip.
if (skipped > 0) {
  console.log(`${skipped} skipped or todo tests: not allowed`);
  failed += skipped;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
