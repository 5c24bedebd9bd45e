import azureFunctions from '@azure/functions';
import type { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DomainError } from '../../shared/errors.js';
import {
  ConfigError,
  ConflictError,
  ForbiddenError,
  InputError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
  UpstreamError,
} from '../../shared/errors.js';
import type { ApiContext } from '../../shared/http.js';
import {
  MAX_BODY_BYTES,
  RAW_PATH_METADATA,
  apiHandler,
  parseInput,
  problemResponse,
  queryObject,
  readJsonBody,
  redactSecrets,
} from '../../shared/http.js';
import { loadConfig } from '../../shared/config.js';

const { HttpRequest: Request, InvocationContext } = azureFunctions;

function put(body: string | Uint8Array | undefined, headers: Record<string, string> = {}): HttpRequest {
  return new Request({
    method: 'PUT',
    url: 'http://localhost/api/gateways/g1',
    headers,
    ...(body === undefined
      ? {}
      : typeof body === 'string'
        ? { body: { string: body } }
        : { body: { bytes: body } }),
  });
}

function bodyOf(init: { body?: unknown }): Record<string, unknown> {
  return JSON.parse(init.body as string) as Record<string, unknown>;
}

describe('the status table', () => {
  describe.each<[string, DomainError, number, string]>([
    ['InputError', new InputError('bad', [{ path: '/port', message: 'too big' }]), 400, 'invalid-input'],
    ['UnauthenticatedError', new UnauthenticatedError('who'), 401, 'unauthenticated'],
    ['ForbiddenError', new ForbiddenError('no'), 403, 'forbidden'],
    ['NotFoundError', new NotFoundError('gone'), 404, 'not-found'],
    ['ConflictError', new ConflictError('taken'), 409, 'conflict'],
    ['PayloadTooLargeError', new PayloadTooLargeError('big'), 413, 'payload-too-large'],
    ['UnsupportedMediaTypeError', new UnsupportedMediaTypeError('xml'), 415, 'unsupported-media-type'],
    [
      'UpstreamError (permanent)',
      new UpstreamError('kube said 500 at https://10.0.0.1'),
      502,
      'upstream-failure',
    ],
    [
      'UpstreamError (transient)',
      new UpstreamError('throttled', { transient: true }),
      503,
      'upstream-failure',
    ],
    ['InternalError', new InternalError('bug at /srv/x'), 500, 'internal'],
    ['ConfigError', new ConfigError(['KEY_VAULT_URL: required']), 500, 'internal'],
  ])('%s', (_name, error, status, code) => {
    it(`maps to ${status} with a problem+json body`, () => {
      // WHEN
      const response = problemResponse(error, { instance: '/api/x', requestId: 'r-1' });
      // THEN
      const problem = bodyOf(response);
      expect(response.status).toBe(status);
      expect((response.headers as Record<string, string>)['content-type']).toBe('application/problem+json');
      expect(problem.type).toBe(`urn:aks-vpn-gateways:problem:${code}`);
      expect(problem.status).toBe(status);
      expect(problem.instance).toBe('/api/x');
      expect(problem.requestId).toBe('r-1');
      if (status >= 500) expect(problem.detail).not.toContain(error.message);
      else expect(problem.detail).toBe(error.message);
    });
  });

  it('lists field problems of an InputError in errors[]', () => {
    const problem = bodyOf(problemResponse(new InputError('bad', [{ path: '/port', message: 'too big' }])));
    expect(problem.errors).toStrictEqual([{ path: '/port', message: 'too big' }]);
  });

  it('sends Retry-After for transient upstream failures, the upstream value when given', () => {
    const given = problemResponse(new UpstreamError('x', { transient: true, retryAfterSeconds: 17 }));
    const defaulted = problemResponse(new UpstreamError('x', { transient: true }));
    const permanent = problemResponse(new UpstreamError('x'));
    expect((given.headers as Record<string, string>)['retry-after']).toBe('17');
    expect((defaulted.headers as Record<string, string>)['retry-after']).toBe('5');
    expect((permanent.headers as Record<string, string>)['retry-after']).toBeUndefined();
  });

  it('treats thrown non-errors as 500 without leaking them', () => {
    const response = problemResponse('secret string');
    expect(response.status).toBe(500);
    expect(response.body as string).not.toContain('secret string');
  });
});

describe('readJsonBody', () => {
  it('parses a JSON body', async () => {
    await expect(
      readJsonBody(put('{"port":443}', { 'content-type': 'application/json' })),
    ).resolves.toStrictEqual({
      port: 443,
    });
  });

  it('accepts application/json with charset utf-8', async () => {
    await expect(
      readJsonBody(put('{}', { 'content-type': 'application/json; charset=UTF-8' })),
    ).resolves.toStrictEqual({});
  });

  it('returns undefined for an absent body, with or without a content type', async () => {
    await expect(readJsonBody(put(undefined))).resolves.toBeUndefined();
    await expect(
      readJsonBody(put(undefined, { 'content-type': 'application/json' })),
    ).resolves.toBeUndefined();
  });

  it.each([
    ['text/plain', '{}'],
    ['application/x-www-form-urlencoded', 'a=b'],
    ['application/json; charset=latin1', '{}'],
    // A merge patch or JSON patch has semantics of its own: applying it as a full replacement is wrong.
    ['application/merge-patch+json', '{"port":444}'],
    ['application/json-patch+json', '[]'],
  ])('rejects content type %s with 415', async (type, body) => {
    await expect(readJsonBody(put(body, { 'content-type': type }))).rejects.toBeInstanceOf(
      UnsupportedMediaTypeError,
    );
  });

  it('rejects a body without a content type with 415', async () => {
    await expect(readJsonBody(put('{}'))).rejects.toBeInstanceOf(UnsupportedMediaTypeError);
  });

  it.each(['{', '{"a":}', 'nul', "{'a':1}"])('rejects malformed JSON %j with 400', async (text) => {
    const error = await readJsonBody(put(text, { 'content-type': 'application/json' })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems[0]?.path).toBe('');
  });

  it('rejects invalid UTF-8 with 400', async () => {
    const error = await readJsonBody(
      put(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]), { 'content-type': 'application/json' }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
  });

  it('rejects a declared Content-Length over the limit before reading', async () => {
    const request = put('{}', {
      'content-type': 'application/json',
      'content-length': String(MAX_BODY_BYTES + 1),
    });
    await expect(readJsonBody(request)).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(request.bodyUsed).toBe(false);
  });

  it('stops reading a streamed body at the limit', async () => {
    const big = `{"a":"${'x'.repeat(MAX_BODY_BYTES)}"}`;
    await expect(readJsonBody(put(big, { 'content-type': 'application/json' }))).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    );
  });

  it('accepts a body of exactly the limit', async () => {
    const exact = `"${'x'.repeat(MAX_BODY_BYTES - 2)}"`;
    await expect(readJsonBody(put(exact, { 'content-type': 'application/json' }))).resolves.toHaveLength(
      MAX_BODY_BYTES - 2,
    );
  });
});

describe('parseInput', () => {
  const schema = z.strictObject({ name: z.string(), lb: z.strictObject({ ranges: z.array(z.string()) }) });

  it('reports every problem as a JSON pointer, one per unknown field', () => {
    const error = (() => {
      try {
        parseInput(schema, { name: 1, lb: { ranges: ['ok', 2], extra: true }, 'a/b': 1 }, 'body');
      } catch (e: unknown) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).problems.map((p) => p.path).sort()).toStrictEqual(
      ['/a~1b', '/lb/extra', '/lb/ranges/1', '/name'].sort(),
    );
  });

  it('writes route parameters as {name} and query parameters as ?name', () => {
    const pathError = (() => {
      try {
        parseInput(z.object({ gateway: z.string().max(3) }), { gateway: 'long' }, 'path');
      } catch (e: unknown) {
        return e as InputError;
      }
      return undefined;
    })();
    expect(pathError?.problems[0]?.path).toBe('{gateway}');
  });
});

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

describe('queryObject', () => {
  it('returns each parameter once', () => {
    const request = new Request({ method: 'DELETE', url: 'http://h/api/x?force=true&a=1' });
    expect(queryObject(request)).toStrictEqual({ force: 'true', a: '1' });
  });

  it('rejects a repeated parameter instead of letting the last value win', () => {
    const request = new Request({ method: 'DELETE', url: 'http://h/api/x?force=false&force=true' });
    expect(() => queryObject(request)).toThrow(InputError);
    try {
      queryObject(request);
    } catch (e: unknown) {
      expect((e as InputError).problems).toStrictEqual([{ path: '?force', message: 'given more than once' }]);
    }
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

describe('redactSecrets', () => {
  it('removes PEM blocks and inline profile keys', () => {
    expect(
      redactSecrets('a -----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE----- b <key>\nKKK\n</key> c'),
    ).toBe('a [redacted PEM] b [redacted key] c');
  });
});
