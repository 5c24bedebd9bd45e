/**
 * The sandbox's SecretStore: one JSON file per secret under a directory (default `.data/secrets`),
 * written atomically and durably (durable-files.ts) with mode 0600 in 0700 directories, so it survives
 * restarts and a crash never leaves half a file. Revocation keeps the file and marks it disabled, as Key Vault does.
 *
 * Layout: one subdirectory per gateway, so no gateway's files can be mistaken for another's (names are
 * DNS labels and may contain `--`, which made the earlier flat `<gateway>--…` file names ambiguous;
 * files of that layout are not read):
 *   `<gateway>/ca.json`                the CA
 *   `<gateway>/clients/<client>.json`  one client
 */
import { chmod, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '../errors.js';
import { NAME_PATTERN } from '../model/gateway.js';
import type { CaMaterial, ClientBundle, ClientSecretInfo, SecretStore } from '../model/secret-store.js';
import { writeDurably } from './durable-files.js';

interface StoredCa {
  readonly kind: 'ca';
  readonly gateway: string;
  readonly ca: CaMaterial;
}

interface StoredClient {
  readonly kind: 'client';
  readonly info: ClientSecretInfo;
  readonly bundle: ClientBundle;
}

type Stored = StoredCa | StoredClient;

export interface DirectorySecretStoreOptions {
  readonly directory: string;
}

function requireName(what: string, name: string): string {
  // Names become file names: only DNS labels, so no path can escape the directory.
  if (!NAME_PATTERN.test(name)) throw new InternalError(`${what} '${name}' is not a DNS label`);
  return name;
}

export class DirectorySecretStore implements SecretStore {
  private readonly directory: string;
  private ready: Promise<void> | undefined;

  constructor(options: DirectorySecretStoreOptions) {
    this.directory = options.directory;
  }

  private ensureDirectory(): Promise<void> {
    this.ready ??= mkdir(this.directory, { recursive: true, mode: 0o700 })
      .then(() => chmod(this.directory, 0o700))
      .then(() => this.removeTempFiles())
      .catch((e: unknown) => {
        // Not cached: the next call tries again once the directory is reachable.
        this.ready = undefined;
        throw e;
      });
    return this.ready;
  }

  /**
   * Removes the temp files of writes that a crash interrupted (they may hold a private key), before
   * this store's first read or write. The store is the only writer of its directory (one sandbox host).
   */
  private async removeTempFiles(): Promise<void> {
    const entries = await readdir(this.directory, { recursive: true });
    await Promise.all(
      entries.filter((e) => e.endsWith('.tmp')).map((e) => rm(join(this.directory, e), { force: true })),
    );
  }

  private gatewayDirectory(gateway: string): string {
    return join(this.directory, requireName('gateway', gateway));
  }

  private clientsDirectory(gateway: string): string {
    return join(this.gatewayDirectory(gateway), 'clients');
  }

  private caFile(gateway: string): string {
    return join(this.gatewayDirectory(gateway), 'ca.json');
  }

  private clientFile(gateway: string, client: string): string {
    return join(this.clientsDirectory(gateway), `${requireName('client', client)}.json`);
  }

  private async write(path: string, value: Stored): Promise<void> {
    try {
      await this.ensureDirectory();
      await writeDurably(path, JSON.stringify(value), { ownerOnly: true });
    } catch (e: unknown) {
      throw new InternalError(`secret file ${path} could not be written`, { cause: e });
    }
  }

  private async read<T extends Stored>(path: string): Promise<T | undefined> {
    await this.ensureDirectory();
    try {
      return JSON.parse(await readFile(path, 'utf8')) as T;
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new InternalError(`secret file ${path} is unreadable`, { cause: e });
    }
  }

  async putCa(gateway: string, ca: CaMaterial): Promise<void> {
    await this.write(this.caFile(gateway), {
      kind: 'ca',
      gateway,
      ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    });
  }

  async getCa(gateway: string): Promise<CaMaterial | undefined> {
    return (await this.read<StoredCa>(this.caFile(gateway)))?.ca;
  }

  async putClient(
    gateway: string,
    client: string,
    bundle: ClientBundle,
    info: { serial: string; notAfter: string },
  ): Promise<void> {
    await this.write(this.clientFile(gateway, client), {
      kind: 'client',
      info: { gateway, client, serial: info.serial, notAfter: info.notAfter, enabled: true },
      bundle: {
        certPem: bundle.certPem,
        ...(bundle.keyPem !== undefined ? { keyPem: bundle.keyPem } : {}),
        profile: bundle.profile,
      },
    });
  }

  async getClient(gateway: string, client: string): Promise<ClientBundle | undefined> {
    const stored = await this.read<StoredClient>(this.clientFile(gateway, client));
    return stored?.info.enabled ? stored.bundle : undefined;
  }

  async revokeClient(gateway: string, client: string): Promise<void> {
    const path = this.clientFile(gateway, client);
    const stored = await this.read<StoredClient>(path);
    if (stored && stored.info.enabled)
      await this.write(path, { ...stored, info: { ...stored.info, enabled: false } });
  }

  async listClients(gateway: string, clients: readonly string[]): Promise<ClientSecretInfo[]> {
    const infos: ClientSecretInfo[] = [];
    for (const client of new Set(clients)) {
      const stored = await this.read<StoredClient>(this.clientFile(gateway, client));
      if (stored) infos.push(stored.info);
    }
    return infos;
  }

  /** The gateway's directory holds only its own files: removing it removes the named clients and any other. */
  async deleteGateway(gateway: string, _clients: readonly string[]): Promise<void> {
    const directory = this.gatewayDirectory(gateway);
    try {
      await rm(directory, { recursive: true, force: true, maxRetries: 3 });
    } catch (e: unknown) {
      throw new InternalError(`secret directory ${directory} could not be deleted`, { cause: e });
    }
  }
}
