import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import { manifestInputOf } from '../../../shared/gateways/gateway-objects.js';
import type { GatewayManifestInput } from '../../../shared/kube/manifests.js';
import { buildGatewayManifests, configHash } from '../../../shared/kube/manifests.js';
import { ccdObjectOf } from '../../../shared/model/names.js';
import { state } from '../model/gateway-state.fixture.js';

const { spec } = state;
const input: GatewayManifestInput = {
  spec,
  image: 'example.azurecr.io/openvpn:2.6',
  labelDomain: 'vpn.example.io',
  serverConf: 'port 443\n',
  entrypoint: '#!/bin/sh\n',
  ccd: { a: 'ifconfig-push 10.140.0.2 255.255.255.0\n' },
  portMappings: [{ port: 8081, client: 'a', clientIp: '10.140.0.2', targetPort: 80, protocol: 'tcp' }],
  state,
  pki: { caCrt: 'CA', serverCrt: 'CRT', serverKey: 'KEY', tlsCryptKey: 'TLS', crlPem: 'CRL' },
};

const find = (kind: string, name: string) => {
  const o = buildGatewayManifests(input).find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} missing`);
  return o;
};

describe('buildGatewayManifests', () => {
  it('renders a gateway with port mappings, a DNS label, an internal LB and source ranges as this structure', () => {
    // GIVEN fixed inputs (no clock, no randomness) WHEN built THEN every object matches the reviewed snapshot
    const objects = buildGatewayManifests(input);
    expect(buildGatewayManifests(structuredClone(input))).toStrictEqual(objects);
    expect(objects).toMatchSnapshot();
  });

  it('builds every object of the gateway, labelled, in its namespace', () => {
    const objects = buildGatewayManifests(input);
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toStrictEqual([
      'Namespace//vpn-gw',
      'ConfigMap/vpn-gw/server',
      'ConfigMap/vpn-gw/ccd',
      'ConfigMap/vpn-gw/port-mappings',
      'ConfigMap/vpn-gw/state',
      'Secret/vpn-gw/server-pki',
      'ServiceAccount/vpn-gw/openvpn',
      'Role/vpn-gw/openvpn-status-reporter',
      'RoleBinding/vpn-gw/openvpn-status-reporter',
      'Deployment/vpn-gw/openvpn',
      'Service/vpn-gw/openvpn',
      'Service/vpn-gw/pm-8081',
    ]);
    for (const o of objects)
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'openvpn',
        'app.kubernetes.io/instance': 'gw',
        'app.kubernetes.io/managed-by': 'aks-vpn-gateways',
        'app.kubernetes.io/part-of': 'aks-vpn-gateways',
        'vpn.example.io/gateway': 'gw',
      });
  });

  it('labels the namespace with the Pod Security level its privileged init container needs', () => {
    // GIVEN the Deployment's pod WHEN it has a privileged container THEN baseline would refuse it: privileged
    const pod = (
      find('Deployment', 'openvpn') as unknown as { spec: { template: { spec: Record<string, unknown> } } }
    ).spec.template.spec;
    const containers = [
      ...((pod['initContainers'] as { securityContext?: { privileged?: boolean } }[] | undefined) ?? []),
      ...(pod['containers'] as { securityContext?: { privileged?: boolean } }[]),
    ];
    expect(containers.some((c) => c.securityContext?.privileged === true)).toBe(true);
    expect(find('Namespace', 'vpn-gw').metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
      'pod-security.kubernetes.io/warn': 'privileged',
      'pod-security.kubernetes.io/audit': 'privileged',
    });
  });

  it('gives the LoadBalancer Service the Azure annotations and source ranges', () => {
    const svc = find('Service', 'openvpn');
    expect(svc.metadata.annotations).toStrictEqual({
      'service.beta.kubernetes.io/azure-dns-label-name': 'gw-vpn',
      'service.beta.kubernetes.io/azure-load-balancer-internal': 'true',
    });
    expect(svc['spec']).toStrictEqual({
      type: 'LoadBalancer',
      selector: { 'app.kubernetes.io/name': 'openvpn', 'app.kubernetes.io/instance': 'gw' },
      ports: [{ name: 'vpn', port: 443, targetPort: 'vpn', protocol: 'TCP' }],
      loadBalancerSourceRanges: ['198.51.100.0/24'],
    });
  });

  it('mounts every volume whole (never subPath), with NET_ADMIN, a TCP readiness probe and the config hash', () => {
    const d = find('Deployment', 'openvpn') as unknown as {
      spec: {
        strategy: unknown;
        template: {
          metadata: { annotations: Record<string, string> };
          spec: { containers: Record<string, unknown>[]; volumes: unknown[] };
        };
      };
    };
    const c = d.spec.template.spec.containers[0]!;
    expect(d.spec.strategy).toStrictEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    expect(c['volumeMounts']).toStrictEqual([
      { name: 'server', mountPath: '/etc/openvpn/server', readOnly: true },
      { name: 'pki', mountPath: '/etc/openvpn/pki', readOnly: true },
      { name: 'ccd', mountPath: '/etc/openvpn/ccd', readOnly: true },
      { name: 'port-mappings', mountPath: '/etc/openvpn/port-mappings', readOnly: true },
      { name: 'run', mountPath: '/etc/openvpn/run', readOnly: false },
    ]);
    expect(JSON.stringify(d)).not.toContain('subPath');
    expect(c['securityContext']).toStrictEqual({ capabilities: { add: ['NET_ADMIN', 'MKNOD'] } });
    expect(c['readinessProbe']).toMatchObject({ tcpSocket: { port: 'vpn' } });
    expect(d.spec.template.metadata.annotations).toStrictEqual({
      'vpn.example.io/config-hash': configHash(input),
    });
  });

  it('gives both containers the image, resource requests and limits, and a privileged forwarding init container', () => {
    const pod = (
      find('Deployment', 'openvpn') as unknown as {
        spec: { template: { spec: { initContainers: unknown[]; containers: Record<string, unknown>[] } } };
      }
    ).spec.template.spec;
    expect(pod.initContainers).toStrictEqual([
      {
        name: 'enable-forwarding',
        image: 'example.azurecr.io/openvpn:2.6',
        command: ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'],
        securityContext: { privileged: true },
        resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '32Mi' } },
      },
    ]);
    expect(pod.containers.map((c) => [c['name'], c['image'], c['resources']])).toStrictEqual([
      [
        'openvpn',
        'example.azurecr.io/openvpn:2.6',
        { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
      ],
    ]);
  });

  it('takes the image from OPENVPN_IMAGE in the configuration', () => {
    const config = loadConfig({
      OPENVPN_IMAGE: 'contoso.azurecr.io/vpn/openvpn:2.6.14',
      LABEL_DOMAIN: 'vpn.example.io',
    });
    const objects = buildGatewayManifests(manifestInputOf({ config }, state, input.pki));
    const pod = (
      objects.find((o) => o.kind === 'Deployment') as unknown as {
        spec: {
          template: { spec: { initContainers: { image: string }[]; containers: { image: string }[] } };
        };
      }
    ).spec.template.spec;
    expect([...pod.initContainers, ...pod.containers].map((c) => c.image)).toStrictEqual([
      'contoso.azurecr.io/vpn/openvpn:2.6.14',
      'contoso.azurecr.io/vpn/openvpn:2.6.14',
    ]);
  });

  it('stores the PKI base64-encoded and one ClusterIP Service per mapping', () => {
    expect(find('Secret', 'server-pki')['data']).toMatchObject({
      'ca.crt': Buffer.from('CA').toString('base64'),
    });
    expect(find('Service', 'pm-8081')['spec']).toStrictEqual({
      type: 'ClusterIP',
      selector: { 'app.kubernetes.io/name': 'openvpn', 'app.kubernetes.io/instance': 'gw' },
      ports: [{ name: 'pm-8081', port: 8081, targetPort: 8081, protocol: 'TCP' }],
    });
  });
});

describe('configHash', () => {
  it.each([
    ['server.conf', { serverConf: 'port 444\n' }, true],
    ['the image', { image: 'other:1' }, true],
    ['port mappings (applied live by the watcher)', { portMappings: [] }, false],
    ['the server key', { pki: { ...input.pki, serverKey: 'OTHER' } }, true],
    ['the CRL (re-read live)', { pki: { ...input.pki, crlPem: 'NEW CRL' } }, false],
    ['CCD entries (read at connect)', { ccd: {} }, false],
  ])('changes with %s: %s', (_what, change, changes) => {
    expect(configHash({ ...input, ...change }) !== configHash(input)).toBe(changes);
  });
});

describe('the CCD layouts', () => {
  const entries = Object.fromEntries(
    Array.from({ length: 12 }, (_, i) => [`c${i}`, `ifconfig-push 10.140.0.${i + 2} 255.255.255.0\n`]),
  );
  const built = (ccdShards: number | undefined) =>
    buildGatewayManifests({ ...input, ccd: entries, state: { ...state, ccdShards } });
  const ccdVolumeOf = (objects: ReturnType<typeof built>) =>
    (
      objects.find((o) => o.kind === 'Deployment') as unknown as {
        spec: { template: { spec: { volumes: { name: string }[] } } };
      }
    ).spec.template.spec.volumes.find((v) => v.name.startsWith('ccd'));

  it('spreads the entries over the shards of the state’s layout, each in its name’s shard, empty shards too', () => {
    // GIVEN a state recording 4 shards WHEN built
    const objects = built(4);
    // THEN there are exactly the 4 shard ConfigMaps, holding every entry once, in the shard its name hashes to
    const shards = objects.filter((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('ccd'));
    expect(shards.map((o) => o.metadata.name)).toStrictEqual(['ccd-0', 'ccd-1', 'ccd-2', 'ccd-3']);
    const held = shards.flatMap((o) =>
      Object.entries((o['data'] ?? {}) as Record<string, string>).map(([client, entry]) => {
        expect(ccdObjectOf(client, 4)).toBe(o.metadata.name);
        return [client, entry] as const;
      }),
    );
    expect(Object.fromEntries(held)).toStrictEqual(entries);
    expect(held).toHaveLength(12);
  });

  it('mounts the shards as one projected volume at the CCD path, and the legacy layout as its ConfigMap', () => {
    expect(ccdVolumeOf(built(4))).toStrictEqual({
      name: 'ccd-shards',
      projected: {
        sources: [
          { configMap: { name: 'ccd-0' } },
          { configMap: { name: 'ccd-1' } },
          { configMap: { name: 'ccd-2' } },
          { configMap: { name: 'ccd-3' } },
        ],
      },
    });
    const mountOf = (objects: ReturnType<typeof built>) =>
      (
        objects.find((o) => o.kind === 'Deployment') as unknown as {
          spec: {
            template: { spec: { containers: { volumeMounts: { name: string; mountPath: string }[] }[] } };
          };
        }
      ).spec.template.spec.containers[0]?.volumeMounts.find((m) => m.mountPath === '/etc/openvpn/ccd');
    expect(mountOf(built(4))).toStrictEqual({
      name: 'ccd-shards',
      mountPath: '/etc/openvpn/ccd',
      readOnly: true,
    });
    expect(mountOf(built(undefined))).toStrictEqual({
      name: 'ccd',
      mountPath: '/etc/openvpn/ccd',
      readOnly: true,
    });
    const legacy = built(undefined);
    expect(ccdVolumeOf(legacy)).toStrictEqual({ name: 'ccd', configMap: { name: 'ccd' } });
    expect(legacy.find((o) => o.metadata.name === 'ccd')?.['data']).toStrictEqual(entries);
  });

  it('keeps the config hash across layouts (entries are read at connect; the volume change itself rolls the pod)', () => {
    expect(configHash({ ...input, state: { ...state, ccdShards: 16 } })).toBe(configHash(input));
  });
});
