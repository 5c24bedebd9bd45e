/**
 * The project's typed errors. Every layer throws one of these (or lets `toDomainError` wrap what it
 * caught), and `shared/http/error-status.ts` holds the one table from error type to HTTP status.
 */

/** One problem with one input field, reported to callers in problem+json `errors[]`. */
export interface FieldProblem {
  /** JSON-pointer-like path of the offending field, e.g. `/loadBalancer/sourceRanges/0`. */
  readonly path: string;
  readonly message: string;
}

export abstract class DomainError extends Error {
  /** Stable, URL-safe code; becomes the problem `type` suffix. */
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The caller sent something invalid. Nothing was changed. */
export class InputError extends DomainError {
  readonly code = 'invalid-input';
  readonly problems: readonly FieldProblem[];

  constructor(message: string, problems: readonly FieldProblem[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.problems = problems;
  }
}

/** The body was larger than the API accepts. */
export class PayloadTooLargeError extends DomainError {
  readonly code = 'payload-too-large';
}

/** The body is not JSON (or has no content type); the API accepts `application/json` only. */
export class UnsupportedMediaTypeError extends DomainError {
  readonly code = 'unsupported-media-type';
}

/** The named thing does not exist. */
export class NotFoundError extends DomainError {
  readonly code = 'not-found';
}

/** The request conflicts with the current state (duplicate name, stale version, in-use client). */
export class ConflictError extends DomainError {
  readonly code = 'conflict';
}

/** The caller is not authenticated. */
export class UnauthenticatedError extends DomainError {
  readonly code = 'unauthenticated';
  /** The `WWW-Authenticate` challenge of the 401 (RFC 6750 §3), when the credential was a bearer token. */
  readonly challenge: string | undefined;

  constructor(message: string, options?: { cause?: unknown; challenge?: string }) {
    super(message, options);
    this.challenge = options?.challenge;
  }
}

/** The caller is authenticated but lacks the role. */
export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
}

/** A dependency (Kubernetes, Key Vault, ARM) failed or was unreachable. */
export class UpstreamError extends DomainError {
  readonly code = 'upstream-failure';
  /** Whether retrying the same call later may succeed (throttling, 5xx, timeouts, resets). */
  readonly transient: boolean;
  /** Seconds the upstream asked us to wait, when it said so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    message: string,
    options?: { cause?: unknown; transient?: boolean; retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.transient = options?.transient ?? false;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }
}

/** Configuration is missing or invalid; lists every problem at once. */
export class ConfigError extends DomainError {
  readonly code = 'invalid-configuration';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** A bug or an impossible state: never the caller's fault. */
export class InternalError extends DomainError {
  readonly code = 'internal';
}

/** Normalises anything caught into a DomainError, keeping the original as `cause`. */
export function toDomainError(e: unknown): DomainError {
  if (e instanceof DomainError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new InternalError(message, { cause: e });
}
