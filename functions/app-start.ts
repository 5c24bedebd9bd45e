// The Functions host's app-start hook (registered by index.ts): the configuration is checked when the host
// starts the app, not on the first request, so a bad setting (or roles without App Service Authentication)
// is one clear error in the log at start, and the app serves nothing.
import type { Config } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { checkFunctionsStartup } from '../shared/startup.js';

/** Checks the app's settings; logs one error line listing every problem and throws when there is any. */
export function startApp(env: NodeJS.ProcessEnv, log: (line: string) => void = console.error): Config {
  try {
    return checkFunctionsStartup(env);
  } catch (e: unknown) {
    if (e instanceof ConfigError)
      log(
        JSON.stringify({
          message: 'aks-vpn-gateways cannot start: invalid configuration',
          problems: e.problems,
        }),
      );
    throw e;
  }
}
