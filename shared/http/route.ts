/**
 * The route wrapper every function uses, so no try/catch is copied per route: the role check, then
 * validation of route parameters, query and body with the API table's schemas, then the route body;
 * any error becomes problem+json through the status table and is logged without secret material.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { z } from 'zod';
import type { ApiOperation } from '../api/routes.js';
import { auditCaller, auditLine, isWrite, outcomeOf } from './audit.js';
import type { Principal, Role } from '../auth.js';
import { authorize, parseClientPrincipal } from '../auth.js';
import type { Config } from '../config.js';
import type { GatewayUseCases } from '../gateways/api-use-cases.js';
import type { GatewayDeps } from '../gateways/deps.js';
import { problemResponse } from './error-status.js';
import { JSON_CONTENT_TYPE, readJsonBody } from './json-body.js';
import { parseInput, queryObject } from './input-problems.js';
import { errorLogFields } from './log-redaction.js';

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
  /** Names the client a write concerns when the route has no `{client}` (issuing: it is in the body). */
  auditClient(name: string): void;
  /**
   * Names the caller and the gateway of a write whose credential is not a principal or a function key
   * (an enrollment token: the route names the enrollment, never the token).
   */
  auditCaller(who: string, gateway?: string): void;
}

export interface ApiHandlerOptions {
  /** The Entra app role the route needs when AUTH_ROLES_ENABLED; undefined = no role check. */
  readonly role?: Role | undefined;
  /** The operation's id, named by the audit event of a write. */
  readonly operationId?: string | undefined;
}

/**
 * THE wrapper: role check, then the route body, then any error → problem+json via the status table,
 * logged (without secret material) with the invocation id that the problem's `requestId` quotes. Every
 * write, whatever its outcome, is also one audit event (audit.ts).
 */
export function apiHandler(
  api: ApiContext,
  options: ApiHandlerOptions,
  body: (call: ApiCall) => Promise<HttpResponseInit>,
): HttpHandler {
  const handle = handleRequest(api, options, body);
  return async (request, context) => {
    const audited = isWrite(request.method);
    let client = request.params['client'];
    let gateway = request.params['gateway'];
    let who: string | undefined;
    const response = await handle(request, context, {
      client: (name) => (client = name),
      caller: (name, gatewayName) => {
        who = name;
        gateway = gatewayName ?? gateway;
      },
    });
    if (audited) {
      const status = response.status ?? 200;
      context.info(
        auditLine({
          who: who ?? auditCaller(auditedPrincipal(api, request)),
          operation: options.operationId ?? `${request.method} ${requestPath(request, context) ?? ''}`,
          method: request.method,
          gateway,
          client,
          outcome: outcomeOf(status),
          status,
          invocationId: context.invocationId,
        }),
      );
    }
    return response;
  };
}

/**
 * The caller the audit names: the principal App Service Authentication forwarded, only when roles are
 * enforced (which requires Authentication in front of the app); otherwise the header may be forged and the
 * caller is known only as a function key holder.
 */
function auditedPrincipal(api: ApiContext, request: HttpRequest): Principal | undefined {
  if (!api.config().AUTH_ROLES_ENABLED) return undefined;
  try {
    return parseClientPrincipal(request.headers.get('x-ms-client-principal'));
  } catch {
    return undefined;
  }
}

function handleRequest(
  api: ApiContext,
  options: ApiHandlerOptions,
  body: (call: ApiCall) => Promise<HttpResponseInit>,
) {
  return async (
    request: HttpRequest,
    context: InvocationContext,
    audit: { client: (name: string) => void; caller: (who: string, gateway?: string) => void },
  ): Promise<HttpResponseInit> => {
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
        auditClient: audit.client,
        auditCaller: audit.caller,
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
      apiHandler(api, { role: operation.role, operationId: operation.operationId }, async (call) => {
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
          // Issuing names its client in the body, not the route.
          const named = (body as { name?: unknown } | undefined)?.name;
          if (operation.route.endsWith('/clients') && typeof named === 'string') call.auditClient(named);
        }
        return run({ params, query, body } as RouteInput<O>, call);
      }),
  };
}
