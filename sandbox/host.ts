/**
 * The sandbox host: serves the SAME route definitions as the Functions host over plain node:http, with
 * no Functions Core Tools. Each request becomes an `HttpRequest` / `InvocationContext` exactly as the
 * host builds them, and the handler's `HttpResponseInit` is written back through `HttpResponse`, so
 * headers, JSON serialisation and status defaults behave as in Azure.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import azureFunctions from '@azure/functions';
import type { HttpResponseInit } from '@azure/functions';
import type { Composition } from '../shared/composition.js';
import { NotFoundError } from '../shared/errors.js';
import type { RouteDefinition } from '../shared/http/route.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, problemResponse } from '../shared/http/error-status.js';
import { MAX_BODY_BYTES } from '../shared/http/json-body.js';
import { redactSecrets } from '../shared/http/log-redaction.js';
import { RAW_PATH_METADATA } from '../shared/http/route.js';
import { matchRoute } from './router.js';

const { HttpRequest, HttpResponse, InvocationContext } = azureFunctions;

export interface SandboxHostOptions {
  readonly composition: Composition;
  readonly routes: readonly RouteDefinition[];
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Where request and handler log lines go. */
  readonly write: (line: string) => void;
}

export interface SandboxHost {
  /** Base URL of the API, e.g. `http://127.0.0.1:7071/api`. */
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then drops the rest. */
  close(graceMs?: number): Promise<void>;
}

/** Reads at most MAX_BODY_BYTES + 1 bytes: an oversized body is refused (413) without being buffered. */
async function readBody(req: IncomingMessage): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Stopping early must not destroy the request: its socket still carries the answer.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return { bytes: Buffer.concat(chunks, MAX_BODY_BYTES + 1), truncated: true };
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}

/**
 * Appends the peer's address to `X-Forwarded-For` as a reverse proxy in front of a Functions host does, so
 * the last entry is the address the host saw (what `POST /enroll` records as where a branch enrolled from).
 */
function withForwardedFor(headers: Record<string, string>, peer: string | undefined): Record<string, string> {
  if (!peer) return headers;
  const address = peer.startsWith('::ffff:') ? peer.slice('::ffff:'.length) : peer;
  const sent = headers['x-forwarded-for'];
  return { ...headers, 'x-forwarded-for': sent ? `${sent}, ${address}` : address };
}

async function writeResponse(res: ServerResponse, init: HttpResponseInit, close: boolean): Promise<void> {
  const response = new HttpResponse(init);
  const body = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, {
    ...Object.fromEntries(response.headers),
    'content-length': body.length,
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/** Starts the sandbox host on `host:port`; resolves once listening. */
export async function startSandboxHost(options: SandboxHostOptions): Promise<SandboxHost> {
  // Handlers are built once per route, not per request.
  const handlers = new Map(options.routes.map((r) => [r, r.makeHandler(options.composition)]));
  const { write } = options;
  let origin = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const target = req.url ?? '/';
    const method = req.method ?? 'GET';
    const [rawPath = '/'] = target.split('?');
    const match = matchRoute(options.routes, method, rawPath);
    let init: HttpResponseInit;
    let close = false;
    let functionName = '-';
    if (match.kind === 'not-found') {
      init = problemResponse(new NotFoundError(`no route ${rawPath}`), { instance: rawPath });
    } else if (match.kind === 'method-not-allowed') {
      const detail = `${method} is not allowed here`;
      const problem = { type: `${PROBLEM_TYPE_PREFIX}method-not-allowed`, title: 'Method not allowed' };
      init = {
        status: 405,
        headers: { 'content-type': PROBLEM_CONTENT_TYPE, allow: match.allow.join(', ') },
        body: JSON.stringify({ ...problem, status: 405, detail, instance: rawPath }),
      };
    } else {
      functionName = match.definition.operation.operationId;
      const body = await readBody(req);
      close = body.truncated;
      const invocationId = randomUUID();
      const request = new HttpRequest({
        method,
        url: `${origin}${target}`,
        headers: withForwardedFor(
          Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, [v ?? ''].flat().join(', ')])),
          req.socket.remoteAddress,
        ),
        params: match.params,
        ...(body.bytes.length > 0 ? { body: { bytes: body.bytes } } : {}),
      });
      const context = new InvocationContext({
        invocationId,
        functionName,
        triggerMetadata: { [RAW_PATH_METADATA]: rawPath },
        logHandler: (level, ...args) =>
          write(
            `${new Date().toISOString()} ${level} ${functionName} ${redactSecrets(args.map(String).join(' '))}`,
          ),
      });
      try {
        const handler = handlers.get(match.definition) ?? match.definition.makeHandler(options.composition);
        init = await handler(request, context);
      } catch (e: unknown) {
        init = problemResponse(e, { instance: rawPath, requestId: invocationId });
      }
    }
    await writeResponse(res, init, close);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    write(
      `${new Date().toISOString()} http ${method} ${rawPath} ${init.status ?? 200} ${ms.toFixed(1)}ms ${functionName}`,
    );
    if (close) {
      // The rest of an oversized body is discarded unbuffered (closing with unread data would make the
      // kernel reset the connection and the client could lose the 413), then the connection closes.
      req.resume();
      setTimeout(() => req.socket.destroy(), 2000).unref();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      write(`${new Date().toISOString()} error sandbox ${redactSecrets(String(e))}`);
      if (res.headersSent) res.destroy();
      else void writeResponse(res, problemResponse(e), true).catch(() => res.destroy());
    });
  });
  // Rejects on 'error' (the port is taken) as well.
  await once(server.listen(options.port, options.host), 'listening');
  const { address, family, port } = server.address() as AddressInfo;
  origin = `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;

  return {
    url: `${origin}/api`,
    async close(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
