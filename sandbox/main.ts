/**
 * `npm start`: the local sandbox. Serves the same function handlers on http://SANDBOX_HOST:SANDBOX_PORT/api
 * without Azure Functions Core Tools, over the embedded cluster (or a real cluster via KUBECONFIG), the
 * directory secret store and in-process operations. State lives under SANDBOX_DATA_DIR, across restarts.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import azureFunctions from '@azure/functions';
import type { Timer } from '@azure/functions';
import { makeCrlTimerHandler } from '../functions/crl-timer.js';
import { ALL_ROUTES } from '../functions/routes.js';
import { StaticClusterInfo } from '../shared/aks/static-cluster-info.js';
import { createComposition } from '../shared/composition.js';
import type { Config } from '../shared/config.js';
import { loadConfig } from '../shared/config.js';
import { consoleLogger } from '../shared/logging.js';
import type { ClusterInfoSource } from '../shared/model/cluster-info.js';
import { timingFrom } from '../shared/operations/timing.js';
import { VERSION } from '../shared/version.js';
import { EmbeddedCluster } from './embedded-cluster.js';
import { startSandboxHost } from './host.js';
import { InProcessOperations } from './in-process-operations.js';

export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:7071/api`. */
  readonly url: string;
  /** One line per backend in use. */
  readonly backends: readonly string[];
  /** The embedded cluster (undefined when targeting a real cluster). */
  readonly cluster?: EmbeddedCluster | undefined;
  /** Lets running operations finish (up to `graceMs`), then stops. */
  close(graceMs?: number): Promise<void>;
}

export interface SandboxOptions {
  readonly config: Config;
  /** Overrides SANDBOX_PORT (0 = any free port). */
  readonly port?: number | undefined;
  readonly write?: ((line: string) => void) | undefined;
}

const { InvocationContext } = azureFunctions;
const CRL_REFRESH_INTERVAL_MS = 24 * 3600_000;

/** AKS's kubenet defaults: the CIDRs the embedded cluster describes, unless DEFAULT_ROUTES is set. */
export const SANDBOX_CIDRS = Object.freeze({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16' });

/** The embedded cluster's CIDRs: AKS's defaults, unless DEFAULT_ROUTES is set (then gateways take it). */
const sandboxClusterInfo = (config: Config): ClusterInfoSource =>
  config.DEFAULT_ROUTES.length > 0
    ? new StaticClusterInfo({ defaultRoutes: config.DEFAULT_ROUTES })
    : { describe: () => Promise.resolve({ ...SANDBOX_CIDRS, notes: [] }) };

/** Starts the embedded cluster (KUBE_TARGET=sandbox), the composition and the HTTP host. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const { config } = options;
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = consoleLogger({ component: 'sandbox' });
  const clusterDir = join(config.SANDBOX_DATA_DIR, 'cluster');
  const cluster =
    config.KUBE_TARGET === 'sandbox' ? await EmbeddedCluster.open({ dataDir: clusterDir }) : undefined;
  let operations: InProcessOperations | undefined;
  const composition = createComposition({
    config,
    ...(cluster ? { cluster, clusterInfo: sandboxClusterInfo(config) } : {}),
    operations: (deps) =>
      (operations = new InProcessOperations({
        deps,
        timing: timingFrom(config),
        dataDir: join(config.SANDBOX_DATA_DIR, 'operations'),
        log,
      })),
    log,
  });
  const port = options.port ?? config.SANDBOX_PORT;
  const host = await startSandboxHost({
    composition,
    routes: ALL_ROUTES,
    host: config.SANDBOX_HOST,
    port,
    write,
  });
  // The CRL timer of the Functions app, here on a plain interval: at start, then daily (an expired CRL locks
  // every client out, so the sandbox keeps its gateways' CRLs fresh too).
  const crlHandler = makeCrlTimerHandler(composition);
  const refreshCrls = () =>
    crlHandler({ isPastDue: false } as Timer, new InvocationContext({ functionName: 'crlTimer' })).catch(
      (e: unknown) => write(`CRL refresh: ${e instanceof Error ? e.message : String(e)}`),
    );
  void refreshCrls();
  const crlTimer = setInterval(() => void refreshCrls(), CRL_REFRESH_INTERVAL_MS).unref();
  return {
    url: host.url,
    backends: [
      ...(cluster ? [`Kubernetes: embedded cluster, one YAML file per object under ${clusterDir}`] : []),
      ...composition.describeBackends(),
      'operations: in-process',
      'CRL refresh: at start, then every 24 h',
    ],
    cluster,
    async close(graceMs = 10_000) {
      clearInterval(crlTimer);
      await host.close();
      // An operation still running after the grace period is reported "interrupted" (Failed) next start.
      const gaveUp = new Promise<'gave up'>((r) => setTimeout(r, graceMs, 'gave up').unref());
      if ((await Promise.race([operations?.drain(), gaveUp])) === 'gave up')
        log.warn('operations still running at shutdown', { graceMs });
      await composition.close();
      await cluster?.close();
    },
  };
}

async function main(): Promise<void> {
  const sandbox = await startSandbox({ config: loadConfig() });
  console.log(`aks-vpn-gateways ${VERSION} sandbox listening on ${sandbox.url}`);
  for (const line of [...sandbox.backends, `OpenAPI: ${sandbox.url}/openapi.json`]) console.log(`  ${line}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    sandbox.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`shutdown failed: ${String(e)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

const entry = process.argv[1];
if (entry && realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url)))
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
