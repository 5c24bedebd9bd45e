import type { AccessToken, TokenCredential } from '@azure/identity';
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AksClusterInfo, aksKubeConfig } from '../../../shared/aks/aks-cluster.js';
import { NotFoundError } from '../../../shared/errors.js';
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

/** A TokenCredential of our own: ARM scope → the ARM token; the AKS server app → counted tokens. */
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

describe('aksKubeConfig', () => {
  it('replaces the kubelogin exec plugin with an Entra token for the AKS server app, refreshed before expiry', async () => {
    const credential = new FakeCredential(10_200);
    const kc = await aksKubeConfig({
      client: client(credential),
      resourceGroup: 'rg-aks',
      clusterName: 'kubenet',
      credentials: 'user',
      credential,
      serverAppId: '6dae42f8-4368-4678-94ff-3960e28e3630',
      refreshMarginMs: 200,
    });
    expect(kc.getCurrentCluster()?.server).toBe('https://aks-dns.hcp.westeurope.azmk8s.io:443');
    expect(kc.getCurrentUser()).toStrictEqual({ name: 'clusterUser', token: 'aks-token-1' });
    expect(credential.scopes).toContain('6dae42f8-4368-4678-94ff-3960e28e3630/.default');
    expect(arm.requests.at(-1)?.path).toMatch(/\/kubenet\/listClusterUserCredential$/);
    // the token lives 10.2 s; with a 200 ms margin (and a 10 s floor) it is refreshed at ~10 s
    await new Promise((resolve) => setTimeout(resolve, 10_400));
    expect(kc.getCurrentUser()?.token).toBe('aks-token-2');
  }, 20_000);

  it('uses admin credentials as they come when configured', async () => {
    const credential = new FakeCredential(3_600_000);
    const kc = await aksKubeConfig({
      client: client(credential),
      resourceGroup: 'rg-aks',
      clusterName: 'kubenet',
      credentials: 'admin',
      credential,
      serverAppId: 'x',
    });
    expect(kc.getCurrentUser()).toMatchObject({ name: 'clusterAdmin', token: 'admin-static-token' });
    expect(arm.requests.at(-1)?.path).toMatch(/\/kubenet\/listClusterAdminCredential$/);
  });
});
