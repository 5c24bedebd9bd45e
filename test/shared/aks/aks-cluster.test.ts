import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefreshScheduler } from '../../../shared/aks/aks-cluster.js';
import { AksClusterInfo, aksKubeConfig, realScheduler } from '../../../shared/aks/aks-cluster.js';
import { NotFoundError, UpstreamError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logging.js';
import type { ArmServer } from '../../fakes/arm-server.js';
import { startArmServer } from '../../fakes/arm-server.js';

const SUB = '00000000-0000-0000-0000-000000000001';
const ARM_TOKEN = 'arm-token';

const kubeconfig = (user: string) => `apiVersion: v1
kind: Config
clusters:
- name: aks
  cluster:
    server: https://aks-dns.hcp.westeurope.azmk8s.io:443
contexts:
- name: aks
  context:
    cluster: aks
    user: ${user === 'exec' ? 'clusterUser' : 'clusterAdmin'}
current-context: aks
users:
${
  user === 'exec'
    ? `- name: clusterUser
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]`
    : `- name: clusterAdmin
  user:
    token: admin-static-token`
}
`;

/** A TokenCredential of our own for ARM: the ARM scope → the ARM token; anything else → counted tokens. */
class FakeCredential implements TokenCredential {
  readonly scopes: string[] = [];
  private count = 0;
  constructor(private readonly lifetimeMs: number) {}
  getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes.join(' ') : scopes;
    this.scopes.push(scope);
    const token = scope.startsWith('https://management') ? ARM_TOKEN : `aks-token-${++this.count}`;
    return Promise.resolve({ token, expiresOnTimestamp: Date.now() + this.lifetimeMs });
  }
}

let arm: ArmServer;
const client = (credential: TokenCredential) =>
  new ContainerServiceClient(credential, SUB, {
    endpoint: arm.url,
    tlsOptions: { ca: arm.ca },
    retryOptions: { maxRetries: 0 },
  });

beforeAll(async () => {
  arm = await startArmServer({
    subscriptionId: SUB,
    resourceGroup: 'rg-aks',
    token: ARM_TOKEN,
    clusters: {
      kubenet: {
        location: 'westeurope',
        serviceCidr: '10.0.0.0/16',
        podCidr: '10.244.0.0/16',
        fqdn: 'kubenet.hcp.westeurope.azmk8s.io',
        userKubeconfig: kubeconfig('exec'),
        adminKubeconfig: kubeconfig('admin'),
      },
      cni: {
        location: 'northeurope',
        serviceCidr: '10.2.0.0/16',
        fqdn: 'cni.hcp.northeurope.azmk8s.io',
        userKubeconfig: kubeconfig('exec'),
        adminKubeconfig: kubeconfig('admin'),
      },
    },
  });
});
afterAll(async () => arm?.close());

describe('AksClusterInfo against a local ARM server', () => {
  it('reads service and pod CIDRs, location and FQDN with a bearer token and an api-version', async () => {
    const info = await new AksClusterInfo({
      client: client(new FakeCredential(3_600_000)),
      resourceGroup: 'rg-aks',
      clusterName: 'kubenet',
      defaultRoutes: [],
    }).describe();
    expect(info).toStrictEqual({
      serviceCidr: '10.0.0.0/16',
      podCidr: '10.244.0.0/16',
      location: 'westeurope',
      fqdn: 'kubenet.hcp.westeurope.azmk8s.io',
      notes: [],
    });
    const request = arm.requests.at(-1)!;
    expect(request).toMatchObject({
      method: 'GET',
      path: `/subscriptions/${SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/kubenet`,
      authorization: `Bearer ${ARM_TOKEN}`,
    });
    expect(request.apiVersion).toMatch(/^\d{4}-\d{2}-\d{2}/);
  });

  it('says so when Azure CNI leaves no pod CIDR, and falls back to DEFAULT_ROUTES', async () => {
    const info = await new AksClusterInfo({
      client: client(new FakeCredential(3_600_000)),
      resourceGroup: 'rg-aks',
      clusterName: 'cni',
      defaultRoutes: ['10.30.0.0/16'],
    }).describe();
    expect(info.podCidr).toBeUndefined();
    expect(info.serviceCidr).toBe('10.2.0.0/16');
    expect(info.notes[0]).toMatch(/Azure CNI.*DEFAULT_ROUTES \(10\.30\.0\.0\/16\)/);
  });

  it('maps a missing cluster to NotFoundError', async () => {
    await expect(
      new AksClusterInfo({
        client: client(new FakeCredential(3_600_000)),
        resourceGroup: 'rg-aks',
        clusterName: 'nope',
        defaultRoutes: [],
      }).describe(),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

/** A virtual clock: scheduled tasks run, in due order, only when the test advances time past them. */
class VirtualScheduler implements RefreshScheduler {
  private time = Date.parse('2026-01-01T00:00:00Z');
  private tasks: { due: number; task: () => void }[] = [];

  now(): number {
    return this.time;
  }

  schedule(task: () => void, delayMs: number): () => void {
    const entry = { due: this.time + delayMs, task };
    this.tasks.push(entry);
    return () => {
      this.tasks = this.tasks.filter((t) => t !== entry);
    };
  }

  get pending(): number {
    return this.tasks.length;
  }

  /** Moves the clock `ms` forward, running each task that falls due and letting what it starts settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      const next = this.tasks
        .filter((t) => t.due <= end)
        .reduce<(typeof this.tasks)[number] | undefined>((a, t) => (a && a.due <= t.due ? a : t), undefined);
      if (!next) break;
      this.tasks = this.tasks.filter((t) => t !== next);
      this.time = next.due;
      next.task();
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.time = end;
  }
}

type Outcome = 'token' | 'fail' | 'hang';

/**
 * A TokenCredential of our own for the AKS server app: each request takes the next scripted outcome
 * (a token `aks-token-<n>` living `lifetimeMs` on the virtual clock, a failure, or no answer at all);
 * the script's last outcome repeats. It records when each request came and whether it was aborted.
 */
class ScriptedCredential implements TokenCredential {
  readonly requests: { at: number; scope: string; aborted: () => boolean }[] = [];
  private issued = 0;
  constructor(
    private readonly clock: VirtualScheduler,
    private readonly lifetimeMs: number,
    private readonly script: readonly Outcome[],
  ) {}

  getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
    const outcome = this.script[this.requests.length] ?? this.script.at(-1) ?? 'token';
    this.requests.push({
      at: this.clock.now(),
      scope: Array.isArray(scopes) ? scopes.join(' ') : scopes,
      aborted: () => options?.abortSignal?.aborted ?? false,
    });
    if (outcome === 'fail') return Promise.reject(new Error('AADSTS50058: Entra unavailable'));
    if (outcome === 'hang') return new Promise(() => undefined);
    return Promise.resolve({
      token: `aks-token-${++this.issued}`,
      expiresOnTimestamp: this.clock.now() + this.lifetimeMs,
    });
  }
}

function recordingLog(): Logger & { entries: { level: string; message: string; fields: unknown }[] } {
  const entries: { level: string; message: string; fields: unknown }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    void entries.push({ level, message, fields });
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

const SERVER_APP = '6dae42f8-4368-4678-94ff-3960e28e3630';
const MINUTE = 60_000;

describe('aksKubeConfig', () => {
  /** A user kubeconfig from the local ARM server whose Entra token comes from `credential`. */
  const userKubeConfig = (
    credential: TokenCredential,
    clock: VirtualScheduler,
    log = recordingLog(),
    signal?: AbortSignal,
  ) =>
    aksKubeConfig({
      client: client(new FakeCredential(3_600_000)),
      resourceGroup: 'rg-aks',
      clusterName: 'kubenet',
      credential,
      serverAppId: SERVER_APP,
      scheduler: clock,
      log,
      ...(signal ? { signal } : {}),
    });

  it('replaces the kubelogin exec plugin with an Entra token for the AKS server app, refreshed 5 minutes before expiry', async () => {
    // GIVEN tokens that live one hour
    const clock = new VirtualScheduler();
    const credential = new ScriptedCredential(clock, 60 * MINUTE, ['token']);
    // WHEN the kubeconfig is made
    const kc = await userKubeConfig(credential, clock);
    // THEN the exec plugin is gone, the first token is in place and the next is fetched at 55 minutes
    expect(kc.getCurrentCluster()?.server).toBe('https://aks-dns.hcp.westeurope.azmk8s.io:443');
    expect(kc.getCurrentUser()).toStrictEqual({ name: 'clusterUser', token: 'aks-token-1' });
    expect(credential.requests[0]?.scope).toBe(`${SERVER_APP}/.default`);
    expect(arm.requests.at(-1)?.path).toMatch(/\/kubenet\/listClusterUserCredential$/);
    await clock.advance(55 * MINUTE - 1);
    expect(kc.getCurrentUser()?.token).toBe('aks-token-1');
    await clock.advance(1);
    expect(kc.getCurrentUser()).toStrictEqual({ name: 'clusterUser', token: 'aks-token-2' });
    expect(credential.requests.map((r) => r.at - credential.requests[0]!.at)).toStrictEqual([0, 55 * MINUTE]);
  });

  it('keeps retrying after two failed refreshes in a row, then uses the new token', async () => {
    // GIVEN a credential whose first refresh fails twice before it succeeds
    const clock = new VirtualScheduler();
    const credential = new ScriptedCredential(clock, 60 * MINUTE, ['token', 'fail', 'fail', 'token']);
    const log = recordingLog();
    const kc = await userKubeConfig(credential, clock, log);
    const start = clock.now();
    // WHEN the refresh falls due and the retries back off (5 s, then 10 s)
    await clock.advance(55 * MINUTE + 15_000);
    // THEN the third refresh attempt's token is the one in use, and the next refresh is scheduled
    expect(credential.requests.map((r) => r.at - start)).toStrictEqual([
      0,
      55 * MINUTE,
      55 * MINUTE + 5_000,
      55 * MINUTE + 15_000,
    ]);
    expect(kc.getCurrentUser()).toStrictEqual({ name: 'clusterUser', token: 'aks-token-2' });
    const tokenExpiresOn = new Date(start + 60 * MINUTE).toISOString();
    const failure = (failures: number, retryInMs: number) => ({
      level: 'warn',
      message: 'AKS Entra token refresh failed; keeping the current token and retrying',
      fields: {
        serverAppId: SERVER_APP,
        failures,
        retryInMs,
        tokenExpiresOn,
        error: 'Error: AADSTS50058: Entra unavailable',
      },
    });
    expect(log.entries).toStrictEqual([
      failure(1, 5_000),
      failure(2, 10_000),
      {
        level: 'info',
        message: 'AKS Entra token refreshed after failures',
        fields: { serverAppId: SERVER_APP, failures: 2 },
      },
    ]);
    expect(JSON.stringify(log.entries)).not.toContain('aks-token-');
    await clock.advance(55 * MINUTE);
    expect(kc.getCurrentUser()?.token).toBe('aks-token-3');
  });

  it("backs off to a bounded interval and keeps trying past the token's expiry", async () => {
    // GIVEN tokens that live 10 minutes and a refresh that fails 12 times in a row
    const clock = new VirtualScheduler();
    const script: Outcome[] = ['token', ...Array<Outcome>(12).fill('fail'), 'token'];
    const credential = new ScriptedCredential(clock, 10 * MINUTE, script);
    const log = recordingLog();
    const kc = await userKubeConfig(credential, clock, log);
    // WHEN 20 minutes pass
    await clock.advance(20 * MINUTE);
    // THEN from the refresh at 5 minutes retries double from 5 s up to 60 s, go on after the token
    // expired at 10 minutes (reported as errors from then on), and once a token comes (14:15) the
    // next refresh is due 5 minutes before it expires
    const at = credential.requests.map((r) => r.at);
    expect(at.slice(1).map((t, n) => t - (at[n] ?? 0))).toStrictEqual([
      5 * MINUTE,
      5_000,
      10_000,
      20_000,
      40_000,
      ...Array<number>(8).fill(60_000),
      5 * MINUTE,
    ]);
    expect(log.entries.map((e) => e.level)).toStrictEqual([
      ...Array<string>(8).fill('warn'),
      ...Array<string>(4).fill('error'),
      'info',
    ]);
    expect(log.entries[8]?.message).toBe(
      'AKS Entra token refresh failed and the token in use has expired; retrying',
    );
    expect(kc.getCurrentUser()?.token).toBe('aks-token-3');
  });

  it('gives up on a token request that never answers and retries it', async () => {
    // GIVEN a refresh whose request hangs
    const clock = new VirtualScheduler();
    const credential = new ScriptedCredential(clock, 60 * MINUTE, ['token', 'hang', 'token']);
    const kc = await userKubeConfig(credential, clock);
    // WHEN the refresh falls due and the 60 s attempt timeout passes
    await clock.advance(55 * MINUTE + 60_000 + 5_000);
    // THEN the hung request was aborted and the retry's token is in use
    expect(credential.requests.map((r) => r.aborted())).toStrictEqual([false, true, false]);
    expect(kc.getCurrentUser()?.token).toBe('aks-token-2');
  });

  it('stops refreshing when its signal is aborted', async () => {
    const clock = new VirtualScheduler();
    const credential = new ScriptedCredential(clock, 60 * MINUTE, ['token']);
    const abort = new AbortController();
    await userKubeConfig(credential, clock, recordingLog(), abort.signal);
    expect(clock.pending).toBe(1);
    abort.abort();
    expect(clock.pending).toBe(0);
    await clock.advance(24 * 60 * MINUTE);
    expect(credential.requests).toHaveLength(1);
  });

  it('fails with a transient UpstreamError when the first token cannot be had', async () => {
    const clock = new VirtualScheduler();
    const error = await userKubeConfig(new ScriptedCredential(clock, MINUTE, ['fail']), clock).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({
      message: `getting an Entra token for the AKS server application ${SERVER_APP}: AADSTS50058: Entra unavailable`,
      transient: true,
    });
    expect(clock.pending).toBe(0);
  });

  it('uses real timers that do not keep the process alive and can be cancelled', async () => {
    const active = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = active();
    const cancelLater = realScheduler.schedule(() => undefined, 60 * MINUTE);
    expect(active()).toBe(before);
    cancelLater();
    const ran: string[] = [];
    realScheduler.schedule(() => ran.push('kept'), 0);
    realScheduler.schedule(() => ran.push('cancelled'), 0)();
    // timers of equal delay fire in the order they were set, so both are due before this one
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(ran).toStrictEqual(['kept']);
  });

  it('never asks ARM for the cluster admin credential', () => {
    // GIVEN every ARM request of this suite (user kubeconfigs, token refreshes, cluster reads)
    const paths = arm.requests.map((r) => r.path);
    expect(paths.some((p) => p.endsWith('/listClusterUserCredential'))).toBe(true);
    // THEN none of them lists the local admin credential
    expect(paths.filter((p) => /listClusterAdminCredential/.test(p))).toStrictEqual([]);
  });
});
