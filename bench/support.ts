/**
 * What both benchmark files build the same way: a silent logger, the use-cases' dependencies over a given
 * cluster (in-process operations, a directory secret store, AKS's default CIDRs), and an RSA-2048 CSR
 * made by the `openssl` binary, as a branch would make it.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { InProcessOperations } from '../sandbox/in-process-operations.js';
import { loadConfig } from '../shared/config.js';
import type { GatewayDeps } from '../shared/gateways/deps.js';
import type { Logger } from '../shared/logging.js';
import type { ClusterPort } from '../shared/model/cluster-port.js';
import { DirectorySecretStore } from '../shared/secrets/directory-store.js';

export const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Use-case dependencies over `cluster`, secrets under `dir`, operations run in-process with short polls. */
export function benchDeps(
  cluster: ClusterPort,
  dir: string,
): { deps: GatewayDeps; operations: InProcessOperations } {
  const operations: InProcessOperations = new InProcessOperations({
    deps: () => deps,
    timing: { pollSeconds: 0.05, timeoutSeconds: 30, activityAttempts: 3, retryDelaySeconds: 0.1 },
    log: quiet,
  });
  const deps: GatewayDeps = {
    cluster,
    secrets: new DirectorySecretStore({ directory: join(dir, 'secrets') }),
    clusterInfo: {
      describe: () => Promise.resolve({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16', notes: [] }),
    },
    operations,
    config: loadConfig({}),
    clock: () => new Date(),
    log: quiet,
  };
  return { deps, operations };
}

/** Writes a new RSA-2048 key to `keyPath` and a CSR for `/CN=<commonName>` to `reqPath`. */
export function opensslCsr(keyPath: string, reqPath: string, commonName: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      reqPath,
      '-subj',
      `/CN=${commonName}`,
    ],
    { stdio: 'ignore' },
  );
}
