/**
 * The HTTP edge shared by every function: the ONE table from error type to status, RFC 9457
 * `application/problem+json` bodies, JSON request parsing (content type, size limit, syntax), schema
 * validation into per-field problems, and `apiHandler`, the wrapper every route uses so no try/catch is
 * copied per route.
 *
 * Status choice: every InputError is 400 (Azure REST API guidelines use 400 for all validation failures;
 * one code means "you sent something invalid, nothing changed"), whether the body was malformed, failed
 * the schema, or was refused by the domain (overlapping CIDRs, a reserved static IP, a bad CSR).
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import type { Config } from './config.js';
import type { DomainError, FieldProblem } from './errors.js';
import {
  ConflictError,
  ForbiddenError,
  InputError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
  UpstreamError,
  toDomainError,
} from './errors.js';
import type { ApiOperation } from './gateways/api.js';
import type { GatewayUseCases } from './gateways/api-use-cases.js';
import type { GatewayDeps } from './gateways/deps.js';
import type { Logger } from './logging.js';
import type { Principal, Role } from './auth.js';
import { authorize } from './auth.js';

/** Largest request body accepted (1 MiB); larger bodies get 413 without being read further. */
export const MAX_BODY_BYTES = 1024 * 1024;

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const JSON_CONTENT_TYPE = 'application/json';

/** Prefix of every problem `type` (a URN: stable, not meant to be dereferenced). */
export const PROBLEM_TYPE_PREFIX = 'urn:aks-vpn-gateways:problem:';

/** Retry-After (seconds) sent with a transient upstream failure when the upstream gave none. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** An RFC 9457 problem details body, with `errors[]` for validation and `requestId` for support. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string | undefined;
  readonly errors?: readonly FieldProblem[] | undefined;
  /** The invocation id: it appears in the server logs beside the full error. */
  readonly requestId?: string | undefined;
}

interface StatusRule {
  readonly type: abstract new (...args: never[]) => DomainError;
  readonly status: (e: DomainError) => number;
  readonly title: string;
  /** Whether `detail` may carry the error message (written for callers) or must stay generic. */
  readonly exposeMessage: boolean;
}

/** THE table from error type to HTTP status. First match wins; anything else is 500. */
const STATUS_TABLE: readonly StatusRule[] = [
  { type: InputError, status: () => 400, title: 'Invalid input', exposeMessage: true },
  { type: UnauthenticatedError, status: () => 401, title: 'Unauthenticated', exposeMessage: true },
  { type: ForbiddenError, status: () => 403, title: 'Forbidden', exposeMessage: true },
  { type: NotFoundError, status: () => 404, title: 'Not found', exposeMessage: true },
  { type: ConflictError, status: () => 409, title: 'Conflict', exposeMessage: true },
  { type: PayloadTooLargeError, status: () => 413, title: 'Payload too large', exposeMessage: true },
  {
    type: UnsupportedMediaTypeError,
    status: () => 415,
    title: 'Unsupported media type',
    exposeMessage: true,
  },
  {
    type: UpstreamError,
    status: (e) => ((e as UpstreamError).transient ? 503 : 502),
    title: 'Upstream failure',
    // Upstream messages can name internal hosts: they go to the log only.
    exposeMessage: false,
  },
];

const INTERNAL_RULE: StatusRule = {
  type: InternalError,
  status: () => 500,
  title: 'Internal error',
  exposeMessage: false,
};

function ruleOf(e: DomainError): StatusRule {
  return STATUS_TABLE.find((r) => e instanceof r.type) ?? INTERNAL_RULE;
}

/** The HTTP status for any thrown value (the one mapping every route shares). */
export function statusOf(e: unknown): number {
  const error = toDomainError(e);
  return ruleOf(error).status(error);
}

/** The problem+json response for any thrown value; never leaks internals for 5xx. */
export function problemResponse(
  e: unknown,
  where: { instance?: string | undefined; requestId?: string | undefined } = {},
): HttpResponseInit {
  const error = toDomainError(e);
  const rule = ruleOf(error);
  const status = rule.status(error);
  const code = rule === INTERNAL_RULE ? 'internal' : error.code;
  const detail = rule.exposeMessage
    ? error.message
    : status === 503
      ? 'A dependency is temporarily unavailable; retry later.'
      : status === 502
        ? 'A dependency (Kubernetes, the secret store or Azure) failed.'
        : 'An unexpected error occurred; quote the requestId when reporting it.';
  const problem: Problem = {
    type: `${PROBLEM_TYPE_PREFIX}${code}`,
    title: rule.title,
    status,
    detail,
    ...(where.instance ? { instance: where.instance } : {}),
    ...(error instanceof InputError && error.problems.length > 0 ? { errors: error.problems } : {}),
    ...(where.requestId ? { requestId: where.requestId } : {}),
  };
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  if (error instanceof UpstreamError && error.transient)
    headers['retry-after'] = String(error.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS);
  return { status, headers, body: JSON.stringify(problem) };
}

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g;

/** Removes PEM blocks (keys, certificates, CSRs, profiles' inline material) from text bound for a log. */
export function redactSecrets(text: string): string {
  return text.replace(PEM_BLOCK, '[redacted PEM]').replace(/<key>[\s\S]*?(<\/key>|$)/g, '[redacted key]');
}

/** Log fields describing an error and its cause chain, with secret material removed. */
export function errorLogFields(e: unknown): Record<string, unknown> {
  const chain: { name: string; message: string }[] = [];
  let current: unknown = e;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    if (current instanceof Error) {
      chain.push({ name: current.name, message: redactSecrets(current.message) });
      current = current.cause;
    } else {
      chain.push({
        name: typeof current,
        message: redactSecrets(typeof current === 'string' ? current : (JSON.stringify(current) ?? '')),
      });
      break;
    }
  }
  const stack = e instanceof Error && e.stack ? redactSecrets(e.stack) : undefined;
  return { error: chain[0], causes: chain.slice(1), ...(stack ? { stack } : {}) };
}

/** A Logger writing through the invocation context (Application Insights in Azure, console elsewhere). */
export function contextLogger(context: InvocationContext, base: Record<string, unknown> = {}): Logger {
  const line = (message: string, fields?: Record<string, unknown>) =>
    JSON.stringify({ message, invocationId: context.invocationId, ...base, ...fields });
  return {
    info: (m, f) => context.info(line(m, f)),
    warn: (m, f) => context.warn(line(m, f)),
    error: (m, f) => context.error(line(m, f)),
  };
}

/**
 * Only `application/json`: other `+json` types carry semantics of their own (a merge patch, a JSON
 * patch) that the API does not implement, so treating them as a full replacement would be wrong.
 */
function isJsonMediaType(contentType: string): boolean {
  const [essence = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  if (essence !== JSON_CONTENT_TYPE) return false;
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length);
  return charset === undefined || charset.replace(/"/g, '') === 'utf-8';
}

/** Reads a body stream, refusing (413) as soon as it grows past `maxBytes`; never buffers more. */
async function readLimited(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(`the request body is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.byteLength;
  }
  return bytes;
}

/**
 * The request's JSON body, or undefined when it has none. 413 past `maxBytes` (checked on
 * Content-Length first, then while streaming), 415 unless `application/json` in UTF-8,
 * 400 when the bytes are not UTF-8 JSON.
 */
export async function readJsonBody(request: HttpRequest, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > maxBytes)
    throw new PayloadTooLargeError(`the request body is larger than ${maxBytes} bytes`);
  const contentType = request.headers.get('content-type');
  if (contentType !== null && !isJsonMediaType(contentType))
    throw new UnsupportedMediaTypeError(
      `content type '${contentType.slice(0, 100)}' is not supported: send application/json (UTF-8)`,
    );
  const bytes = await readLimited(request.body as ReadableStream<Uint8Array> | null, maxBytes);
  if (bytes.byteLength === 0) return undefined;
  if (contentType === null)
    throw new UnsupportedMediaTypeError('the request has a body but no content type: send application/json');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e: unknown) {
    throw new InputError('the body is not valid UTF-8', [{ path: '', message: 'not valid UTF-8' }], {
      cause: e,
    });
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    const reason = e instanceof Error ? e.message : 'syntax error';
    throw new InputError('the body is not valid JSON', [{ path: '', message: reason }], { cause: e });
  }
}

/** Where a value came from, which decides how problem paths are written. */
export type InputLocation = 'body' | 'path' | 'query';

function escapePointer(segment: PropertyKey): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Problem paths: body fields as JSON pointers (`/loadBalancer/sourceRanges/0`, `` for the whole body),
 * route parameters as written in the route template (`{gateway}`), query parameters as `?force`.
 */
export function problemPath(location: InputLocation, path: readonly PropertyKey[]): string {
  if (location === 'path') return `{${path.map(String).join('.')}}`;
  if (location === 'query') return `?${path.map(String).join('.')}`;
  return path.map((p) => `/${escapePointer(p)}`).join('');
}

/** Maps zod issues to problem+json `errors[]` (one entry per unknown key). */
export function zodProblems(issues: readonly z.core.$ZodIssue[], location: InputLocation): FieldProblem[] {
  return issues.flatMap((issue): FieldProblem[] => {
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({
        path: problemPath(location, [...issue.path, key]),
        message: 'unknown field',
      }));
    if (issue.code === 'invalid_union' && issue.errors.length > 0)
      return zodProblems(issue.errors.flat(), location).slice(0, 1);
    return [{ path: problemPath(location, issue.path), message: issue.message }];
  });
}

/** Validates `value` with a schema; InputError with every problem (never a partial result). */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  location: InputLocation,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const what = {
    body: 'the request body is',
    path: 'the route parameters are',
    query: 'the query parameters are',
  };
  throw new InputError(`${what[location]} invalid`, zodProblems(parsed.error.issues, location));
}

/** The query string as a plain object for schema validation; a repeated parameter is ambiguous (400). */
export function queryObject(request: HttpRequest): Record<string, string> {
  const query: Record<string, string> = {};
  const repeated = new Set<string>();
  for (const [key, value] of request.query.entries()) {
    if (Object.hasOwn(query, key)) repeated.add(key);
    query[key] = value;
  }
  if (repeated.size > 0)
    throw new InputError(
      'the query parameters are invalid',
      [...repeated].map((key) => ({ path: problemPath('query', [key]), message: 'given more than once' })),
    );
  return query;
}

/**
 * What the handlers need from the composition root: the config (cheap, for the auth decision) and the
 * per-invocation use-case dependencies (built lazily: clients are constructed once, on first use).
 */
export interface ApiContext {
  config(): Config;
  /** The use-cases the handlers call (the real ones, or fakes in handler tests). */
  readonly useCases: GatewayUseCases;
  deps(context: InvocationContext): Promise<GatewayDeps>;
}

/** One call as the wrapper hands it to a route's body. */
export interface ApiCall {
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  /** Route parameters (raw; validate with the route's schema). */
  readonly params: Readonly<Record<string, string>>;
  /** The caller, when Entra roles are enabled. */
  readonly principal: Principal | undefined;
  /** The use-case dependencies (resolved on first call). */
  deps(): Promise<GatewayDeps>;
  readonly useCases: GatewayUseCases;
}

export interface ApiHandlerOptions {
  /** The Entra app role the route needs when AUTH_ROLES_ENABLED; undefined = no role check. */
  readonly role?: Role | undefined;
}

/**
 * THE wrapper: role check, then the route body, then any error → problem+json via the status table,
 * logged (without secret material) with the invocation id that the problem's `requestId` quotes.
 */
export function apiHandler(
  api: ApiContext,
  options: ApiHandlerOptions,
  body: (call: ApiCall) => Promise<HttpResponseInit>,
): HttpHandler {
  return async (request, context) => {
    const instance = requestPath(request, context);
    try {
      const principal = authorize(api.config(), request.headers, options.role);
      let resolved: Promise<GatewayDeps> | undefined;
      const response = await body({
        request,
        context,
        params: request.params,
        principal,
        useCases: api.useCases,
        deps: () => (resolved ??= api.deps(context)),
      });
      return request.method === 'HEAD' ? withoutBody(response) : response;
    } catch (e: unknown) {
      const response = problemResponse(e, { instance, requestId: context.invocationId });
      const status = response.status ?? 500;
      const fields = {
        invocationId: context.invocationId,
        method: request.method,
        path: instance,
        status,
        ...errorLogFields(e),
      };
      if (status >= 500) context.error(JSON.stringify({ message: 'request failed', ...fields }));
      else
        context.warn(
          JSON.stringify({
            message: 'request refused',
            ...fields,
            stack: undefined,
          }),
        );
      return request.method === 'HEAD' ? withoutBody(response) : response;
    }
  };
}

/** HEAD (RFC 9110 §9.3.2): the GET answer's status and headers, no content. */
function withoutBody(response: HttpResponseInit): HttpResponseInit {
  const rest: HttpResponseInit = { ...response };
  delete rest.body;
  delete rest.jsonBody;
  return rest;
}

/** Trigger metadata key under which a host hands over the request path exactly as it was sent. */
export const RAW_PATH_METADATA = 'rawPath';

/**
 * The request path for a problem's `instance`, as the caller sent it: `HttpRequest.url` has been through
 * WHATWG URL parsing, which resolves `%2e%2e` segments into a path the caller never sent, so a host
 * that still has the raw target (the sandbox) passes it in the trigger metadata.
 */
function requestPath(request: HttpRequest, context: InvocationContext): string | undefined {
  const raw = context.triggerMetadata?.[RAW_PATH_METADATA];
  if (typeof raw === 'string') return raw;
  try {
    return new URL(request.url).pathname;
  } catch {
    return undefined;
  }
}

/** Absolute URL of an API path on the host that received `request` (for Location headers). */
export function absoluteUrl(request: HttpRequest, path: string): string {
  return new URL(path, request.url).toString();
}

/** `Operation-Location` for an operation id (Azure LRO pattern). */
export function operationLocation(request: HttpRequest, operationId: string): string {
  return absoluteUrl(request, `/api/operations/${encodeURIComponent(operationId)}`);
}

/** A JSON response. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'content-type': JSON_CONTENT_TYPE, ...headers } };
}

type OutputOf<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a route body receives: its validated params, query and body, plus the call. */
export interface RouteInput<O extends ApiOperation> {
  readonly params: OutputOf<O['params']>;
  readonly query: OutputOf<O['query']>;
  readonly body: OutputOf<O['body']>;
}

/** A route: its entry of the API table and the handler factory (deps in, handler out). */
export interface RouteDefinition {
  readonly operation: ApiOperation;
  readonly makeHandler: (api: ApiContext) => HttpHandler;
}

/**
 * Defines a route from its API table entry: the wrapper validates route params, then the query, then the
 * JSON body with the entry's schemas (problems listed per field), and hands them to `run`.
 */
export function defineRoute<O extends ApiOperation>(
  operation: O,
  run: (input: RouteInput<O>, call: ApiCall) => Promise<HttpResponseInit>,
): RouteDefinition {
  return {
    operation,
    makeHandler: (api) =>
      apiHandler(api, { role: operation.role }, async (call) => {
        const params: unknown = operation.params
          ? parseInput(operation.params, call.params, 'path')
          : undefined;
        const query: unknown = operation.query
          ? parseInput(operation.query, queryObject(call.request), 'query')
          : undefined;
        let body: unknown;
        if (operation.body) {
          const raw = await readJsonBody(call.request);
          body = parseInput(operation.body, raw === undefined && operation.bodyOptional ? {} : raw, 'body');
        }
        return run({ params, query, body } as RouteInput<O>, call);
      }),
  };
}
