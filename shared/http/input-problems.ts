/**
 * Schema validation of request input into per-field problems (problem+json `errors[]`): body fields as
 * JSON pointers, route parameters as in the route template, query parameters as `?name`.
 */
import type { HttpRequest } from '@azure/functions';
import type { z } from 'zod';
import type { FieldProblem } from '../errors.js';
import { InputError } from '../errors.js';

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
