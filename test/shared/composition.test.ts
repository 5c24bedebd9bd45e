import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { createComposition } from '../../shared/composition.js';
import { USE_CASES } from '../../shared/gateways/api-use-cases.js';
import { loadConfig } from '../../shared/config.js';
import { InternalError } from '../../shared/errors.js';
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
    expect(composition.useCases).toBe(USE_CASES);
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
