/**
 * A local HTTPS Key Vault (secrets only) speaking the REST protocol @azure/keyvault-secrets really uses:
 * the challenge (401 + WWW-Authenticate, then a bearer token), set/get/update/list with nextLink paging,
 * soft delete, recover and purge, `{error: {code, message}}` bodies; plus fault injection.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate } from './arm-server.js';

interface Version {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes: {
    enabled: boolean;
    exp?: number;
    nbf?: number;
    created: number;
    updated: number;
    recoveryLevel: string;
  };
}

export interface KvFault {
  method?: string;
  /** Matched against the URL path (no query). */
  path: RegExp;
  /** Which matching request it hits (default the first); ignored with `every`. */
  nth?: number;
  /** Hits every matching request until the faults are cleared (an outage). */
  every?: boolean;
  /** The injected answer's status (default 500), with the error code Key Vault gives it. */
  status?: number;
  retryAfterSeconds?: number;
  /** Drops the connection instead of answering. */
  reset?: boolean;
  /**
   * Instead of an injected answer: changes the fake's state (given the secret name in the path), then
   * answers normally, as when another client acts between two of ours.
   */
  meanwhile?: (name: string) => void;
}

/** What `addFault` returns: how often the fault has hit so far. */
export interface KvFaultHandle {
  hits(): number;
}

const ERROR_CODES: Record<number, string> = {
  403: 'Forbidden',
  404: 'SecretNotFound',
  409: 'Conflict',
  429: 'Throttled',
  503: 'ServiceUnavailable',
};

export interface FakeKeyVault {
  readonly url: string;
  readonly ca: string;
  readonly token: string;
  /** Raw stored state, to check what went over the wire. */
  readonly secrets: Map<string, Version[]>;
  readonly deleted: Map<string, { versions: Version[]; deletedDate: number }>;
  readonly requests: { method: string; path: string; status: number }[];
  addFault(fault: KvFault): KvFaultHandle;
  clearFaults(): void;
  close(): Promise<void>;
}

const now = () => Math.floor(Date.now() / 1000);

export async function startFakeKeyVault(o: { pageSize?: number } = {}): Promise<FakeKeyVault> {
  const { cert, key } = selfSignedCertificate();
  const token = randomBytes(12).toString('hex');
  const secrets = new Map<string, Version[]>();
  const deleted = new Map<string, { versions: Version[]; deletedDate: number }>();
  const requests: FakeKeyVault['requests'] = [];
  const faults: (KvFault & { seen: number; hits: number })[] = [];
  const pageSize = o.pageSize ?? 3;
  let base = '';

  const bundle = (name: string, v: Version, withValue = true) => ({
    ...(withValue ? { value: v.value } : {}),
    id: `${base}/secrets/${name}/${v.version}`,
    ...(v.contentType ? { contentType: v.contentType } : {}),
    ...(v.tags ? { tags: v.tags } : {}),
    attributes: v.attributes,
  });
  const deletedBundle = (name: string, entry: { versions: Version[]; deletedDate: number }) => ({
    ...bundle(name, entry.versions.at(-1)!, false),
    recoveryId: `${base}/deletedsecrets/${name}`,
    deletedDate: entry.deletedDate,
    scheduledPurgeDate: entry.deletedDate + 90 * 86400,
  });

  async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const url = new URL(req.url ?? '/', base);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(payload === undefined ? '' : JSON.stringify(payload));
      return status;
    };
    const error = (status: number, code: string, message: string) =>
      send(status, { error: { code, message } });

    const matching = faults.filter(
      (f) => (!f.method || f.method === req.method) && f.path.test(url.pathname),
    );
    for (const f of matching) f.seen += 1;
    const due = matching.find((f) => f.every || f.seen === (f.nth ?? 1));
    if (due) due.hits += 1;
    if (due?.meanwhile) due.meanwhile(decodeURIComponent(url.pathname.split('/')[2] ?? ''));
    else if (due) {
      if (due.reset) {
        req.socket.destroy();
        return 0;
      }
      const status = due.status ?? 500;
      return send(
        status,
        { error: { code: ERROR_CODES[status] ?? 'InternalError', message: 'injected' } },
        due.retryAfterSeconds !== undefined ? { 'retry-after': String(due.retryAfterSeconds) } : {},
      );
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      await body(req);
      return send(
        401,
        { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
        {
          'www-authenticate':
            'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"',
        },
      );
    }
    if (!url.searchParams.get('api-version')) return error(400, 'BadParameter', 'api-version is required');
    const parts = url.pathname.split('/').filter(Boolean);
    const [collection, name, extra] = parts;
    const input = await body(req);

    if (collection === 'secrets' && !name && req.method === 'GET') {
      const all = [...secrets.entries()].sort(([a], [b]) => a.localeCompare(b));
      const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
      const page = all.slice(skip, skip + pageSize).map(([n, versions]) => {
        const v = versions.at(-1)!;
        return {
          id: `${base}/secrets/${n}`,
          ...(v.contentType ? { contentType: v.contentType } : {}),
          ...(v.tags ? { tags: v.tags } : {}),
          attributes: v.attributes,
        };
      });
      const next =
        skip + pageSize < all.length
          ? `${base}/secrets?api-version=${url.searchParams.get('api-version')}&$skiptoken=${skip + pageSize}`
          : null;
      return send(200, { value: page, nextLink: next });
    }
    if (collection === 'secrets' && name) {
      const versions = secrets.get(name);
      if (req.method === 'PUT' && !extra) {
        if (deleted.has(name))
          return error(
            409,
            'Conflict',
            `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
          );
        const attributes = (input['attributes'] ?? {}) as { enabled?: boolean; exp?: number; nbf?: number };
        const v: Version = {
          version: randomBytes(16).toString('hex'),
          value: typeof input['value'] === 'string' ? input['value'] : '',
          ...(typeof input['contentType'] === 'string' ? { contentType: input['contentType'] } : {}),
          ...(input['tags'] ? { tags: input['tags'] as Record<string, string> } : {}),
          attributes: {
            enabled: attributes.enabled ?? true,
            ...(attributes.exp ? { exp: attributes.exp } : {}),
            ...(attributes.nbf ? { nbf: attributes.nbf } : {}),
            created: now(),
            updated: now(),
            recoveryLevel: 'Recoverable+Purgeable',
          },
        };
        secrets.set(name, [...(versions ?? []), v]);
        return send(200, bundle(name, v));
      }
      if (!versions)
        return error(
          404,
          'SecretNotFound',
          `A secret with (name/id) ${name} was not found in this key vault.`,
        );
      if (req.method === 'GET' && extra === 'versions')
        return send(200, {
          value: versions.map((v) => ({
            id: `${base}/secrets/${name}/${v.version}`,
            attributes: v.attributes,
            ...(v.tags ? { tags: v.tags } : {}),
          })),
          nextLink: null,
        });
      const v = extra ? versions.find((x) => x.version === extra) : versions.at(-1);
      if (!v) return error(404, 'SecretNotFound', `version ${extra} of ${name} was not found`);
      if (req.method === 'GET') {
        if (!v.attributes.enabled)
          return error(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.');
        return send(200, bundle(name, v));
      }
      if (req.method === 'PATCH') {
        const attributes = (input['attributes'] ?? {}) as { enabled?: boolean };
        if (attributes.enabled !== undefined) v.attributes.enabled = attributes.enabled;
        if (input['tags']) v.tags = input['tags'] as Record<string, string>;
        if (typeof input['contentType'] === 'string') v.contentType = input['contentType'];
        v.attributes.updated = now();
        return send(200, bundle(name, v, false));
      }
      if (req.method === 'DELETE' && !extra) {
        secrets.delete(name);
        const entry = { versions, deletedDate: now() };
        deleted.set(name, entry);
        return send(200, deletedBundle(name, entry));
      }
    }
    if (collection === 'deletedsecrets' && name) {
      const entry = deleted.get(name);
      if (!entry) return error(404, 'SecretNotFound', `Deleted Secret not found: ${name}`);
      if (req.method === 'GET') return send(200, deletedBundle(name, entry));
      if (req.method === 'POST' && extra === 'recover') {
        deleted.delete(name);
        secrets.set(name, entry.versions);
        return send(200, bundle(name, entry.versions.at(-1)!, false));
      }
      if (req.method === 'DELETE') {
        deleted.delete(name);
        res.writeHead(204);
        res.end();
        return 204;
      }
    }
    return error(405, 'MethodNotAllowed', `${req.method} ${url.pathname}`);
  }

  const server = createServer({ cert, key }, (req, res) => {
    handle(req, res)
      .then((status) => requests.push({ method: req.method ?? '', path: req.url ?? '', status }))
      .catch((e: unknown) => {
        res.writeHead(500);
        res.end(JSON.stringify({ error: { code: 'InternalError', message: String(e) } }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    ca: cert,
    token,
    secrets,
    deleted,
    requests,
    addFault: (f) => {
      const fault = { ...f, seen: 0, hits: 0 };
      faults.push(fault);
      return { hits: () => fault.hits };
    },
    clearFaults: () => void faults.splice(0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
