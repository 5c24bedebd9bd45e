import type { AccessToken } from '@azure/identity';
import { AzureLogger, getLogLevel, setLogLevel } from '@azure/logger';
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { getClientProfile, issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { consoleLogger } from '../../../shared/logging.js';
import { KeyVaultSecretStore } from '../../../shared/secrets/key-vault-store.js';
import type { FakeKeyVault } from '../../fakes/key-vault-server.js';
import { startFakeKeyVault } from '../../fakes/key-vault-server.js';
import { MemoryCluster } from '../../fakes/memory-cluster.js';
import { RecordingOperations } from '../../fakes/recording-operations.js';

let kv: FakeKeyVault;
beforeAll(async () => {
  kv = await startFakeKeyVault();
});
afterAll(async () => kv?.close());

/** The lines of a PEM or static-key body worth looking for (long base64/hex lines). */
const secretLines = (text: string) =>
  text.split('\n').filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l) || /^[0-9a-f]{32}$/.test(l));

describe('logs', () => {
  it('never contain a private key, a tls-crypt key, a profile body or the token across issue and revoke, even with the Azure SDK logging verbosely', async () => {
    const captured: string[] = [];
    const capture = (chunk: unknown) => {
      captured.push(String(chunk));
      return true;
    };
    const spies = [
      vi.spyOn(process.stdout, 'write').mockImplementation(capture),
      vi.spyOn(process.stderr, 'write').mockImplementation(capture),
      ...(['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
        vi
          .spyOn(console, m)
          .mockImplementation((...args: unknown[]) => void captured.push(args.map(String).join(' '))),
      ),
    ];
    const cluster = new MemoryCluster();
    const secrets = new KeyVaultSecretStore({
      vaultUrl: kv.url,
      credential: {
        getToken: (): Promise<AccessToken> =>
          Promise.resolve({ token: kv.token, expiresOnTimestamp: Date.now() + 3_600_000 }),
      },
      clientOptions: { tlsOptions: { ca: kv.ca }, disableChallengeResourceVerification: true },
      pollIntervalMs: 20,
    });
    const deps: GatewayDeps = {
      cluster,
      secrets,
      operations: new RecordingOperations(),
      clusterInfo: {
        describe: () => Promise.resolve({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16', notes: [] }),
      },
      config: loadConfig({}),
      clock: () => new Date(),
      log: consoleLogger({ test: 'no-secrets' }),
    };
    // The Azure SDK's own log (request/response lines of every Key Vault call), at its most verbose.
    const sdkLog: string[] = [];
    const sdkLogLevel = getLogLevel();
    const sdkLogSink = AzureLogger.log;
    AzureLogger.log = (...args: unknown[]) => void sdkLog.push(format(...args));
    setLogLevel('verbose');
    let profile = '';
    try {
      await putGateway(deps, 'logs', {});
      await issueClient(deps, 'logs', { name: 'site-a' });
      profile = await getClientProfile(deps, 'logs', 'site-a');
      await revokeClient(deps, 'logs', 'site-a');
    } finally {
      setLogLevel(sdkLogLevel);
      AzureLogger.log = sdkLogSink;
      for (const s of spies) s.mockRestore();
    }
    expect(getLogLevel()).toBe(sdkLogLevel);
    const output = [...captured, ...sdkLog].join('\n');
    expect(output).toContain('client issued');
    expect(output).toContain('client revoked');
    // the SDK really logged the Key Vault traffic: writes, the revocation, the token only as REDACTED
    const sdkOutput = sdkLog.join('\n');
    expect(sdkOutput).toMatch(/azure:keyvault-secrets:info Request: \{[^}]*"method": "PUT"/);
    expect(sdkOutput).toMatch(/azure:keyvault-secrets:info Request: \{[^}]*"method": "PATCH"/);
    expect(sdkOutput).toContain('"authorization": "REDACTED"');
    const ca = await secrets.getCa('logs');
    // every value the vault holds (the CA key, client keys, profiles), read from the fake's state
    const stored = [...kv.secrets.values()].flatMap((versions) =>
      versions.flatMap((v) => Object.values(JSON.parse(v.value) as Record<string, string>)),
    );
    const sensitive = [...secretLines(ca!.keyPem), ...secretLines(profile), ...stored.flatMap(secretLines)];
    expect(sensitive.length).toBeGreaterThan(40);
    for (const line of sensitive) expect(output).not.toContain(line);
    expect(output).not.toMatch(/PRIVATE KEY|OpenVPN Static key|<tls-crypt>|<key>/);
    expect(output).not.toContain(kv.token);
  });
});
