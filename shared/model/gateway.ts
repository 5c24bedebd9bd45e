/**
 * The domain model shared by every layer. Validation of raw input into these types lives in
 * `shared/api/schemas.ts` (HTTP) and the renderers re-check what they emit.
 */

/** DNS label: gateway and client names become file names, config lines and Kubernetes names. */
export const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The longest gateway name: its namespace `vpn-<name>` must stay a DNS label (63) and its server
 * certificate's CN `<name>-server` within the 64 characters X.509 allows.
 */
export const MAX_GATEWAY_NAME = 57;

export type Protocol = 'tcp' | 'udp';

/**
 * The key of a generated client certificate: `rsa` is RSA-2048, `ec` is ECDSA on P-256. A CSR's key is
 * whatever the request carries (`ec` then also covers P-384 and P-521).
 */
export type KeyType = 'rsa' | 'ec';
export const KEY_TYPES: readonly KeyType[] = ['rsa', 'ec'];
/**
 * RSA by default: every gateway made before key types existed issued RSA, and RSA-2048 is what every
 * OpenVPN client build accepts (old or embedded ones without ECDSA too); P-256 is opt-in.
 */
export const DEFAULT_KEY_TYPE: KeyType = 'rsa';

/** A gateway's desired configuration, after defaults are applied. */
export interface GatewaySpec {
  readonly name: string;
  /** IPv4 CIDR of the tunnel network, e.g. `10.140.0.0/24`. */
  readonly vpnSubnet: string;
  /** IPv4 CIDRs pushed to clients (cluster service + pod CIDR by default). Exact, never widened. */
  readonly routes: readonly string[];
  /** TCP port of the OpenVPN server and its LoadBalancer Service. */
  readonly port: number;
  /** Azure DNS label for the public IP (`<label>.<region>.cloudapp.azure.com`). */
  readonly dnsLabel?: string | undefined;
  /** Host name or IP clients dial; defaults to the DNS label FQDN or the LoadBalancer address. */
  readonly publicHost?: string | undefined;
  readonly loadBalancer: {
    readonly internal: boolean;
    /** CIDRs allowed to reach the LoadBalancer; empty = any. */
    readonly sourceRanges: readonly string[];
  };
  /** Default validity of client certificates issued on this gateway. */
  readonly clientCertValidityDays: number;
  /**
   * Key type of client keys generated on this gateway when the issue names none (the CA stays RSA);
   * absent means DEFAULT_KEY_TYPE, as in the state of a gateway made before key types existed.
   */
  readonly keyType?: KeyType | undefined;
}

/**
 * A client's place in its state machine (README, "State machine"). `pending` and `revoking` are recorded
 * intents: the first write of an issue or a revocation, completed by the request itself, a retry of it or
 * the reconciler, never left half-done for good.
 */
export type ClientStatus = 'pending' | 'active' | 'revoking' | 'revoked';

/** Whether the client's CCD entry must exist: from the intent until its revocation's intent. */
export const holdsCcdEntry = (c: { readonly status: ClientStatus }): boolean =>
  c.status === 'pending' || c.status === 'active';

/**
 * Whether the client's LAN subnets are routed to it and claimed against other clients: until its
 * revocation completes (its CCD entry, and with it the iroute, goes during the revocation).
 */
export const holdsSubnets = (c: { readonly status: ClientStatus }): boolean => c.status !== 'revoked';

/**
 * The most LAN subnets one client may declare. Each is an `iroute` in its CCD entry, a kernel route and
 * a masquerade rule in the pod, re-checked by the watcher on every tick; a branch site with more LANs
 * than this can usually summarise them.
 */
export const MAX_CLIENT_SUBNETS = 16;

/** Whether the client's serial belongs in the CRL: from the revocation's intent on. */
export const inCrl = (c: { readonly status: ClientStatus }): boolean =>
  c.status === 'revoking' || c.status === 'revoked';

/** One client as recorded in the gateway's `state` ConfigMap (the record of truth). */
export interface ClientRecord {
  readonly name: string;
  /** Static tunnel address (pushed through the CCD entry). */
  readonly ip: string;
  /** Certificate serial, lower-case hex without separators. */
  readonly serial: string;
  /** ISO 8601. */
  readonly issuedAt: string;
  /** ISO 8601 certificate notAfter. */
  readonly notAfter: string;
  readonly status: ClientStatus;
  /** ISO 8601, set from `revoking` on. */
  readonly revokedAt?: string | undefined;
  /** `generated`: we made the key pair (profile holds the key); `csr`: the caller holds the key. */
  readonly keySource: 'generated' | 'csr';
  /** The certified key's type; absent means `rsa`, as for every client recorded before key types existed. */
  readonly keyType?: KeyType | undefined;
  /**
   * Only while `pending` and issued from a CSR: the request's PEM, so the issue can be completed (its
   * certificate signed again with the recorded serial) without the caller.
   */
  readonly csr?: string | undefined;
  /**
   * The branch LANs behind the client (canonical IPv4 CIDRs, sorted), routed to it by the server (an
   * `iroute` each in its CCD entry, a kernel route on the tunnel in the pod). Absent means none.
   */
  readonly subnets?: readonly string[] | undefined;
}

/**
 * Gateway port → client (by name, i.e. its static tunnel IP) : target port; or, with `targetHost`, a
 * host on one of the client's LAN subnets, reached through the client.
 */
export interface PortMapping {
  readonly port: number;
  readonly client: string;
  readonly targetPort: number;
  /** An IPv4 address inside one of the client's subnets; absent means the client itself. */
  readonly targetHost?: string | undefined;
  readonly protocol: Protocol;
}

/** A port mapping resolved to the client's tunnel address, as the pod's entrypoint applies it. */
export interface ResolvedPortMapping extends PortMapping {
  readonly clientIp: string;
}

/** Metadata of the gateway's current CRL. */
export interface CrlInfo {
  /** Monotonic crlNumber. */
  readonly number: number;
  /** ISO 8601. */
  readonly thisUpdate: string;
  /** ISO 8601; after this instant OpenVPN refuses every client. */
  readonly nextUpdate: string;
}

/**
 * A branch enrollment (README, "Branch enrollment"): a one-time token that lets a branch issue client
 * `client` from a CSR. Only the SHA-256 of the token's secret is recorded. While `pending` and not expired it
 * reserves the client name and the address `ip`; `used` once a branch enrolled with it (the client record
 * then holds both). `expired` is never stored: it is a pending record past `expiresAt`.
 */
export interface EnrollmentRecord {
  /** Public id (16 lower-case hex digits); the token's middle part. */
  readonly id: string;
  readonly client: string;
  /** The reserved static tunnel address. */
  readonly ip: string;
  /** SHA-256 of the token's secret part, lower-case hex. */
  readonly tokenHash: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601: the token is refused from this instant on and the reservation lapses. */
  readonly expiresAt: string;
  /** Validity of the certificate to issue; absent: the gateway's default at the time of enrolling. */
  readonly validityDays?: number | undefined;
  /** LAN subnets of the client to issue (reserved like a client's, canonical and sorted); absent: none. */
  readonly subnets?: readonly string[] | undefined;
  readonly status: 'pending' | 'used';
  /** ISO 8601, once used. */
  readonly usedAt?: string | undefined;
  /** The address the enrolling request came from, once used. */
  readonly usedFrom?: string | undefined;
}

/** Whether an enrollment still holds its client name and address at `now` (pending and not expired). */
export const reserves = (e: EnrollmentRecord, now: Date): boolean =>
  e.status === 'pending' && Date.parse(e.expiresAt) > now.getTime();

/** Everything the `state` ConfigMap records about a gateway. */
export interface GatewayState {
  readonly spec: GatewaySpec;
  readonly clients: readonly ClientRecord[];
  readonly crl: CrlInfo;
  /** The declared port mappings (the `port-mappings` ConfigMap and `pm-<port>` Services are derived from them). */
  readonly portMappings: readonly PortMapping[];
  /** Serial and notAfter of the server certificate. */
  readonly server: { readonly serial: string; readonly notAfter: string };
  /** ISO 8601 of creation. */
  readonly createdAt: string;
  /** Branch enrollments (absent: none, as in the state of a gateway made before enrollments existed). */
  readonly enrollments?: readonly EnrollmentRecord[] | undefined;
  /** Set by `DELETE /gateways/{gateway}`, the recorded intent of the deletion: from then every write is refused. */
  readonly deleting?: DeletionMark | undefined;
  /**
   * The CCD layout: the number of shard ConfigMaps `ccd-<i>` holding the CCD entries (CCD_SHARDS for a gateway
   * created or migrated since shards exist); absent: the legacy single `ccd` ConfigMap, until the gateway's
   * next PUT migrates it (README, "Upgrading").
   */
  readonly ccdShards?: number | undefined;
}

/** The deletion's intent (README, "State machine"): when it was asked for, and the operation running it. */
export interface DeletionMark {
  /** ISO 8601 of the first DELETE. */
  readonly since: string;
  /** The operation (Durable instance id) of the latest run of the deletion. */
  readonly operation: string;
}

export type GatewayPhase = 'Provisioning' | 'Ready' | 'Rolling' | 'Degraded' | 'Deleting' | 'Failed';

export interface GatewayStatus {
  readonly phase: GatewayPhase;
  /** Address clients dial (public host, DNS name or LoadBalancer IP), once known. */
  readonly address?: string | undefined;
  readonly message?: string | undefined;
  readonly configHash?: string | undefined;
  /** Server and client certificates whose notAfter falls within EXPIRY_WARNING_DAYS. */
  readonly expiringCertificates?: readonly { kind: 'server' | 'client'; name: string; notAfter: string }[];
  /** What the running pod reports it has applied of the latest state (its `status` ConfigMap). */
  readonly applied?: AppliedView | undefined;
}

/** Whether the pod has applied what the state (and the Deployment's template) asks for. */
export interface AppliedView {
  readonly portMappings: boolean;
  readonly crl: boolean;
  /** Unset when the Deployment's config hash is not known. */
  readonly configHash?: boolean | undefined;
  readonly reportedAt?: string | undefined;
  readonly pod?: string | undefined;
  readonly watcherError?: string | undefined;
}

/** The server's PKI as the pod mounts it (the `server-pki` Secret); never the CA key. */
export interface ServerPki {
  readonly caCrt: string;
  readonly serverCrt: string;
  readonly serverKey: string;
  readonly tlsCryptKey: string;
  readonly crlPem: string;
}
