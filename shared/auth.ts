/**
 * Optional Entra ID app roles, read from App Service Authentication ("Easy Auth"): the platform validates
 * the caller's token and forwards the identity as `x-ms-client-principal` (base64 JSON with `claims[]`).
 * Easy Auth strips that header from incoming requests, so only enable AUTH_ROLES_ENABLED where Easy Auth
 * fronts the app; otherwise a caller could forge it. Function keys (`authLevel: 'function'`) apply either way.
 */
import type { Config } from './config.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';

/** App roles of the API's Entra app registration. */
export const ROLES = ['Gateways.Admin', 'Clients.Issue', 'Reader'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Which held roles satisfy a required role. Writers may also read; `Clients.Issue` alone covers client
 * profiles, because a profile holds the client's private key.
 */
const SATISFIED_BY: Readonly<Record<Role, readonly Role[]>> = {
  Reader: ['Reader', 'Gateways.Admin', 'Clients.Issue'],
  'Gateways.Admin': ['Gateways.Admin'],
  'Clients.Issue': ['Clients.Issue'],
};

export interface Principal {
  readonly name?: string | undefined;
  /** The calling application's client id, for app-only tokens (the `appid` or `azp` claim). */
  readonly appId?: string | undefined;
  readonly roles: readonly string[];
}

interface RawPrincipal {
  readonly role_typ?: unknown;
  readonly name_typ?: unknown;
  readonly claims?: unknown;
  readonly userRoles?: unknown;
  readonly userDetails?: unknown;
}

const ROLE_CLAIM_TYPES = ['roles', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role'];

/** Decodes `x-ms-client-principal`; UnauthenticatedError when absent or not a principal. */
export function parseClientPrincipal(header: string | null): Principal {
  if (!header) throw new UnauthenticatedError('authentication required: no client principal');
  let raw: RawPrincipal;
  try {
    raw = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as RawPrincipal;
  } catch (e: unknown) {
    throw new UnauthenticatedError('authentication required: the client principal is not readable', {
      cause: e,
    });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new UnauthenticatedError('authentication required: the client principal is not readable');
  const roleType = typeof raw.role_typ === 'string' ? raw.role_typ : undefined;
  const nameType = typeof raw.name_typ === 'string' ? raw.name_typ : undefined;
  const claims = Array.isArray(raw.claims)
    ? raw.claims.filter(
        (c): c is { typ: string; val: string } =>
          typeof c === 'object' &&
          c !== null &&
          typeof (c as { typ?: unknown }).typ === 'string' &&
          typeof (c as { val?: unknown }).val === 'string',
      )
    : [];
  const roles = claims
    .filter((c) => c.typ === roleType || ROLE_CLAIM_TYPES.includes(c.typ))
    .map((c) => c.val);
  if (Array.isArray(raw.userRoles))
    roles.push(...raw.userRoles.filter((r): r is string => typeof r === 'string'));
  const name =
    claims.find((c) => c.typ === nameType)?.val ??
    (typeof raw.userDetails === 'string' ? raw.userDetails : undefined);
  const appId = claims.find((c) => c.typ === 'appid' || c.typ === 'azp')?.val;
  return { ...(name ? { name } : {}), ...(appId ? { appId } : {}), roles: [...new Set(roles)] };
}

/**
 * App Service Authentication's own signal that it fronts the app: the platform injects the read-only
 * `WEBSITE_AUTH_ENABLED` (value `True`) into the app's environment when Authentication is on ("Environment
 * variables and app settings in Azure App Service", learn.microsoft.com/azure/app-service/reference-app-settings;
 * Microsoft.Identity.Web's AppServicesAuthenticationInformation reads it the same way). Without it nothing
 * strips a forged `x-ms-client-principal`, so AUTH_ROLES_ENABLED must not be trusted.
 */
export function appServiceAuthenticationEnabled(env: NodeJS.ProcessEnv): boolean {
  return (env['WEBSITE_AUTH_ENABLED'] ?? '').trim().toLowerCase() === 'true';
}

/**
 * The route's role check. Undefined when roles are disabled or the route needs none; otherwise the
 * principal, or 401 (no/unreadable principal) / 403 (role missing).
 */
export function authorize(config: Config, headers: Headers, role: Role | undefined): Principal | undefined {
  if (!config.AUTH_ROLES_ENABLED || role === undefined) return undefined;
  const principal = parseClientPrincipal(headers.get('x-ms-client-principal'));
  if (!SATISFIED_BY[role].some((r) => principal.roles.includes(r)))
    throw new ForbiddenError(`this operation requires the app role '${role}'`);
  return principal;
}
