/**
 * Matches raw request paths against the API table's route templates (`gateways/{gateway}/clients`),
 * the way the Functions host does, for the sandbox host. Segments are matched before percent-decoding,
 * so `a%2Fb` stays one segment and reaches the handler's name validation (400) instead of another route.
 */
import { methodsOf } from '../shared/api/routes.js';
import type { RouteDefinition } from '../shared/http/route.js';

export const ROUTE_PREFIX = '/api/';

interface CompiledRoute {
  readonly definition: RouteDefinition;
  readonly segments: readonly ({ literal: string } | { param: string })[];
}

export type RouteMatch =
  | { readonly kind: 'match'; readonly definition: RouteDefinition; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: readonly string[] }
  | { readonly kind: 'not-found' };

export class Router {
  readonly #routes: readonly CompiledRoute[];

  constructor(definitions: readonly RouteDefinition[]) {
    this.#routes = definitions.map((definition) => ({
      definition,
      segments: definition.operation.route.split('/').map((s) => {
        const m = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(s);
        return m?.[1] ? { param: m[1] } : { literal: s };
      }),
    }));
  }

  /** `rawPath` is the request target's path as sent (not normalised, not decoded). */
  match(method: string, rawPath: string): RouteMatch {
    if (!rawPath.startsWith(ROUTE_PREFIX)) return { kind: 'not-found' };
    const parts = rawPath.slice(ROUTE_PREFIX.length).split('/');
    if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
    const candidates: { definition: RouteDefinition; params: Record<string, string>; literals: number }[] =
      [];
    for (const route of this.#routes) {
      if (route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let literals = 0;
      const ok = route.segments.every((segment, i) => {
        const part = parts[i] ?? '';
        if ('literal' in segment) {
          literals += 1;
          return segment.literal === part;
        }
        try {
          params[segment.param] = decodeURIComponent(part);
        } catch {
          params[segment.param] = part;
        }
        return true;
      });
      if (ok) candidates.push({ definition: route.definition, params, literals });
    }
    if (candidates.length === 0) return { kind: 'not-found' };
    const best = Math.max(...candidates.map((c) => c.literals));
    const matching = candidates.filter((c) => c.literals === best);
    // HEAD is served by the GET route (the handler wrapper drops the content), as the Functions host
    // does for routes registered with both methods.
    const wanted = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
    const hit = matching.find((c) => c.definition.operation.method === wanted);
    if (hit) return { kind: 'match', definition: hit.definition, params: hit.params };
    return {
      kind: 'method-not-allowed',
      allow: [...new Set(matching.flatMap((c) => methodsOf(c.definition.operation.method)))],
    };
  }
}
