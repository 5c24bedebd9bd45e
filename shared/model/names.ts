/**
 * Every name the API gives to something in the cluster, once: the gateway's namespace and objects, the
 * keys of its ConfigMaps and Secret (which are also file names in the pod), and the labels and
 * annotations it sets or reads. Builders, use-cases and adapters take them from here, so a name cannot
 * differ between where an object is written and where it is read.
 */
import type { ServerPki } from './gateway.js';

/** Kubernetes namespace of a gateway: everything of the gateway lives in it. */
export function namespaceOf(gateway: string): string {
  return `vpn-${gateway}`;
}

/** Names of the objects of a gateway, inside its namespace. */
export const OBJECTS = Object.freeze({
  /** ConfigMap: the record of truth (spec, clients, CRL metadata, port mappings). */
  state: 'state',
  /** ConfigMap: the roll ledger (generations requested and rolled, the roll that owns it); created on first use. */
  roll: 'roll',
  /**
   * ConfigMap: the legacy single client-config-dir (one entry per pending or active client) of a gateway whose
   * state records no CCD layout; every other gateway keeps its entries in the shards `ccd-<i>` (ccdShardName).
   */
  ccd: 'ccd',
  /** ConfigMap: `server.conf` and the entrypoint. */
  server: 'server',
  /** ConfigMap: the mappings file the entrypoint turns into iptables rules. */
  portMappings: 'port-mappings',
  /** Secret: the server's PKI (never the CA key). */
  serverPki: 'server-pki',
  deployment: 'openvpn',
  /** The LoadBalancer Service clients dial. */
  service: 'openvpn',
  /**
   * ConfigMap: what the running pod reports it runs (STATUS_KEYS). Created empty by the API, then patched only
   * by the pod, with its ServiceAccount's token.
   */
  status: 'status',
  /** The pod's ServiceAccount. */
  serviceAccount: 'openvpn',
  /** Role and RoleBinding: the pod's ServiceAccount may get and patch the `status` ConfigMap, nothing else. */
  statusReporter: 'openvpn-status-reporter',
});

/**
 * How many ConfigMaps a gateway's CCD entries are spread over (README, "The objects of a gateway"). An issue or a
 * revocation patches (and a revocation reads) one client's entry, and the API server's cost of a ConfigMap write
 * grows with the ConfigMap's keys (managedFields, the whole map in and out): one ConfigMap of 2,000 entries made
 * a patch 4-5x dearer than one of 10. 16 shards keep a shard near 300 entries at the ~5,000 clients a state
 * holds, while a gateway's creation applies, convergeCcd reads and the pod's projected volume watches only 16
 * objects. A gateway records its layout in its state (`ccdShards`), so this number can change for new gateways
 * without moving the entries of existing ones.
 */
export const CCD_SHARDS = 16;

/** Name prefix of the CCD shard ConfigMaps. */
export const CCD_SHARD_PREFIX = `${OBJECTS.ccd}-`;

/**
 * Name prefix of the state's sealed client chunks: ConfigMaps of 256 clients each, written once and never
 * changed, that the `state` ConfigMap references by name (README, "The objects of a gateway"). A name is the
 * prefix, the first 16 hex digits of the chunk text's SHA-256 and 8 random hex digits, so two writers never
 * create the same object and a reader checks the text against its name.
 */
export const STATE_CHUNK_PREFIX = `${OBJECTS.state}-chunk-`;

/** Name of CCD shard `index`. */
export function ccdShardName(index: number): string {
  return `${CCD_SHARD_PREFIX}${index}`;
}

/**
 * The shard (0 … shards-1) that holds `client`'s CCD entry: FNV-1a (32-bit) of the name's UTF-8 bytes, modulo
 * the number of shards. Stable across processes and versions (no seed), so every writer and reader agrees.
 */
export function ccdShardIndex(client: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(client)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** The ConfigMaps of a CCD layout: the legacy `ccd` (shards undefined) or `ccd-0` … `ccd-<shards-1>`. */
export function ccdObjectNames(shards: number | undefined): string[] {
  return shards === undefined ? [OBJECTS.ccd] : Array.from({ length: shards }, (_, i) => ccdShardName(i));
}

/** The ConfigMap of a CCD layout that holds `client`'s entry. */
export function ccdObjectOf(client: string, shards: number | undefined): string {
  return shards === undefined ? OBJECTS.ccd : ccdShardName(ccdShardIndex(client, shards));
}

/** Whether `name` is a CCD ConfigMap of any layout (the legacy `ccd` or a shard). */
export function isCcdObjectName(name: string): boolean {
  return name === OBJECTS.ccd || new RegExp(`^${CCD_SHARD_PREFIX}(0|[1-9][0-9]*)$`).test(name);
}

/** Prefix of the ClusterIP Services that expose port mappings inside the cluster. */
export const PORT_MAPPING_SERVICE_PREFIX = 'pm-';

/** ClusterIP Service (and its port name) of the port mapping on gateway port `port`. */
export function portMappingServiceName(port: number): string {
  return `${PORT_MAPPING_SERVICE_PREFIX}${port}`;
}

/** Keys of the `server-pki` Secret, which are also the file names in the pod's PKI directory. */
export const SERVER_PKI_KEYS: Readonly<Record<keyof ServerPki, string>> = Object.freeze({
  caCrt: 'ca.crt',
  serverCrt: 'server.crt',
  serverKey: 'server.key',
  tlsCryptKey: 'tls-crypt.key',
  crlPem: 'crl.pem',
});

/**
 * Key of the `server-pki` Secret beside `crl.pem`: the CRL's number, so the pod reports which CRL it holds
 * without parsing it (the image has no openssl program).
 */
export const CRL_NUMBER_KEY = 'crl.number';

/** Keys of the `status` ConfigMap, written by the pod's status reporter (the entrypoint). */
export const STATUS_KEYS = Object.freeze({
  /** One line per connected client: `<cn> <real address> <tunnel address> <connected since, epoch s> <bytes in> <bytes out>`. */
  clients: 'clients',
  /** The set hash of the mappings file the watcher last applied (its `# set` line). */
  portMappings: 'port-mappings',
  /** The number of the CRL in the pod's PKI volume (`crl.number`). */
  crlNumber: 'crl-number',
  /** The config hash of the pod's template, given to the container through the downward API. */
  configHash: 'config-hash',
  /** The watcher's last error, empty when its last round had none. */
  watcherError: 'watcher-error',
  /** The pod that wrote the report (its host name). */
  pod: 'pod',
  /** When the pod wrote it (UTC, ISO 8601 to the second). */
  reportedAt: 'reported-at',
});

/** Keys of the `server` and `port-mappings` ConfigMaps (file names in the pod) and of the `roll` ConfigMap. */
export const CONFIG_KEYS = Object.freeze({
  serverConf: 'server.conf',
  entrypoint: 'entrypoint.sh',
  mappings: 'mappings.txt',
  /** The `roll` ConfigMap's one key. */
  rollLedger: 'ledger.json',
});

/** Value of `app.kubernetes.io/name` on every object of a gateway. */
export const APP_NAME = 'openvpn';
/** Value of `app.kubernetes.io/managed-by` and `part-of`. */
export const MANAGED_BY = 'aks-vpn-gateways';

/** The well-known labels every object of a gateway carries. */
export const K8S_LABELS = Object.freeze({
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  component: 'app.kubernetes.io/component',
});

/** `app.kubernetes.io/component` of the state's sealed chunks: how the reconciler lists them. */
export const STATE_CHUNK_COMPONENT = 'state-chunk';

/** Labels and annotations under the deployment's LABEL_DOMAIN (e.g. `vpn.aks-gateways.io/gateway`). */
export function domainKeys(labelDomain: string) {
  return Object.freeze({
    /** Label on every object of a gateway, the gateway's name: how the API finds its gateways. */
    gatewayLabel: `${labelDomain}/gateway`,
    /** Label on a `pm-<port>` Service: the mapped port. */
    portMappingLabel: `${labelDomain}/port-mapping`,
    /** Pod-template annotation: the hash of everything the server reads at start. */
    configHashAnnotation: `${labelDomain}/config-hash`,
    /** Annotation on a `pm-<port>` Service: the `client:targetPort` it leads to. */
    targetAnnotation: `${labelDomain}/target`,
  });
}

/**
 * Pod Security Admission labels of a gateway's namespace, and the level they name. `privileged`: the pod's
 * `enable-forwarding` init container runs privileged (see shared/kube/manifests.ts), which the `baseline`
 * and `restricted` levels refuse. Clusters that enforce a stricter level by default (or with Azure Policy)
 * must exempt the `vpn-*` namespaces: the README's deployment section says how.
 */
export const POD_SECURITY = Object.freeze({
  level: 'privileged',
  enforceLabel: 'pod-security.kubernetes.io/enforce',
  warnLabel: 'pod-security.kubernetes.io/warn',
  auditLabel: 'pod-security.kubernetes.io/audit',
});

/** Pod-template annotation `kubectl rollout restart` sets: a new value forces new pods. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/** Annotations of AKS's cloud provider on the LoadBalancer Service. */
export const AZURE_SERVICE_ANNOTATIONS = Object.freeze({
  /** Gives the public IP the DNS name `<label>.<region>.cloudapp.azure.com`. */
  dnsLabelName: 'service.beta.kubernetes.io/azure-dns-label-name',
  /** `true`: a load balancer on the VNet instead of a public IP. */
  internal: 'service.beta.kubernetes.io/azure-load-balancer-internal',
});
