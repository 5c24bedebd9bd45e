import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { createComposition } from '../../shared/composition.js';
import { USE_CASES } from '../../shared/gateways/api-use-cases.js';
import { loadConfig } from '../../shared/config.js';
import { InternalError, NotFoundError } from '../../shared/errors.js';
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import { MemoryCluster } from '../fakes/memory-cluster.js';
import { RecordingOperations } from '../fakes/recording-operations.js';

const { InvocationContext } = azureFunctions;

describe('createComposition', () => {
  it('constructs nothing until a request needs it', () => {
    // GIVEN a target whose clients cannot be built here
    const composition = createComposition({ config: loadConfig({ KUBE_TARGET: 'sandbox' }) });
    // THEN building the composition and reading its config does not fail
    expect(composition.config().KUBE_TARGET).toBe('sandbox');
    // AND the use-case table answers every use-case's name with a function (its module loads on the first call)
    const names = Object.keys(USE_CASES) as (keyof typeof USE_CASES)[];
    expect(names.filter((n) => typeof composition.useCases[n] !== 'function')).toStrictEqual([]);
  });

  it('calls the real use-case through the lazy table and passes on its answer and its errors', async () => {
    // GIVEN a composition over a memory cluster holding no gateway
    const cluster = new MemoryCluster();
    const config = loadConfig({ KUBE_TARGET: 'sandbox' });
    const composition = createComposition({ config, cluster });
    const deps = { config, cluster } as unknown as GatewayDeps;
    // WHEN the list and a read of a missing gateway are called through the table
    // THEN the list is empty and the read fails with the use-case's own not-found error
    await expect(composition.useCases.listGateways(deps)).resolves.toStrictEqual([]);
    await expect(composition.useCases.getGateway(deps, 'missing')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses the sandbox target when no cluster is handed in, with a clear internal error', async () => {
    const composition = createComposition({ config: loadConfig({}) });
    await expect(composition.deps(new InvocationContext())).rejects.toBeInstanceOf(InternalError);
  });

  it('uses the cluster, cluster description and operations runner it is handed', async () => {
    // GIVEN a caller's own cluster, description and runner
    const cluster = new MemoryCluster();
    const clusterInfo = { describe: () => Promise.resolve({ notes: ['handed in'] }) };
    const runner = new RecordingOperations();
    // The runner reads its dependencies when it runs work, never while it is built (they include it).
    let background: (() => GatewayDeps) | undefined;
    const composition = createComposition({
      config: loadConfig({}),
      cluster,
      clusterInfo,
      operations: (deps) => {
        background = deps;
        return runner;
      },
    });
    // WHEN a request starts an operation
    const deps = await composition.deps(new InvocationContext());
    const id = await deps.operations.startProvision('g1');
    // THEN the handed-in parts serve the request and the runner's background work alike
    expect(deps.cluster).toBe(cluster);
    expect(deps.clusterInfo).toBe(clusterInfo);
    expect([id, runner.started]).toStrictEqual(['op-1', [{ kind: 'provision', gateway: 'g1' }]]);
    expect(background?.().cluster).toBe(cluster);
    expect(background?.().operations).toBe(runner);
    expect(composition.describeBackends()).toStrictEqual(['secret store: directory .data/secrets']);
  });

  it.each([
    [
      {
        KUBECONFIG: '/k/config',
        OPENVPN_IMAGE: 'contoso.azurecr.io/aks-vpn-gateways/openvpn:1',
        SECRET_STORE: 'keyvault',
        KEY_VAULT_URL: 'https://kv.vault.azure.net',
      },
      [
        'Kubernetes: kubeconfig /k/config',
        'secret store: Key Vault https://kv.vault.azure.net',
        'operations: Durable Functions',
      ],
    ],
  ] as const)('describes its backends for %j', (env, lines) => {
    expect(createComposition({ config: loadConfig(env) }).describeBackends()).toStrictEqual(lines);
  });
});
