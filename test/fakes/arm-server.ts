/**
 * A local HTTPS server that answers the Azure Resource Manager routes @azure/arm-containerservice really
 * calls for our AKS target (managedClusters get, listClusterUserCredential, listClusterAdminCredential),
 * with bearer-token checks and ARM error bodies, so the SDK runs unchanged against it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 / localhost. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface FakeCluster {
  readonly location: string;
  readonly serviceCidr?: string;
  readonly podCidr?: string;
  readonly fqdn: string;
  readonly userKubeconfig: string;
  readonly adminKubeconfig: string;
}

export interface ArmServer {
  readonly url: string;
  readonly ca: string;
  readonly requests: {
    method: string;
    path: string;
    apiVersion: string | null;
    authorization: string | undefined;
  }[];
  close(): Promise<void>;
}

export async function startArmServer(o: {
  subscriptionId: string;
  resourceGroup: string;
  clusters: Record<string, FakeCluster>;
  token: string;
}): Promise<ArmServer> {
  const { cert, key } = selfSignedCertificate();
  const requests: ArmServer['requests'] = [];
  const base = `/subscriptions/${o.subscriptionId}/resourceGroups/${o.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/`;
  const server = createServer({ cert, key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      authorization: req.headers.authorization,
    });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-ms-request-id': 'fake' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${o.token}`)
      return send(401, { error: { code: 'AuthenticationFailed', message: 'missing or bad bearer token' } });
    if (!url.searchParams.get('api-version'))
      return send(400, { error: { code: 'MissingApiVersionParameter', message: 'api-version is required' } });
    if (!url.pathname.startsWith(base))
      return send(404, {
        error: { code: 'ResourceGroupNotFound', message: `no resource at ${url.pathname}` },
      });
    const [name, action] = url.pathname.slice(base.length).split('/');
    const cluster = name ? o.clusters[name] : undefined;
    if (!cluster)
      return send(404, {
        error: {
          code: 'ResourceNotFound',
          message: `The Resource 'Microsoft.ContainerService/managedClusters/${name}' was not found.`,
        },
      });
    const kubeconfig = (yaml: string) => ({
      kubeconfigs: [{ name: 'clusterUser', value: Buffer.from(yaml).toString('base64') }],
    });
    if (req.method === 'GET' && action === undefined)
      return send(200, {
        id: `${base}${name}`,
        name,
        type: 'Microsoft.ContainerService/ManagedClusters',
        location: cluster.location,
        properties: {
          provisioningState: 'Succeeded',
          fqdn: cluster.fqdn,
          networkProfile: {
            networkPlugin: cluster.podCidr ? 'kubenet' : 'azure',
            ...(cluster.serviceCidr ? { serviceCidr: cluster.serviceCidr } : {}),
            ...(cluster.podCidr ? { podCidr: cluster.podCidr } : {}),
          },
        },
      });
    if (req.method === 'POST' && action === 'listClusterUserCredential')
      return send(200, kubeconfig(cluster.userKubeconfig));
    if (req.method === 'POST' && action === 'listClusterAdminCredential')
      return send(200, kubeconfig(cluster.adminKubeconfig));
    return send(405, { error: { code: 'MethodNotAllowed', message: `${req.method} ${url.pathname}` } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: cert,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
