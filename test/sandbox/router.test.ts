import { describe, expect, it } from 'vitest';
import { ALL_ROUTES } from '../../functions/routes.js';
import { API } from '../../shared/api/routes.js';
import { matchRoute } from '../../sandbox/router.js';

const routes = Object.values(API).map((operation) => ({
  operation,
  makeHandler: () => () => Promise.resolve({}),
}));
const router = { match: (method: string, path: string) => matchRoute(routes, method, path) };

describe('matchRoute', () => {
  it.each([
    ['GET', '/api/healthz', 'healthz', {}],
    ['GET', '/api/gateways', 'listGateways', {}],
    ['PUT', '/api/gateways/g1', 'putGateway', { gateway: 'g1' }],
    ['GET', '/api/gateways/g1/', 'getGateway', { gateway: 'g1' }],
    ['POST', '/api/gateways/g1/clients', 'issueClient', { gateway: 'g1' }],
    ['GET', '/api/gateways/g1/clients/c1/profile', 'getClientProfile', { gateway: 'g1', client: 'c1' }],
    ['DELETE', '/api/gateways/g1/clients/c1', 'revokeClient', { gateway: 'g1', client: 'c1' }],
    ['GET', '/api/gateways/g1/crl', 'getCrl', { gateway: 'g1' }],
    ['PUT', '/api/gateways/g1/port-mappings', 'putPortMappings', { gateway: 'g1' }],
    ['POST', '/api/gateways/g1/restart', 'restartGateway', { gateway: 'g1' }],
    ['GET', '/api/operations/op-1', 'getOperation', { id: 'op-1' }],
    ['GET', '/api/gateways/a%2Fb', 'getGateway', { gateway: 'a/b' }],
    ['GET', '/api/gateways/..', 'getGateway', { gateway: '..' }],
    ['GET', '/api/gateways/a%0Ab', 'getGateway', { gateway: 'a\nb' }],
  ])('routes %s %s to %s', (method, path, operationId, params) => {
    const match = router.match(method, path);
    expect(
      match.kind === 'match' ? [match.definition.operation.operationId, match.params] : match,
    ).toStrictEqual([operationId, params]);
  });

  it('answers method-not-allowed with the allowed methods', () => {
    expect(router.match('PATCH', '/api/gateways/g1')).toStrictEqual({
      kind: 'method-not-allowed',
      allow: ['PUT', 'GET', 'HEAD', 'DELETE'],
    });
  });

  it('serves HEAD with the GET route and refuses HEAD where there is no GET', () => {
    const head = router.match('HEAD', '/api/gateways');
    expect(head.kind === 'match' ? head.definition.operation.operationId : head).toBe('listGateways');
    expect(router.match('HEAD', '/api/gateways/g1/restart')).toStrictEqual({
      kind: 'method-not-allowed',
      allow: ['POST'],
    });
  });

  it.each(['/api', '/api/nope', '/api/gateways/a/b', '/other/healthz'])('finds no route for %s', (path) => {
    expect(router.match('GET', path)).toStrictEqual({ kind: 'not-found' });
  });

  it('serves every registered route exactly once per method and template', () => {
    const keys = ALL_ROUTES.map((r) => `${r.operation.method} ${r.operation.route}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
