/**
 * Matches raw request paths against the API table's route templates (`gateways/{gateway}/clients`),
 * the way the Functions host does, for the sandbox host. Segments are matched before percent-decoding,
 * so `a%2Fb` stays one segment and reaches the handler's name validation (400) instead of another route.
 * No two templates of the table match the same path with different parameters, so the first match wins.
 */
import { methodsOf } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';

export type RouteMatch =
  | { readonly kind: 'match'; readonly definition: RouteDefinition; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

const decode = (segment: string) => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

/** A route template as a pattern over the raw path: `{name}` is a named group of one undecoded segment. */
const patternOf = (route: string) =>
  new RegExp(`^/api/${route.replaceAll('.', '\\.').replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}/?$`);

/** `rawPath` is the request target's path as sent (not normalised, not decoded). */
export function matchRoute(routes: readonly RouteDefinition[], method: string, rawPath: string): RouteMatch {
  const matching = routes.filter((r) => patternOf(r.operation.route).test(rawPath));
  // HEAD is served by the GET route (the handler wrapper drops the content), as the Functions host
  // does for routes registered with both methods.
  const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const hit = matching.find((r) => r.operation.method === wanted);
  if (hit) {
    const groups = Object.entries(patternOf(hit.operation.route).exec(rawPath)?.groups ?? {});
    const params = Object.fromEntries(groups.map(([name, value]) => [name, decode(value)]));
    return { kind: 'match', definition: hit, params };
  }
  if (matching.length === 0) return { kind: 'not-found' };
  return {
    kind: 'method-not-allowed',
    allow: [...new Set(matching.flatMap((r) => methodsOf(r.operation.method)))],
  };
}
