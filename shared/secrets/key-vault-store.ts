/**
 * The SecretStore on Azure Key Vault (@azure/keyvault-secrets, RBAC, managed identity). One secret per
 * item, holding a JSON bundle (content type `application/json`):
 *   CA      `<gateway>--ca--<hash>`                {certPem, keyPem}            tags kind=ca, gateway
 *   client  `<gateway>--client--<client>--<hash>`  {certPem, keyPem?, profile}  tags kind=client, gateway,
 *                                                  client, serial, notAfter; expiresOn = notAfter
 * (see `secretName`: the hash makes names distinct and at most 127 characters; the tags hold the real
 * names). Revocation disables the secret (kept for audit, never purged). Listing and deleting a gateway's
 * secrets go by name, the names taken from the gateway's state: the vault is never listed (Key Vault can
 * only list a whole vault, with no filter), so their cost follows the gateway's clients. Deleting
 * soft-deletes and waits for the deletion; writing a name that is soft-deleted recovers it first. Throttling
 * (429 + Retry-After) and 5xx are retried by the SDK pipeline with the retry options below.
 */
import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { SecretClientOptions, SecretProperties } from '@azure/keyvault-secrets';
import { SecretClient } from '@azure/keyvault-secrets';
import { ConflictError, DomainError, InternalError, NotFoundError, UpstreamError } from '../errors.js';
import { NAME_PATTERN } from '../model/gateway.js';
import type { CaMaterial, ClientBundle, ClientSecretInfo, SecretStore } from '../model/secret-store.js';

export interface KeyVaultSecretStoreOptions {
  readonly vaultUrl: string;
  readonly credential: TokenCredential;
  /** Extra client options (tests: `tlsOptions`, `disableChallengeResourceVerification`). */
  readonly clientOptions?: SecretClientOptions | undefined;
  /** SDK pipeline retries for 429/5xx/network errors. */
  readonly retry?: { maxRetries?: number; retryDelayInMs?: number; maxRetryDelayInMs?: number } | undefined;
  /** Poll interval of delete/recover operations (default 1 s). */
  readonly pollIntervalMs?: number | undefined;
}

const CONTENT_TYPE = 'application/json';
const MAX_NAME_LENGTH = 127;
/** Hex characters of SHA-256 kept in a name: 128 bits. */
const HASH_LENGTH = 32;

/**
 * The secret name of a gateway's CA (no `client`) or of one of its clients. Gateway and client names are
 * DNS labels and may contain `--`, so a name built from them alone is ambiguous (gateway `x` + client
 * `y--ca` and the CA of gateway `x--client--y` both read `x--client--y--ca`) and, for a 63-character
 * gateway and client, longer than Key Vault's 127. So a name is a readable part, cut short when long,
 * then `--` and 128 bits of the SHA-256 of the exact (kind, gateway, client): distinct and bounded. Reads
 * and listings also check the tags, which hold the real names.
 */
export function secretName(gateway: string, client?: string): string {
  if (!NAME_PATTERN.test(gateway) || (client !== undefined && !NAME_PATTERN.test(client)))
    throw new InternalError(`'${gateway}${client ? `/${client}` : ''}' is not a valid gateway/client name`);
  const identity = client === undefined ? ['ca', gateway] : ['client', gateway, client];
  const hash = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, HASH_LENGTH);
  const readable = (client === undefined ? `${gateway}--ca` : `${gateway}--client--${client}`)
    .slice(0, MAX_NAME_LENGTH - HASH_LENGTH - 2)
    .replace(/-+$/, '');
  return `${readable}--${hash}`;
}

/** The name our scheme gives a secret with these tags; undefined when the tags are not ours. */
function nameFromTags(tags: Record<string, string> | undefined): string | undefined {
  const gateway = tags?.['gateway'];
  const client = tags?.['client'];
  if (gateway === undefined || !NAME_PATTERN.test(gateway)) return undefined;
  if (tags?.['kind'] === 'ca') return secretName(gateway);
  if (tags?.['kind'] === 'client' && client !== undefined && NAME_PATTERN.test(client))
    return secretName(gateway, client);
  return undefined;
}

function statusOf(e: unknown): number | undefined {
  const status = (e as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Maps Key Vault errors (RestError) to the project's typed errors, never leaking a raw SDK error. */
function mapError(e: unknown, what: string): DomainError {
  if (e instanceof DomainError) return e;
  const status = statusOf(e);
  const message = `Key Vault: ${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (status === 404) return new NotFoundError(message, { cause: e });
  if (status === 409) return new ConflictError(message, { cause: e });
  return new UpstreamError(message, {
    cause: e,
    transient: status === undefined || status === 408 || status === 429 || status >= 500,
  });
}

export class KeyVaultSecretStore implements SecretStore {
  private readonly client: SecretClient;
  private readonly pollIntervalMs: number;

  constructor(options: KeyVaultSecretStoreOptions) {
    this.client = new SecretClient(options.vaultUrl, options.credential, {
      ...options.clientOptions,
      retryOptions: {
        maxRetries: options.retry?.maxRetries ?? 4,
        retryDelayInMs: options.retry?.retryDelayInMs ?? 500,
        maxRetryDelayInMs: options.retry?.maxRetryDelayInMs ?? 10_000,
      },
    });
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
  }

  /** Sets a secret; a soft-deleted name is recovered first, then overwritten. */
  private async set(
    name: string,
    value: unknown,
    options: { tags: Record<string, string>; expiresOn?: Date },
  ) {
    const write = () =>
      this.client.setSecret(name, JSON.stringify(value), {
        contentType: CONTENT_TYPE,
        enabled: true,
        ...options,
      });
    try {
      await write();
    } catch (e: unknown) {
      if (statusOf(e) !== 409) throw mapError(e, `writing ${name}`);
      try {
        const poller = await this.client.beginRecoverDeletedSecret(name, {
          intervalInMs: this.pollIntervalMs,
        });
        await poller.pollUntilDone();
        await write();
      } catch (recoverError: unknown) {
        const mapped = mapError(recoverError, `recovering soft-deleted ${name}`);
        // Throttling, outages and resets stay transient failures; only a refusal means "cannot recover".
        if (mapped instanceof UpstreamError && mapped.transient) throw mapped;
        throw new ConflictError(
          `Key Vault secret ${name} is soft-deleted and could not be recovered (purge it, or wait for the retention period): ${String(recoverError)}`,
          { cause: recoverError },
        );
      }
    }
  }

  /** The parsed value of an enabled secret; undefined when missing or disabled. */
  private async get<T>(name: string): Promise<T | undefined> {
    let secret;
    try {
      secret = await this.client.getSecret(name);
    } catch (e: unknown) {
      const status = statusOf(e);
      // 403 is how Key Vault answers a read of a disabled secret.
      if (status === 404 || status === 403) return undefined;
      throw mapError(e, `reading ${name}`);
    }
    if (nameFromTags(secret.properties.tags) !== name)
      throw new InternalError(
        `Key Vault secret ${name} is tagged ${JSON.stringify(secret.properties.tags ?? {})}, not as the item its name is for`,
      );
    if (secret.properties.enabled === false || secret.value === undefined) return undefined;
    return JSON.parse(secret.value) as T;
  }

  putCa(gateway: string, ca: CaMaterial): Promise<void> {
    return this.set(
      secretName(gateway),
      { certPem: ca.certPem, keyPem: ca.keyPem },
      { tags: { kind: 'ca', gateway } },
    );
  }

  getCa(gateway: string): Promise<CaMaterial | undefined> {
    return this.get<CaMaterial>(secretName(gateway));
  }

  putClient(
    gateway: string,
    client: string,
    bundle: ClientBundle,
    info: { serial: string; notAfter: string },
  ): Promise<void> {
    return this.set(
      secretName(gateway, client),
      {
        certPem: bundle.certPem,
        ...(bundle.keyPem !== undefined ? { keyPem: bundle.keyPem } : {}),
        profile: bundle.profile,
      },
      {
        tags: { kind: 'client', gateway, client, serial: info.serial, notAfter: info.notAfter },
        expiresOn: new Date(info.notAfter),
      },
    );
  }

  getClient(gateway: string, client: string): Promise<ClientBundle | undefined> {
    return this.get<ClientBundle>(secretName(gateway, client));
  }

  async revokeClient(gateway: string, client: string): Promise<void> {
    const name = secretName(gateway, client);
    try {
      for await (const version of this.client.listPropertiesOfSecretVersions(name))
        if (version.enabled !== false && version.version)
          await this.client.updateSecretProperties(name, version.version, { enabled: false });
    } catch (e: unknown) {
      if (statusOf(e) === 404) return;
      throw mapError(e, `disabling ${name}`);
    }
  }

  /** The latest version's properties of each named secret that exists: one listing per name, at most 8 at a time. */
  async listClients(gateway: string, clients: readonly string[]): Promise<ClientSecretInfo[]> {
    const found = await mapLimited([...new Set(clients)], PARALLEL_REQUESTS, async (client) => {
      const name = secretName(gateway, client);
      let latest: SecretProperties | undefined;
      try {
        for await (const version of this.client.listPropertiesOfSecretVersions(name))
          if (!latest || (version.createdOn?.getTime() ?? 0) >= (latest.createdOn?.getTime() ?? 0))
            latest = version;
      } catch (e: unknown) {
        if (statusOf(e) === 404) return undefined;
        throw mapError(e, `listing the versions of ${name}`);
      }
      // Ours only when the tags are the ones this name is for.
      if (!latest || nameFromTags(latest.tags) !== name) return undefined;
      return {
        gateway,
        client,
        serial: latest.tags?.['serial'] ?? '',
        notAfter: latest.tags?.['notAfter'] ?? '',
        enabled: latest.enabled !== false,
      };
    });
    return found.filter((info): info is ClientSecretInfo => info !== undefined);
  }

  /** Soft-deletes the CA and the named clients' secrets, at most 8 at a time; missing ones are skipped. */
  async deleteGateway(gateway: string, clients: readonly string[]): Promise<void> {
    const names = [secretName(gateway), ...new Set(clients.map((client) => secretName(gateway, client)))];
    await mapLimited(names, PARALLEL_REQUESTS, async (name) => {
      try {
        const poller = await this.client.beginDeleteSecret(name, { intervalInMs: this.pollIntervalMs });
        await poller.pollUntilDone();
      } catch (e: unknown) {
        if (statusOf(e) !== 404) throw mapError(e, `deleting ${name}`);
      }
    });
  }
}

/** Key Vault requests in flight at once for one listing or deletion (its throttling is per vault). */
const PARALLEL_REQUESTS = 8;

/**
 * `items.map(fn)` with at most `limit` calls pending. After a failure no new call starts, and the first
 * failure is thrown only once the calls in flight have settled: a failed deletion leaves no request
 * still retrying behind the caller's back.
 */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const index = next;
      next += 1;
      try {
        results[index] = await fn(items[index] as T);
      } catch (e: unknown) {
        failures.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
