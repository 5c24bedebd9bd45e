/**
 * The SecretStore on Azure Key Vault (@azure/keyvault-secrets, RBAC, managed identity). One secret per
 * item, holding a JSON bundle (content type `application/json`):
 *   CA      `<gateway>--ca--<hash>`                {certPem, keyPem}            tags kind=ca, gateway
 *   client  `<gateway>--client--<client>--<hash>`  {certPem, keyPem?, profile}  tags kind=client, gateway,
 *                                                  client, serial, notAfter; expiresOn = notAfter
 * (see `secretName`: the hash makes names distinct and at most 127 characters; the tags hold the real
 * names). Revocation disables the secret (kept for audit, never purged). Deleting a gateway soft-deletes
 * its secrets and waits for the deletion; writing a name that is soft-deleted recovers it first. Throttling
 * (429 + Retry-After) and 5xx are retried by the SDK pipeline with the retry options below.
 */
import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import type { SecretClientOptions } from '@azure/keyvault-secrets';
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

  private async secretsOf(gateway: string) {
    const found: { name: string; tags: Record<string, string>; enabled: boolean }[] = [];
    try {
      for await (const p of this.client.listPropertiesOfSecrets())
        // Ours only when the tags name the gateway and the name is the one those tags give.
        if (p.tags?.['gateway'] === gateway && nameFromTags(p.tags) === p.name)
          found.push({ name: p.name, tags: p.tags, enabled: p.enabled !== false });
    } catch (e: unknown) {
      throw mapError(e, `listing the secrets of ${gateway}`);
    }
    return found;
  }

  async listClients(gateway: string): Promise<ClientSecretInfo[]> {
    return (await this.secretsOf(gateway))
      .filter((s) => s.tags['kind'] === 'client')
      .map((s) => ({
        gateway,
        client: s.tags['client'] ?? '',
        serial: s.tags['serial'] ?? '',
        notAfter: s.tags['notAfter'] ?? '',
        enabled: s.enabled,
      }));
  }

  async deleteGateway(gateway: string): Promise<void> {
    for (const { name } of await this.secretsOf(gateway)) {
      try {
        const poller = await this.client.beginDeleteSecret(name, { intervalInMs: this.pollIntervalMs });
        await poller.pollUntilDone();
      } catch (e: unknown) {
        if (statusOf(e) !== 404) throw mapError(e, `deleting ${name}`);
      }
    }
  }
}
