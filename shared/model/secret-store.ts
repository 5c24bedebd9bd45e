/**
 * The secret-store port: where the CA private key and client material live (never in the cluster).
 * Adapters: Key Vault (`key-vault-store.ts`) in Azure, a local directory (`directory-store.ts`) in the
 * sandbox. One contract test suite runs against both.
 *
 * Errors: ConflictError (e.g. a soft-deleted secret blocks re-creation and cannot be recovered),
 * UpstreamError (throttling/5xx after retries), never raw SDK errors.
 */

/** The gateway CA: the only copy of its private key. */
export interface CaMaterial {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What we keep for one client. */
export interface ClientBundle {
  readonly certPem: string;
  /** Absent when the client sent a CSR (the key never left the branch). */
  readonly keyPem?: string | undefined;
  /** The `.ovpn` profile (contains the key when we generated it). */
  readonly profile: string;
}

/** Metadata stored beside a client's bundle (Key Vault tags / `expiresOn`). */
export interface ClientSecretInfo {
  readonly gateway: string;
  readonly client: string;
  readonly serial: string;
  /** ISO 8601 certificate notAfter. */
  readonly notAfter: string;
  /** False once revoked (disabled, kept for audit). */
  readonly enabled: boolean;
}

export interface SecretStore {
  putCa(gateway: string, ca: CaMaterial): Promise<void>;
  getCa(gateway: string): Promise<CaMaterial | undefined>;
  putClient(
    gateway: string,
    client: string,
    bundle: ClientBundle,
    info: { serial: string; notAfter: string },
  ): Promise<void>;
  /** The bundle of an enabled client; undefined when missing or revoked. */
  getClient(gateway: string, client: string): Promise<ClientBundle | undefined>;
  /** Disables the client's material (kept for audit); missing is not an error. */
  revokeClient(gateway: string, client: string): Promise<void>;
  /**
   * What the store holds for the named clients (enabled or revoked; names it holds nothing for are left
   * out). The names come from the gateway's state, its index: a store never scans everything it holds
   * (Key Vault can only list a whole vault), so the cost follows the gateway, not the store.
   */
  listClients(gateway: string, clients: readonly string[]): Promise<ClientSecretInfo[]>;
  /**
   * Deletes (soft delete where the store has it) the gateway's CA and the named clients' material, names
   * from the gateway's state as for `listClients`; tolerates missing items.
   */
  deleteGateway(gateway: string, clients: readonly string[]): Promise<void>;
}
