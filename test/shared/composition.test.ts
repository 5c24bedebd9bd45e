import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { USE_CASES, createComposition } from '../../shared/composition.js';
import { loadConfig } from '../../shared/config.js';
import { InternalError } from '../../shared/errors.js';

const { InvocationContext } = azureFunctions;

describe('createComposition', () => {
  it('constructs nothing until a request needs it', () => {
    // GIVEN a target whose clients cannot be built here
    const composition = createComposition({
      host: 'functions',
      config: loadConfig({ KUBE_TARGET: 'sandbox' }),
    });
    // THEN building the composition and reading its config does not fail
    expect(composition.config().KUBE_TARGET).toBe('sandbox');
    expect(composition.useCases).toBe(USE_CASES);
  });

  it('refuses the sandbox target outside the sandbox host with a clear internal error', async () => {
    const composition = createComposition({ host: 'functions', config: loadConfig({}) });
    await expect(composition.deps(new InvocationContext())).rejects.toBeInstanceOf(InternalError);
  });

  it.each([
    [
      {},
      'sandbox',
      ['Kubernetes: sandbox API server', 'secret store: directory .data/secrets', 'operations: in-process'],
    ],
    [
      {
        KUBECONFIG: '/k/config',
        OPENVPN_IMAGE: 'contoso.azurecr.io/aks-vpn-gateways/openvpn:1',
        SECRET_STORE: 'keyvault',
        KEY_VAULT_URL: 'https://kv.vault.azure.net',
      },
      'functions',
      [
        'Kubernetes: kubeconfig /k/config',
        'secret store: Key Vault https://kv.vault.azure.net',
        'operations: Durable Functions',
      ],
    ],
  ] as const)('describes its backends for %j on the %s host', (env, host, lines) => {
    expect(createComposition({ host, config: loadConfig(env) }).describeBackends()).toStrictEqual(lines);
  });
});
