/**
 * Pure, typed builders of every Kubernetes object of a gateway (its namespace; the `server`, CCD (`ccd-<i>`, or
 * the legacy `ccd`), `port-mappings`, `state`, `roll` and `status` ConfigMaps; the `server-pki` Secret; the pod's ServiceAccount
 * and the Role and RoleBinding that let it patch `status`; the `openvpn` Deployment and LoadBalancer Service;
 * one `pm-<port>` Service per port mapping), each validated against the Kubernetes schemas (kubernetes-models)
 * before it leaves, returned as plain JSON.
 */
import { createHash } from 'node:crypto';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { InternalError } from '../errors.js';
import type { KubeObject } from '../model/cluster-port.js';
import type { GatewaySpec, GatewayState, ResolvedPortMapping, ServerPki } from '../model/gateway.js';
import {
  APP_NAME,
  AZURE_SERVICE_ANNOTATIONS,
  CONFIG_KEYS,
  CRL_NUMBER_KEY,
  K8S_LABELS,
  MANAGED_BY,
  OBJECTS,
  ccdObjectNames,
  ccdObjectOf,
  domainKeys,
  namespaceOf,
  portMappingServiceName,
  POD_SECURITY,
  STATE_CHUNK_COMPONENT,
} from '../model/names.js';
import type { RollLedger } from '../model/roll-ledger.js';
import { rollLedgerData } from '../model/roll-ledger.js';
import { serverPkiSecretData } from '../model/server-pki-codec.js';
import { SEALED_CHUNK_KEY, stateConfigMapData } from '../model/state-codec.js';
import { POD_DIRS, POD_ENV, POD_PATHS, renderPortMappingsFile } from '../openvpn/index.js';
import { crlNumberOf } from '../pki/index.js';

export interface GatewayManifestInput {
  readonly spec: GatewaySpec;
  readonly image: string;
  readonly labelDomain: string;
  readonly serverConf: string;
  readonly entrypoint: string;
  /** Every CCD entry (client → entry); spread over the ConfigMaps of the state's layout (`ccdShards`). */
  readonly ccd: Readonly<Record<string, string>>;
  readonly portMappings: readonly ResolvedPortMapping[];
  readonly state: GatewayState;
  readonly pki: ServerPki;
}

/** Labels of every object of a gateway; the first two also select its pod. */
function gatewayLabels(gateway: string, labelDomain: string): Record<string, string> {
  return {
    [K8S_LABELS.name]: APP_NAME,
    [K8S_LABELS.instance]: gateway,
    [K8S_LABELS.managedBy]: MANAGED_BY,
    [K8S_LABELS.partOf]: MANAGED_BY,
    [domainKeys(labelDomain).gatewayLabel]: gateway,
  };
}

function podSelector(gateway: string): Record<string, string> {
  return { [K8S_LABELS.name]: APP_NAME, [K8S_LABELS.instance]: gateway };
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
 * Hash of everything the server reads at start (server.conf, entrypoint, server PKI except the CRL, image):
 * a change to it rolls the pod. CCD entries and the CRL are read live by OpenVPN, and the port mappings by the
 * entrypoint's watcher, so they are not part of it (their change reaches the running pod without a roll).
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
      ]),
    )
    .digest('hex')
    .slice(0, 32);
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The `server-pki` Secret's data: the PKI, and the CRL's number when the CRL can be read. */
export function serverPkiData(pki: ServerPki): Record<string, string> {
  let number: number | undefined;
  try {
    number = crlNumberOf(pki.crlPem);
  } catch {
    number = undefined;
  }
  return {
    ...serverPkiSecretData(pki),
    ...(number !== undefined ? { [CRL_NUMBER_KEY]: String(number) } : {}),
  };
}

/**
 * The `status` ConfigMap, empty: created once by the API (the pod's Role names it, and may only patch it), then
 * written only by the pod's status reporter. Not applied with the others: a re-apply would erase the report.
 */
export function buildStatusConfigMap(gateway: string, labelDomain: string): KubeObject {
  return checked(
    new ConfigMap({
      metadata: {
        name: OBJECTS.status,
        namespace: namespaceOf(gateway),
        labels: gatewayLabels(gateway, labelDomain),
      },
    }),
  );
}

/**
 * A sealed chunk of a gateway's state (`state-chunk-<digest>-<random>`): 256 clients, created once before the
 * state write that references it and immutable from then on (the API server refuses any change).
 */
export function stateChunkConfigMap(namespace: string, name: string, text: string): KubeObject {
  return checked(
    new ConfigMap({
      metadata: {
        name,
        namespace,
        // The domain-independent labels only: the state's writers do not know the deployment's LABEL_DOMAIN.
        labels: {
          [K8S_LABELS.name]: APP_NAME,
          [K8S_LABELS.managedBy]: MANAGED_BY,
          [K8S_LABELS.partOf]: MANAGED_BY,
          [K8S_LABELS.component]: STATE_CHUNK_COMPONENT,
        },
      },
      immutable: true,
      data: { [SEALED_CHUNK_KEY]: text },
    }),
  );
}

/** The namespace's Pod Security Admission level: the pod's init container is privileged. */
function podSecurityLabels(): Record<string, string> {
  const { level, enforceLabel, warnLabel, auditLabel } = POD_SECURITY;
  return { [enforceLabel]: level, [warnLabel]: level, [auditLabel]: level };
}

/**
 * The `roll` ConfigMap holding `ledger`: not applied with the others (a re-apply would reset it), but
 * created once by the first request that needs a roll, then only written with resourceVersion preconditions.
 */
export function buildRollLedgerConfigMap(
  gateway: string,
  labelDomain: string,
  ledger: RollLedger,
): KubeObject {
  return checked(
    new ConfigMap({
      metadata: {
        name: OBJECTS.roll,
        namespace: namespaceOf(gateway),
        labels: gatewayLabels(gateway, labelDomain),
      },
      data: rollLedgerData(ledger),
    }),
  );
}

export function buildGatewayManifests(input: GatewayManifestInput): KubeObject[] {
  const { spec, labelDomain } = input;
  const gateway = spec.name;
  const namespace = namespaceOf(gateway);
  const labels = gatewayLabels(gateway, labelDomain);
  const meta = (name: string) => ({ name, namespace, labels });
  const mappingsFile = renderPortMappingsFile(input.portMappings);
  const keys = domainKeys(labelDomain);

  const objects: KubeObject[] = [
    checked(new Namespace({ metadata: { name: namespace, labels: { ...labels, ...podSecurityLabels() } } })),
    checked(
      new ConfigMap({
        metadata: meta(OBJECTS.server),
        data: { [CONFIG_KEYS.serverConf]: input.serverConf, [CONFIG_KEYS.entrypoint]: input.entrypoint },
      }),
    ),
    ...Object.entries(ccdData(input)).map(([name, data]) =>
      checked(new ConfigMap({ metadata: meta(name), data })),
    ),
    checked(
      new ConfigMap({ metadata: meta(OBJECTS.portMappings), data: { [CONFIG_KEYS.mappings]: mappingsFile } }),
    ),
    checked(new ConfigMap({ metadata: meta(OBJECTS.state), data: stateConfigMapData(input.state) })),
    checked(
      new Secret({
        metadata: meta(OBJECTS.serverPki),
        type: 'Opaque',
        data: Object.fromEntries(
          Object.entries(serverPkiData(input.pki)).map(([key, value]) => [key, b64(value)]),
        ),
      }),
    ),
    // The pod's identity: it may get and patch its `status` ConfigMap, and nothing else.
    checked(new ServiceAccount({ metadata: meta(OBJECTS.serviceAccount) })),
    checked(
      new Role({
        metadata: meta(OBJECTS.statusReporter),
        rules: [
          {
            apiGroups: [''],
            resources: ['configmaps'],
            resourceNames: [OBJECTS.status],
            verbs: ['get', 'patch'],
          },
        ],
      }),
    ),
    checked(
      new RoleBinding({
        metadata: meta(OBJECTS.statusReporter),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OBJECTS.statusReporter },
        subjects: [{ kind: 'ServiceAccount', name: OBJECTS.serviceAccount, namespace }],
      }),
    ),
    checked(deployment(input, labels)),
    checked(
      new Service({
        metadata: {
          ...meta(OBJECTS.service),
          annotations: {
            ...(spec.dnsLabel ? { [AZURE_SERVICE_ANNOTATIONS.dnsLabelName]: spec.dnsLabel } : {}),
            ...(spec.loadBalancer.internal ? { [AZURE_SERVICE_ANNOTATIONS.internal]: 'true' } : {}),
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
            name: portMappingServiceName(m.port),
            namespace,
            labels: { ...labels, [keys.portMappingLabel]: String(m.port) },
            annotations: { [keys.targetAnnotation]: `${m.client}:${m.targetPort}` },
          },
          spec: {
            type: 'ClusterIP',
            selector: podSelector(gateway),
            ports: [
              {
                name: portMappingServiceName(m.port),
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

/** The data of each CCD ConfigMap of the state's layout (every one of them, empty ones too), by name. */
export function ccdData(
  input: Pick<GatewayManifestInput, 'ccd' | 'state'>,
): Record<string, Record<string, string>> {
  const shards = input.state.ccdShards;
  const data: Record<string, Record<string, string>> = Object.fromEntries(
    ccdObjectNames(shards).map((name) => [name, {}]),
  );
  for (const [client, entry] of Object.entries(input.ccd)) {
    const object = data[ccdObjectOf(client, shards)];
    if (object) object[client] = entry;
  }
  return data;
}

/**
 * Name of the shards' projected volume. Not the legacy volume's name: server-side apply merges a volume of the
 * same name field by field, so the legacy `configMap` source (with the `defaultMode` the API server defaulted
 * into it, owned by no manager) would stay beside `projected`, and the API server refuses a volume with two
 * sources. Under a new name the legacy volume is removed whole and the new one added.
 */
const CCD_SHARDS_VOLUME = 'ccd-shards';

/**
 * The pod's client-config-dir volume: the legacy `ccd` ConfigMap, or one `projected` volume whose sources are
 * the shards, so OpenVPN and the watcher see one directory either way (no two shards hold one key). The kubelet
 * updates a projected volume with the same atomic `..data` swap as a ConfigMap volume.
 */
function ccdVolume(shards: number | undefined) {
  if (shards === undefined) return { name: POD_DIRS.ccd, configMap: { name: OBJECTS.ccd } };
  return {
    name: CCD_SHARDS_VOLUME,
    projected: { sources: ccdObjectNames(shards).map((name) => ({ configMap: { name } })) },
  };
}

/**
 * Whether a pod template (as read back from the cluster, with the API server's defaults) mounts the CCD of
 * layout `shards`: the legacy `ccd` volume, or the projected volume of exactly that layout's shards. False for
 * a template restored from before a gateway's move to shards, so a PUT puts the shards' volume back.
 */
export function templateMountsCcd(template: unknown, shards: number | undefined): boolean {
  const volumes = (template as { spec?: { volumes?: unknown } } | undefined)?.spec?.volumes;
  if (!Array.isArray(volumes)) return false;
  const wanted = ccdVolume(shards);
  const found = (
    volumes as { name?: unknown; configMap?: { name?: unknown }; projected?: { sources?: unknown } }[]
  ).find((v) => v.name === wanted.name);
  if (!found) return false;
  if (!('projected' in wanted)) return found.configMap?.name === OBJECTS.ccd;
  const sources = found.projected?.sources;
  return (
    Array.isArray(sources) &&
    JSON.stringify(sources.map((s: { configMap?: { name?: unknown } }) => s.configMap?.name)) ===
      JSON.stringify(ccdObjectNames(shards))
  );
}

function deployment(input: GatewayManifestInput, labels: Record<string, string>): Deployment {
  const { spec, labelDomain } = input;
  const mount = (name: string, mountPath: string, readOnly = true) => ({ name, mountPath, readOnly });
  return new Deployment({
    metadata: { name: OBJECTS.deployment, namespace: namespaceOf(spec.name), labels },
    spec: {
      replicas: 1,
      revisionHistoryLimit: 5,
      selector: { matchLabels: podSelector(spec.name) },
      // The new pod must be ready before the old one goes: a config that does not start never takes the
      // gateway down, and the roll orchestration can roll back to a pod that still runs.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels,
          annotations: { [domainKeys(labelDomain).configHashAnnotation]: configHash(input) },
        },
        spec: {
          terminationGracePeriodSeconds: 15,
          // The status reporter talks to the API server with this account's token (Role: patch `status` only).
          serviceAccountName: OBJECTS.serviceAccount,
          automountServiceAccountToken: true,
          // Forwarding, for the pod's network namespace only. net.ipv4.ip_forward is not one of Kubernetes' safe
          // sysctls, so `securityContext.sysctls` needs every node pool's kubelet to allow it (AKS custom node
          // configuration, `allowedUnsafeSysctls`), which is not the API's to set; and the runtime mounts
          // /proc/sys read-only in every unprivileged container, NET_ADMIN or not. Hence a privileged init
          // container, which exits before the server starts. It writes the value with the shell alone: the
          // image has no procps (`sysctl`), and needs none.
          initContainers: [
            {
              name: 'enable-forwarding',
              image: input.image,
              command: ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'],
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
              command: ['sh', `${POD_PATHS.serverDir}/${CONFIG_KEYS.entrypoint}`],
              // The config hash the pod runs, from its own annotation (so a roll that keeps or restores the
              // annotation keeps this in step), for the status report.
              env: [
                {
                  name: POD_ENV.configHash,
                  valueFrom: {
                    fieldRef: {
                      fieldPath: `metadata.annotations['${domainKeys(labelDomain).configHashAnnotation}']`,
                    },
                  },
                },
              ],
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
                mount(POD_DIRS.server, POD_PATHS.serverDir),
                mount(POD_DIRS.pki, POD_PATHS.pkiDir),
                mount(ccdVolume(input.state.ccdShards).name, POD_PATHS.ccdDir),
                mount(POD_DIRS.portMappings, POD_PATHS.portMappingsDir),
                mount(POD_DIRS.run, POD_PATHS.runDir, false),
              ],
            },
          ],
          volumes: [
            { name: POD_DIRS.server, configMap: { name: OBJECTS.server } },
            { name: POD_DIRS.pki, secret: { secretName: OBJECTS.serverPki, defaultMode: 0o400 } },
            ccdVolume(input.state.ccdShards),
            { name: POD_DIRS.portMappings, configMap: { name: OBJECTS.portMappings } },
            { name: POD_DIRS.run, emptyDir: {} },
          ],
        },
      },
    },
  });
}
