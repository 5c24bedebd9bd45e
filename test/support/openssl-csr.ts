/** A key and CSR made by the openssl binary, as a branch would make them: the product never sees the key. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes a new key (RSA-2048, or EC P-256) and a CSR for `/CN=<commonName>` into `dir`, as
 * `<commonName>.key` and `<commonName>.csr`; returns the CSR's PEM and both paths.
 */
export function opensslCsr(
  dir: string,
  commonName: string,
  key: 'rsa' | 'ec' = 'rsa',
): { csrPem: string; keyPath: string; csrPath: string } {
  const keyPath = join(dir, `${commonName}.key`);
  const csrPath = join(dir, `${commonName}.csr`);
  const newKey =
    key === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync(
    'openssl',
    ['req', '-new', ...newKey, '-nodes', '-subj', `/CN=${commonName}`, '-keyout', keyPath, '-out', csrPath],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { csrPem: readFileSync(csrPath, 'utf8'), keyPath, csrPath };
}
