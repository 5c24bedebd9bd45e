/**
 * What the Functions host checks once, when it starts the app (functions/app-start.ts): every setting
 * (loadConfig), and that app roles are only enforced behind App Service Authentication. One ConfigError
 * lists every problem, so a bad deployment shows one clear error at start instead of a 500 per request.
 */
import { appServiceAuthenticationEnabled } from './auth.js';
import type { Config } from './config.js';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

/** The problem when roles are on and nothing strips a forged `x-ms-client-principal`. */
export const ROLES_WITHOUT_AUTHENTICATION =
  'AUTH_ROLES_ENABLED: roles are enforced from x-ms-client-principal, but App Service Authentication is not enabled ' +
  '(WEBSITE_AUTH_ENABLED is not True), so any caller could forge that header: enable Authentication with ' +
  'Entra ID (infra does when AUTH_ROLES_ENABLED=true and AUTH_CLIENT_ID is set) or turn roles off';

/** The validated configuration of an app the Functions host starts; ConfigError listing every problem. */
export function checkFunctionsStartup(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (e: unknown) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  const rolesOn = config
    ? config.AUTH_ROLES_ENABLED
    : ['true', '1', 'yes'].includes((env['AUTH_ROLES_ENABLED'] ?? '').trim());
  if (rolesOn && !appServiceAuthenticationEnabled(env)) problems.push(ROLES_WITHOUT_AUTHENTICATION);
  if (problems.length > 0 || !config) throw new ConfigError(problems);
  return config;
}
