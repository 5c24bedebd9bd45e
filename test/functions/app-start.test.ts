/**
 * The Functions host's app-start check (functions/app-start.ts): the configuration is validated when the
 * host starts the app, with one clear error line; roles are refused unless App Service Authentication
 * (the platform's WEBSITE_AUTH_ENABLED) fronts the app.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startApp } from '../../functions/app-start.js';
import { ConfigError } from '../../shared/errors.js';
import { ROLES_WITHOUT_AUTHENTICATION } from '../../shared/startup.js';

function start(env: NodeJS.ProcessEnv): { error: unknown; lines: string[] } {
  const lines: string[] = [];
  try {
    startApp(env, (line) => lines.push(line));
    return { error: undefined, lines };
  } catch (e: unknown) {
    return { error: e, lines };
  }
}

const problemsOf = (line: string | undefined) =>
  (JSON.parse(line ?? '{}') as { problems?: string[] }).problems;

afterEach(() => vi.restoreAllMocks());

describe('the app-start check', () => {
  it('refuses to start with roles on when App Service Authentication does not front the app', () => {
    // GIVEN roles on and no WEBSITE_AUTH_ENABLED (a forged x-ms-client-principal would be trusted)
    const { error, lines } = start({ AUTH_ROLES_ENABLED: 'true' });
    // THEN the start fails with that one problem, logged once
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toStrictEqual([ROLES_WITHOUT_AUTHENTICATION]);
    expect(lines).toHaveLength(1);
    expect(problemsOf(lines[0])).toStrictEqual([ROLES_WITHOUT_AUTHENTICATION]);
  });

  it.each(['True', 'true'])(
    'starts with roles on when the platform reports Authentication (WEBSITE_AUTH_ENABLED=%s)',
    (value) => {
      const { error, lines } = start({ AUTH_ROLES_ENABLED: 'true', WEBSITE_AUTH_ENABLED: value });
      expect(error).toBeUndefined();
      expect(lines).toStrictEqual([]);
    },
  );

  it('starts with roles off without Authentication (function keys only)', () => {
    expect(start({ AUTH_ROLES_ENABLED: 'false' }).error).toBeUndefined();
  });

  it('lists every bad setting in one error line at start, not on the first request', () => {
    const { error, lines } = start({ KUBE_TARGET: 'aks', AUTH_ROLES_ENABLED: 'yes', ROLL_POLL_SECONDS: '0' });
    expect(error).toBeInstanceOf(ConfigError);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      message: 'aks-vpn-gateways cannot start: invalid configuration',
    });
    expect(
      problemsOf(lines[0])
        ?.map((p) => p.split(':')[0])
        .sort(),
    ).toStrictEqual(
      [
        'AKS_CLUSTER_NAME',
        'AKS_RESOURCE_GROUP',
        'AUTH_ROLES_ENABLED',
        'AZURE_SUBSCRIPTION_ID',
        'OPENVPN_IMAGE',
        'ROLL_POLL_SECONDS',
      ].sort(),
    );
  });

  it('is registered as the app-start hook by the entry point the host loads', async () => {
    // Outside the host @azure/functions only warns that it skips the registration: that warning is the call.
    const warnings: string[] = [];
    vi.spyOn(console, 'warn').mockImplementation(
      (...args: unknown[]) => void warnings.push(args.map(String).join(' ')),
    );
    vi.resetModules();
    await import('../../functions/index.js');
    expect(warnings.filter((w) => w.includes('register appStart hook'))).toHaveLength(1);
  });
});
