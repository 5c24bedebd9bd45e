import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { InputError, InternalError } from '../../../shared/errors.js';
import { loadConfig } from '../../../shared/config.js';
import type { ApiContext } from '../../../shared/http/route.js';
import { RAW_PATH_METADATA, apiHandler } from '../../../shared/http/route.js';

const { HttpRequest: Request, InvocationContext } = azureFunctions;

function bodyOf(init: { body?: unknown }): Record<string, unknown> {
  return JSON.parse(init.body as string) as Record<string, unknown>;
}

describe('apiHandler', () => {
  const config = loadConfig({ AUTH_ROLES_ENABLED: 'true' });
  const api: ApiContext = {
    config: () => config,
    useCases: {} as ApiContext['useCases'],
    deps: () => Promise.reject(new InternalError('no deps in this test')),
  };

  it('turns a thrown error into a problem and logs it without secret material', async () => {
    // GIVEN a route that fails with a key in its message
    const logged: string[] = [];
    const context = new InvocationContext({
      invocationId: 'inv-1',
      logHandler: (_level, ...args) => logged.push(args.map(String).join(' ')),
    });
    const handler = apiHandler(api, {}, () =>
      Promise.reject(new InternalError('boom -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----')),
    );
    // WHEN
    const response = await handler(new Request({ method: 'GET', url: 'http://h/api/x' }), context);
    // THEN
    expect(response.status).toBe(500);
    expect(bodyOf(response).requestId).toBe('inv-1');
    expect(logged.join('\n')).toContain('[redacted PEM]');
    expect(logged.join('\n')).not.toContain('MIIE');
  });

  it('refuses with 401 before running the route when roles are on and no principal is sent', async () => {
    let ran = false;
    const handler = apiHandler(api, { role: 'Reader' }, () => {
      ran = true;
      return Promise.resolve({ status: 200 });
    });
    const response = await handler(
      new Request({ method: 'GET', url: 'http://h/api/x' }),
      new InvocationContext(),
    );
    expect(response.status).toBe(401);
    expect(ran).toBe(false);
  });
});

describe('apiHandler on HEAD and raw paths', () => {
  const api: ApiContext = {
    config: () => loadConfig({}),
    useCases: {} as ApiContext['useCases'],
    deps: () => Promise.reject(new InternalError('no deps in this test')),
  };

  it('answers HEAD with the GET status and headers and no content', async () => {
    const handler = apiHandler(api, {}, () =>
      Promise.resolve({ status: 200, jsonBody: { a: 1 }, headers: { 'content-type': 'application/json' } }),
    );
    const response = await handler(
      new Request({ method: 'HEAD', url: 'http://h/api/gateways' }),
      new InvocationContext(),
    );
    expect(response).toStrictEqual({ status: 200, headers: { 'content-type': 'application/json' } });
  });

  it('names the path as sent in a problem instance, not its dot-segment resolution', async () => {
    const handler = apiHandler(api, {}, () => Promise.reject(new InputError('bad name')));
    const response = await handler(
      new Request({ method: 'GET', url: 'http://h/api/gateways/g1/clients/%2e%2e/profile' }),
      new InvocationContext({
        triggerMetadata: { [RAW_PATH_METADATA]: '/api/gateways/g1/clients/%2e%2e/profile' },
      }),
    );
    expect(bodyOf(response).instance).toBe('/api/gateways/g1/clients/%2e%2e/profile');
  });
});
