import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

describe('loadConfig', () => {
  it('applies the sandbox defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config.KUBE_TARGET).toBe('sandbox');
    expect(config.SECRET_STORE).toBe('directory');
    expect(config.SANDBOX_PORT).toBe(7071);
    expect(config.DEFAULT_ROUTES).toStrictEqual([]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('chooses the kubeconfig target when KUBECONFIG is set', () => {
    expect(loadConfig({ KUBECONFIG: '/tmp/kc' }).KUBE_TARGET).toBe('kubeconfig');
  });

  it('lists every bad or missing setting at once', () => {
    let error: unknown;
    try {
      loadConfig({ KUBE_TARGET: 'aks', SECRET_STORE: 'keyvault', SANDBOX_PORT: '70000' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(problems.sort()).toStrictEqual(
      [
        'AKS_CLUSTER_NAME',
        'AKS_RESOURCE_GROUP',
        'AZURE_SUBSCRIPTION_ID',
        'KEY_VAULT_URL',
        'SANDBOX_PORT',
      ].sort(),
    );
  });
});
