import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../../shared/errors.js';
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
} from '../../../shared/errors.js';
import { problemResponse } from '../../../shared/http/error-status.js';

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
