/**
 * `npm run bench:readme`: puts the table of the last `npm run bench` (bench/results/latest.md) into
 * README.md between its bench markers, formatted by Prettier as `npm run lint` checks it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import prettier from 'prettier';

const START = '<!-- bench-table:start -->';
const END = '<!-- bench-table:end -->';

const table = readFileSync('bench/results/latest.md', 'utf8').trim();
const readme = readFileSync('README.md', 'utf8');
const from = readme.indexOf(START);
const to = readme.indexOf(END);
if (from < 0 || to < from) throw new Error(`README.md has no ${START} … ${END} block`);
const next = `${readme.slice(0, from + START.length)}\n\n${table}\n\n${readme.slice(to)}`;
const options = (await prettier.resolveConfig('README.md')) ?? {};
writeFileSync('README.md', await prettier.format(next, { ...options, filepath: 'README.md' }));
console.log('README.md: benchmark table replaced with bench/results/latest.md');
