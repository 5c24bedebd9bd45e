/**
 * `npm start`: the local sandbox. Serves the same function handlers on
 * http://SANDBOX_HOST:SANDBOX_PORT/api without Azure Functions Core Tools, backed by the sandbox
 * Kubernetes API server (or a real cluster via KUBECONFIG), the directory secret store and in-process
 * operations. State lives under SANDBOX_DATA_DIR and survives a restart.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import azureFunctions from '@azure/functions';
import type { Timer } from '@azure/functions';
import { markSandboxHost } from '../../functions/register.js';
import type { Composition } from '../composition.js';
import { createComposition } from '../composition.js';
import type { Config } from '../config.js';
import { loadConfig } from '../config.js';
import { consoleLogger } from '../logging.js';
import { VERSION } from '../version.js';
import { startSandboxHost } from './host.js';
import { startSandboxKubeApiServer } from './kube-api-server.js';

export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:7071/api`. */
  readonly url: string;
  /** One line per backend in use. */
  readonly backends: readonly string[];
  /** kubeconfig YAML of the sandbox Kubernetes API server (undefined when targeting a real cluster). */
  readonly kubeConfig?: string | undefined;
  close(): Promise<void>;
}

export interface SandboxOptions {
  readonly config: Config;
  /** Overrides SANDBOX_PORT (0 = any free port). */
  readonly port?: number | undefined;
  readonly write?: ((line: string) => void) | undefined;
}

const { InvocationContext } = azureFunctions;
const CRL_REFRESH_INTERVAL_MS = 24 * 3600_000;
const SANDBOX_TIMER = {
  isPastDue: false,
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
} as unknown as Timer;

/** Starts the sandbox Kubernetes API server (when targeted), the composition and the HTTP host. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const { config } = options;
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  // The sandbox Kubernetes API server persists its objects under SANDBOX_DATA_DIR/kube.
  const kube =
    config.KUBE_TARGET === 'sandbox'
      ? await startSandboxKubeApiServer({ dataDir: join(config.SANDBOX_DATA_DIR, 'kube'), host: '127.0.0.1' })
      : undefined;
  const composition: Composition = createComposition({
    config,
    host: 'sandbox',
    sandboxKubeConfig: kube?.kubeConfig(),
    log: consoleLogger({ component: 'sandbox' }),
  });
  markSandboxHost();
  // Imported after the mark, so the modules skip their `app.http` registrations.
  const { ALL_ROUTES } = await import('../../functions/routes.js');
  const host = await startSandboxHost({
    composition,
    routes: ALL_ROUTES,
    host: config.SANDBOX_HOST,
    port: options.port ?? config.SANDBOX_PORT,
    write,
  });
  // The CRL timer of the Functions app, here on a plain interval: at start, then daily (an expired CRL locks
  // every client out, so the sandbox keeps its gateways' CRLs fresh too).
  const { makeCrlTimerHandler } = await import('../../functions/crl-timer.js');
  const crlHandler = makeCrlTimerHandler(composition);
  const refreshCrls = () =>
    crlHandler(SANDBOX_TIMER, new InvocationContext({ functionName: 'crlTimer' })).catch((e: unknown) =>
      write(`CRL refresh: ${e instanceof Error ? e.message : String(e)}`),
    );
  void refreshCrls();
  const crlTimer = setInterval(() => void refreshCrls(), CRL_REFRESH_INTERVAL_MS);
  crlTimer.unref();
  return {
    url: host.url,
    backends: [
      ...composition
        .describeBackends()
        .map((l) => (kube && l.startsWith('Kubernetes:') ? `${l} ${kube.url}` : l)),
      ...(kube ? [`Kubernetes state: ${join(config.SANDBOX_DATA_DIR, 'kube')}`] : []),
      'CRL refresh: at start, then every 24 h',
    ],
    kubeConfig: kube?.kubeConfig(),
    async close() {
      clearInterval(crlTimer);
      await host.close();
      await composition.close();
      await kube?.close();
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig();
  const sandbox = await startSandbox({ config });
  console.log(`aks-vpn-gateways ${VERSION} sandbox listening on ${sandbox.url}`);
  for (const line of sandbox.backends) console.log(`  ${line}`);
  console.log(`  OpenAPI: ${sandbox.url}/openapi.json`);
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

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
