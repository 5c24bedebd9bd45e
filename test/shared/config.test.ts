import { describe, expect, it } from 'vitest';
import { SANDBOX_OPENVPN_IMAGE, loadConfig } from '../../shared/config.js';
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
    expect(loadConfig({ KUBECONFIG: '/tmp/kc', OPENVPN_IMAGE: 'contoso.azurecr.io/vpn:1' }).KUBE_TARGET).toBe(
      'kubeconfig',
    );
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
        'OPENVPN_IMAGE',
        'SANDBOX_PORT',
      ].sort(),
    );
  });

  it.each([
    [
      'aks',
      {
        AZURE_SUBSCRIPTION_ID: '00000000-0000-0000-0000-000000000000',
        AKS_RESOURCE_GROUP: 'rg',
        AKS_CLUSTER_NAME: 'c',
      },
    ],
    ['kubeconfig', { KUBECONFIG: '/tmp/kc' }],
  ])('stops the start when KUBE_TARGET=%s has no OPENVPN_IMAGE, naming the setting', (target, env) => {
    // GIVEN a real cluster target and no image (an empty app setting counts as unset)
    const error = (() => {
      try {
        loadConfig({ KUBE_TARGET: target, ...env, OPENVPN_IMAGE: '' });
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    // THEN one problem, naming the setting and what to set it to
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toStrictEqual([
      `OPENVPN_IMAGE: required when KUBE_TARGET=${target}: the gateway image in a registry the cluster can pull (azd sets it to the image built from infra/image, by digest)`,
    ]);
  });

  it('stops the start on AKS_CREDENTIALS=admin, a removed setting, instead of ignoring it', () => {
    expect(() => loadConfig({ AKS_CREDENTIALS: 'admin' })).toThrow(
      /^invalid configuration:\n {2}- AKS_CREDENTIALS: only 'user'/,
    );
    expect(loadConfig({ AKS_CREDENTIALS: 'user' }).KUBE_TARGET).toBe('sandbox');
  });

  it('renders a registry-less placeholder image in the sandbox, and the configured image elsewhere', () => {
    expect(loadConfig({}).OPENVPN_IMAGE).toBe(SANDBOX_OPENVPN_IMAGE);
    expect(SANDBOX_OPENVPN_IMAGE.startsWith('localhost/')).toBe(true);
    const image = 'contoso.azurecr.io/aks-vpn-gateways/openvpn@sha256:' + 'a'.repeat(64);
    expect(loadConfig({ KUBECONFIG: '/tmp/kc', OPENVPN_IMAGE: image }).OPENVPN_IMAGE).toBe(image);
  });
});

describe('settings checked at start', () => {
  it.each([
    ['DEFAULT_ROUTES', '10.0.0.0/16,not-a-cidr'],
    ['DEFAULT_ROUTES', '10.0.0.1/16'],
    ['LABEL_DOMAIN', 'Vpn.Example.com'],
    ['LABEL_DOMAIN', 'vpn_example.com'],
    ['CRL_TIMER_SCHEDULE', '0 3 * * *'],
    ['CRL_VALIDITY_DAYS', '0'],
    ['ARM_ENDPOINT', 'management.azure.com'],
  ])('%s=%s stops the start with a message naming the setting', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(ConfigError);
    try {
      loadConfig({ [key]: value });
    } catch (e) {
      expect((e as ConfigError).problems).toHaveLength(1);
      expect((e as ConfigError).problems[0]).toMatch(new RegExp(`^${key}: `));
    }
  });

  it('accepts well-formed values', () => {
    const config = loadConfig({
      DEFAULT_ROUTES: ' 10.0.0.0/16 , 10.244.0.0/16',
      LABEL_DOMAIN: 'vpn.example.com',
      CRL_TIMER_SCHEDULE: '0 30 2 * * *',
    });
    expect(config.DEFAULT_ROUTES).toStrictEqual(['10.0.0.0/16', '10.244.0.0/16']);
    expect(config.LABEL_DOMAIN).toBe('vpn.example.com');
    expect(config.CRL_TIMER_SCHEDULE).toBe('0 30 2 * * *');
  });
});
