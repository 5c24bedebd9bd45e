/**
 * Pure, typed builders of every Kubernetes object of a gateway (DESIGN.md "What a gateway is"), each
 * validated against the Kubernetes schemas (kubernetes-models) before it leaves, returned as plain JSON.
 */
import { createHash } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { InternalError } from '../errors.js';
import type { GatewaySpec, GatewayState, ResolvedPortMapping } from '../model/gateway.js';
import { namespaceOf } from '../model/gateway.js';
import { stateConfigMapData } from '../model/state-codec.js';
import {
  ENTRYPOINT_KEY,
  MAPPINGS_KEY,
  POD_DIRS,
  POD_PATHS,
  SERVER_CONF_KEY,
  renderPortMappingsFile,
} from '../openvpn/index.js';
import type { KubeObject } from '../model/cluster-port.js';

export interface GatewayManifestInput {
  readonly spec: GatewaySpec;
  readonly image: string;
  readonly labelDomain: string;
  readonly serverConf: string;
  readonly entrypoint: string;
  readonly ccd: Readonly<Record<string, string>>;
  readonly portMappings: readonly ResolvedPortMapping[];
  readonly state: GatewayState;
  readonly pki: {
    readonly caCrt: string;
    readonly serverCrt: string;
    readonly serverKey: string;
    readonly tlsCryptKey: string;
    readonly crlPem: string;
  };
}

export const APP_NAME = 'openvpn';
export const MANAGED_BY = 'aks-vpn-gateways';

/** Labels of every object of a gateway; the first two also select its pod. */
export function gatewayLabels(gateway: string, labelDomain: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': APP_NAME,
    'app.kubernetes.io/instance': gateway,
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/part-of': MANAGED_BY,
    [`${labelDomain}/gateway`]: gateway,
  };
}

function podSelector(gateway: string): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/instance': gateway };
}

/** Validates a kubernetes-models object and returns it as plain JSON. */
function checked(model: { validate(): void; toJSON(): unknown }): KubeObject {
  try {
    model.validate();
  } catch (e: unknown) {
    throw new InternalError(`a built manifest does not match the Kubernetes schema: ${String(e)}`, {
      cause: e,
    });
  }
  return JSON.parse(JSON.stringify(model.toJSON())) as KubeObject;
}

/**
 * Hash of everything the server reads at start (server.conf, entrypoint, server PKI except the CRL,
 * port mappings, image). CCD entries and the CRL are read live, so they are not part of it.
 */
export function configHash(input: GatewayManifestInput): string {
  const { caCrt, serverCrt, serverKey, tlsCryptKey } = input.pki;
  return createHash('sha256')
    .update(
      JSON.stringify([
        input.image,
        input.serverConf,
        input.entrypoint,
        caCrt,
        serverCrt,
        serverKey,
        tlsCryptKey,
        renderPortMappingsFile(input.portMappings),
      ]),
    )
    .digest('hex')
    .slice(0, 32);
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export function buildGatewayManifests(input: GatewayManifestInput): KubeObject[] {
  const { spec, labelDomain } = input;
  const gateway = spec.name;
  const namespace = namespaceOf(gateway);
  const labels = gatewayLabels(gateway, labelDomain);
  const meta = (name: string) => ({ name, namespace, labels });
  const mappingsFile = renderPortMappingsFile(input.portMappings);

  const objects: KubeObject[] = [
    checked(new Namespace({ metadata: { name: namespace, labels } })),
    checked(
      new ConfigMap({
        metadata: meta('server'),
        data: { [SERVER_CONF_KEY]: input.serverConf, [ENTRYPOINT_KEY]: input.entrypoint },
      }),
    ),
    checked(new ConfigMap({ metadata: meta('ccd'), data: { ...input.ccd } })),
    checked(new ConfigMap({ metadata: meta('port-mappings'), data: { [MAPPINGS_KEY]: mappingsFile } })),
    checked(new ConfigMap({ metadata: meta('state'), data: stateConfigMapData(input.state) })),
    checked(
      new Secret({
        metadata: meta('server-pki'),
        type: 'Opaque',
        data: {
          'ca.crt': b64(input.pki.caCrt),
          'server.crt': b64(input.pki.serverCrt),
          'server.key': b64(input.pki.serverKey),
          'tls-crypt.key': b64(input.pki.tlsCryptKey),
          'crl.pem': b64(input.pki.crlPem),
        },
      }),
    ),
    checked(deployment(input, labels)),
    checked(
      new Service({
        metadata: {
          ...meta('openvpn'),
          annotations: {
            ...(spec.dnsLabel ? { 'service.beta.kubernetes.io/azure-dns-label-name': spec.dnsLabel } : {}),
            ...(spec.loadBalancer.internal
              ? { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' }
              : {}),
          },
        },
        spec: {
          type: 'LoadBalancer',
          selector: podSelector(gateway),
          ports: [{ name: 'vpn', port: spec.port, targetPort: 'vpn', protocol: 'TCP' }],
          ...(spec.loadBalancer.sourceRanges.length > 0
            ? { loadBalancerSourceRanges: [...spec.loadBalancer.sourceRanges] }
            : {}),
        },
      }),
    ),
    ...input.portMappings.map((m) =>
      checked(
        new Service({
          metadata: {
            name: `pm-${m.port}`,
            namespace,
            labels: { ...labels, [`${labelDomain}/port-mapping`]: String(m.port) },
            annotations: { [`${labelDomain}/target`]: `${m.client}:${m.targetPort}` },
          },
          spec: {
            type: 'ClusterIP',
            selector: podSelector(gateway),
            ports: [
              {
                name: `pm-${m.port}`,
                port: m.port,
                targetPort: m.port,
                protocol: m.protocol === 'udp' ? 'UDP' : 'TCP',
              },
            ],
          },
        }),
      ),
    ),
  ];
  return objects;
}

function deployment(input: GatewayManifestInput, labels: Record<string, string>): Deployment {
  const { spec, labelDomain } = input;
  const mount = (name: string, mountPath: string, readOnly = true) => ({ name, mountPath, readOnly });
  return new Deployment({
    metadata: { name: 'openvpn', namespace: namespaceOf(spec.name), labels },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 5,
      selector: { matchLabels: podSelector(spec.name) },
      // The new pod must be ready before the old one goes: a config that does not start never takes the
      // gateway down, and the roll orchestration can roll back to a pod that still runs.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: { [`${labelDomain}/config-hash`]: configHash(input) } },
        spec: {
          terminationGracePeriodSeconds: 15,
          // net.ipv4.ip_forward is an unsafe sysctl on AKS (kubelet refuses it in securityContext.sysctls):
          // a privileged init container sets it for the pod's network namespace only.
          initContainers: [
            {
              name: 'enable-forwarding',
              image: input.image,
              command: ['sh', '-c', 'sysctl -w net.ipv4.ip_forward=1'],
              securityContext: { privileged: true },
              resources: {
                requests: { cpu: '10m', memory: '16Mi' },
                limits: { cpu: '100m', memory: '32Mi' },
              },
            },
          ],
          containers: [
            {
              name: 'openvpn',
              image: input.image,
              command: ['sh', `${POD_PATHS.serverDir}/${ENTRYPOINT_KEY}`],
              ports: [{ name: 'vpn', containerPort: spec.port, protocol: 'TCP' }],
              securityContext: { capabilities: { add: ['NET_ADMIN', 'MKNOD'] } },
              readinessProbe: { tcpSocket: { port: 'vpn' }, initialDelaySeconds: 2, periodSeconds: 5 },
              livenessProbe: {
                tcpSocket: { port: 'vpn' },
                initialDelaySeconds: 10,
                periodSeconds: 20,
                failureThreshold: 3,
              },
              resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
              volumeMounts: [
                mount('server', POD_PATHS.serverDir),
                mount('pki', POD_PATHS.pkiDir),
                mount('ccd', POD_PATHS.ccdDir),
                mount('port-mappings', POD_PATHS.portMappingsDir),
                mount(POD_DIRS.run, POD_PATHS.runDir, false),
              ],
            },
          ],
          volumes: [
            { name: 'server', configMap: { name: 'server' } },
            { name: 'pki', secret: { secretName: 'server-pki', defaultMode: 0o400 } },
            { name: 'ccd', configMap: { name: 'ccd' } },
            { name: 'port-mappings', configMap: { name: 'port-mappings' } },
            { name: POD_DIRS.run, emptyDir: {} },
          ],
        },
      },
    },
  });
}
