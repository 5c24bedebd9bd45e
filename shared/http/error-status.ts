/**
 * The ONE table from error type to HTTP status, and the RFC 9457 `application/problem+json` body every
 * refused or failed request gets.
 *
 * Status choice: every InputError is 400 (Azure REST API guidelines use 400 for all validation failures;
 * one code means "you sent something invalid, nothing changed"), whether the body was malformed, failed
 * the schema, or was refused by the domain (overlapping CIDRs, a reserved static IP, a bad CSR).
 */
import type { HttpResponseInit } from '@azure/functions';
import type { DomainError, FieldProblem } from '../errors.js';
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
} from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

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
  if (error instanceof UnauthenticatedError && error.challenge !== undefined)
    headers['www-authenticate'] = error.challenge;
  return { status, headers, body: JSON.stringify(problem) };
}
