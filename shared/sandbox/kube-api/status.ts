/**
 * Kubernetes `Status` failures, shaped exactly as kube-apiserver sends them, so that client code branching on
 * `ApiException.code` / `body.reason` behaves the same against the sandbox as against a real cluster.
 */

/** One entry of `details.causes` (field validation problems, apply conflicts). */
export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field?: string;
}

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
  readonly uid?: string;
  readonly causes?: readonly StatusCause[];
  readonly retryAfterSeconds?: number;
}

/** A request failure that the server answers with a `Status` object and the HTTP status `code`. */
export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'KubeStatusError';
  }

  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** What the API server names a resource in messages: `configmaps`, `deployments.apps`. */
export interface ResourceName {
  readonly group: string;
  readonly plural: string;
}

const qualified = (r: ResourceName): string => (r.group ? `${r.plural}.${r.group}` : r.plural);
const detailsOf = (r: ResourceName, name: string): StatusDetails => ({
  name,
  ...(r.group ? { group: r.group } : {}),
  kind: r.plural,
});

export const notFound = (r: ResourceName, name: string): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', `${qualified(r)} "${name}" not found`, detailsOf(r, name));

export const alreadyExists = (r: ResourceName, name: string): KubeStatusError =>
  new KubeStatusError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, detailsOf(r, name));

export const conflict = (r: ResourceName, name: string, why: string): KubeStatusError =>
  new KubeStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`,
    detailsOf(r, name),
  );

export const staleVersion = (r: ResourceName, name: string): KubeStatusError =>
  conflict(
    r,
    name,
    'the object has been modified; please apply your changes to the latest version and try again',
  );

export const badRequest = (message: string): KubeStatusError =>
  new KubeStatusError(400, 'BadRequest', message);

export const methodNotAllowed = (): KubeStatusError =>
  new KubeStatusError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );

export const pathNotFound = (): KubeStatusError =>
  new KubeStatusError(404, 'NotFound', 'the server could not find the requested resource', {});

/** One field problem found by validation (becomes a `causes[]` entry of a 422). */
export interface FieldError {
  readonly type:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueTooLong'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate'
    | 'FieldValueNotFound';
  readonly field: string;
  readonly detail: string;
  readonly value?: unknown;
}

/** Renders a field error the way apimachinery's `field.Error.Error()` does. */
export function fieldErrorMessage(e: FieldError): string {
  switch (e.type) {
    case 'FieldValueRequired':
      return `Required value${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueInvalid':
      return `Invalid value: ${goValue(e.value)}: ${e.detail}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${JSON.stringify(e.value)}${e.detail ? `: ${e.detail}` : ''}`;
    case 'FieldValueTooLong':
      return `Too long: ${e.detail}`;
    case 'FieldValueForbidden':
      return `Forbidden: ${e.detail}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${JSON.stringify(e.value)}`;
    case 'FieldValueNotFound':
      return `Not found: ${JSON.stringify(e.value)}`;
  }
}

/** A value as Go's `%#v` prints it in validation messages (maps of strings as `map[string]string{...}`). */
function goValue(v: unknown): string {
  if (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === 'string')
  ) {
    const entries = Object.entries(v as Record<string, string>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `map[string]string{${entries.map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(x)}`).join(', ')}}`;
  }
  return JSON.stringify(v);
}

/** 422 Invalid: `ConfigMap "x" is invalid: <field>: <message>` with one cause per problem. */
export function invalid(
  kind: string,
  group: string,
  name: string,
  errors: readonly FieldError[],
): KubeStatusError {
  const rendered = errors.map((e) => `${e.field}: ${fieldErrorMessage(e)}`);
  const summary = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new KubeStatusError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    ...(name ? { name } : {}),
    ...(group ? { group } : {}),
    kind,
    causes: errors.map((e) => ({ reason: e.type, message: fieldErrorMessage(e), field: e.field })),
  });
}

/** The reason kube-apiserver uses for a plain HTTP status (used by injected faults). */
export function reasonForCode(code: number): string {
  const reasons: Record<number, string> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    409: 'Conflict',
    410: 'Expired',
    413: 'RequestEntityTooLarge',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  return reasons[code] ?? 'Unknown';
}
