/** A plain in-memory SecretStore for domain tests. */
import type {
  CaMaterial,
  ClientBundle,
  ClientSecretInfo,
  SecretStore,
} from '../../shared/model/secret-store.js';

export class MemorySecretStore implements SecretStore {
  readonly cas = new Map<string, CaMaterial>();
  readonly clients = new Map<string, { bundle: ClientBundle; info: ClientSecretInfo }>();

  snapshot(): string {
    return JSON.stringify({
      cas: [...this.cas.entries()].sort(),
      clients: [...this.clients.entries()].sort(),
    });
  }

  putCa(gateway: string, ca: CaMaterial): Promise<void> {
    this.cas.set(gateway, ca);
    return Promise.resolve();
  }
  getCa(gateway: string): Promise<CaMaterial | undefined> {
    return Promise.resolve(this.cas.get(gateway));
  }
  putClient(
    gateway: string,
    client: string,
    bundle: ClientBundle,
    info: { serial: string; notAfter: string },
  ): Promise<void> {
    this.clients.set(`${gateway}/${client}`, { bundle, info: { gateway, client, ...info, enabled: true } });
    return Promise.resolve();
  }
  getClient(gateway: string, client: string): Promise<ClientBundle | undefined> {
    const entry = this.clients.get(`${gateway}/${client}`);
    return Promise.resolve(entry?.info.enabled ? entry.bundle : undefined);
  }
  revokeClient(gateway: string, client: string): Promise<void> {
    const entry = this.clients.get(`${gateway}/${client}`);
    if (entry)
      this.clients.set(`${gateway}/${client}`, { ...entry, info: { ...entry.info, enabled: false } });
    return Promise.resolve();
  }
  listClients(gateway: string, clients: readonly string[]): Promise<ClientSecretInfo[]> {
    return Promise.resolve(
      [...new Set(clients)].flatMap((client) => this.clients.get(`${gateway}/${client}`)?.info ?? []),
    );
  }
  /** Deletes only what it is told, as Key Vault does: a client left out of the state stays behind. */
  deleteGateway(gateway: string, clients: readonly string[]): Promise<void> {
    this.cas.delete(gateway);
    for (const client of clients) this.clients.delete(`${gateway}/${client}`);
    return Promise.resolve();
  }
}
