/**
 * The sandbox's SecretStore: one JSON file per secret under a directory (default `.data/secrets`),
 * written atomically (temp file + rename) with mode 0600 in a 0700 directory, so it survives restarts
 * and a crash never leaves half a file. Revocation keeps the file and marks it disabled, as Key Vault does.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError } from '../errors.js';
import { NAME_PATTERN } from '../gateways/model.js';
import type { CaMaterial, ClientBundle, ClientSecretInfo, SecretStore } from './secret-store.js';

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
    this.ready ??= mkdir(this.directory, { recursive: true, mode: 0o700 }).then(() =>
      chmod(this.directory, 0o700),
    );
    return this.ready;
  }

  private caFile(gateway: string): string {
    return join(this.directory, `${requireName('gateway', gateway)}--ca.json`);
  }

  private clientFile(gateway: string, client: string): string {
    return join(
      this.directory,
      `${requireName('gateway', gateway)}--client--${requireName('client', client)}.json`,
    );
  }

  private async write(path: string, value: Stored): Promise<void> {
    await this.ensureDirectory();
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(temp, JSON.stringify(value), { mode: 0o600 });
    await rename(temp, path);
  }

  private async read<T extends Stored>(path: string): Promise<T | undefined> {
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

  private async files(gateway: string): Promise<string[]> {
    await this.ensureDirectory();
    const prefix = `${requireName('gateway', gateway)}--`;
    return (await readdir(this.directory)).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
  }

  async listClients(gateway: string): Promise<ClientSecretInfo[]> {
    const infos: ClientSecretInfo[] = [];
    for (const file of await this.files(gateway)) {
      const stored = await this.read<Stored>(join(this.directory, file));
      if (stored?.kind === 'client') infos.push(stored.info);
    }
    return infos;
  }

  async deleteGateway(gateway: string): Promise<void> {
    for (const file of await this.files(gateway)) await rm(join(this.directory, file), { force: true });
  }
}
