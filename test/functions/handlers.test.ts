import azureFunctions from '@azure/functions';
import type { HttpResponseInit } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { ALL_ROUTES } from '../../functions/routes.js';
import { crlPemToDer } from '../../functions/crl.js';
import { ConflictError, NotFoundError, UpstreamError } from '../../shared/errors.js';
import { API } from '../../shared/api/routes.js';
import type { ApiOperationId } from '../../shared/api/routes.js';
import type { UseCaseCall, UseCaseName } from '../fakes/fake-use-cases.js';
import { FixedOperations, fakeApiContext, scriptedUseCases } from '../fakes/fake-use-cases.js';

const { HttpRequest, InvocationContext } = azureFunctions;

const GATEWAY = { name: 'g1', status: { phase: 'Ready' } };
const CLIENT = { gateway: 'g1', name: 'c1', ip: '10.140.0.10', status: 'active' };
const CRL_PEM = '-----BEGIN X509 CRL-----\nMAMCAQE=\n-----END X509 CRL-----\n';

interface Call {
  readonly operationId: ApiOperationId;
  readonly params?: Record<string, string>;
  readonly query?: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

async function invoke(
  call: Call,
  answers: Partial<Record<UseCaseName, unknown>>,
  env: NodeJS.ProcessEnv = {},
): Promise<{ response: HttpResponseInit; calls: UseCaseCall[] }> {
  const calls: UseCaseCall[] = [];
  const api = fakeApiContext({
    useCases: scriptedUseCases(answers, calls),
    env,
    operations: new FixedOperations([
      {
        id: 'op-1',
        status: 'Running',
        kind: 'roll',
        gateway: 'g1',
        createdAt: '2026-01-01T00:00:00.000Z',
        lastUpdatedAt: '2026-01-01T00:00:01.000Z',
      },
    ]),
  });
  const route = ALL_ROUTES.find((r) => r.operation.operationId === call.operationId);
  if (!route) throw new Error(`no route ${call.operationId}`);
  const names = [...route.operation.route.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
  // Like the host: only the parameters of the route template.
  const params = Object.fromEntries(names.map((n) => [n, call.params?.[n] ?? '']));
  const path = route.operation.route.replace(/\{(\w+)\}/g, (_m, p: string) => params[p] ?? '');
  const request = new HttpRequest({
    method: route.operation.method,
    url: `http://localhost:7071/api/${path}${call.query ?? ''}`,
    params,
    headers: { ...(call.body !== undefined ? { 'content-type': 'application/json' } : {}), ...call.headers },
    ...(call.body !== undefined ? { body: { string: JSON.stringify(call.body) } } : {}),
  });
  const response = await route.makeHandler(api)(
    request,
    new InvocationContext({ invocationId: 'inv-1', logHandler: () => undefined }),
  );
  return { response, calls };
}

const headersOf = (r: HttpResponseInit) => r.headers as Record<string, string>;

describe('route handlers', () => {
  it('PUT /gateways/{gateway} answers 201 with Location and Operation-Location when it creates', async () => {
    // GIVEN a use-case that creates the gateway and starts provisioning
    const answers = { putGateway: { gateway: GATEWAY, created: true, operationId: 'op-1' } };
    // WHEN
    const { response, calls } = await invoke(
      { operationId: 'putGateway', params: { gateway: 'g1' } },
      answers,
    );
    // THEN defaults are applied before the use-case sees the body
    expect(response.status).toBe(201);
    expect(response.jsonBody).toStrictEqual(GATEWAY);
    expect(headersOf(response).location).toBe('http://localhost:7071/api/gateways/g1');
    expect(headersOf(response)['operation-location']).toBe('http://localhost:7071/api/operations/op-1');
    expect(calls).toStrictEqual([
      {
        name: 'putGateway',
        args: [
          'g1',
          {
            vpnSubnet: '10.140.0.0/24',
            port: 443,
            loadBalancer: { internal: false, sourceRanges: [] },
            clientCertValidityDays: 365,
            keyType: 'rsa',
          },
        ],
      },
    ]);
  });

  it('PUT /gateways/{gateway} answers 200 without Operation-Location for an unchanged spec', async () => {
    const { response } = await invoke(
      { operationId: 'putGateway', params: { gateway: 'g1' }, body: { port: 443 } },
      { putGateway: { gateway: GATEWAY, created: false } },
    );
    expect(response.status).toBe(200);
    expect(headersOf(response)['operation-location']).toBeUndefined();
    expect(headersOf(response).location).toBeUndefined();
  });

  it('GET /gateways wraps the list in value', async () => {
    const { response } = await invoke({ operationId: 'listGateways' }, { listGateways: [GATEWAY] });
    expect([response.status, response.jsonBody]).toStrictEqual([200, { value: [GATEWAY] }]);
  });

  it.each<[ApiOperationId, UseCaseName, string]>([
    ['deleteGateway', 'deleteGateway', 'op-d'],
    ['restartGateway', 'restartGateway', 'op-r'],
  ])('%s answers 202 with Operation-Location', async (operationId, useCase, id) => {
    const { response, calls } = await invoke(
      { operationId, params: { gateway: 'g1' } },
      { [useCase]: { operationId: id } },
    );
    expect(response.status).toBe(202);
    expect(response.jsonBody).toStrictEqual({ operationId: id });
    expect(headersOf(response)['operation-location']).toBe(`http://localhost:7071/api/operations/${id}`);
    expect(calls).toStrictEqual([{ name: useCase, args: ['g1'] }]);
  });

  it('POST /clients answers 201 with the client and its Location', async () => {
    const { response, calls } = await invoke(
      {
        operationId: 'issueClient',
        params: { gateway: 'g1' },
        body: { name: 'c1', staticIp: '10.140.0.10' },
      },
      { issueClient: CLIENT },
    );
    expect(response.status).toBe(201);
    expect(response.jsonBody).toStrictEqual(CLIENT);
    expect(headersOf(response).location).toBe('http://localhost:7071/api/gateways/g1/clients/c1');
    expect(calls).toStrictEqual([
      { name: 'issueClient', args: ['g1', { name: 'c1', staticIp: '10.140.0.10' }] },
    ]);
  });

  it('GET /clients/{client}/profile answers the .ovpn, never cached', async () => {
    const { response } = await invoke(
      { operationId: 'getClientProfile', params: { gateway: 'g1', client: 'c1' } },
      { getClientProfile: 'client\ndev tun\n' },
    );
    expect(response.status).toBe(200);
    expect(response.body).toBe('client\ndev tun\n');
    expect(headersOf(response)).toStrictEqual({
      'content-type': 'application/x-openvpn-profile',
      'content-disposition': 'attachment; filename="g1-c1.ovpn"',
      'cache-control': 'no-store',
    });
  });

  it.each([
    ['', false],
    ['?force=false', false],
    ['?force=true', true],
  ])('DELETE /clients/{client}%s revokes with force=%s', async (query, force) => {
    const { response, calls } = await invoke(
      { operationId: 'revokeClient', params: { gateway: 'g1', client: 'c1' }, query },
      { revokeClient: { ...CLIENT, status: 'revoked' } },
    );
    expect(response.status).toBe(200);
    expect(calls).toStrictEqual([{ name: 'revokeClient', args: ['g1', 'c1', { force }] }]);
  });

  it('DELETE /clients/{client}?force=true reports the roll that removes the mappings', async () => {
    const { response } = await invoke(
      { operationId: 'revokeClient', params: { gateway: 'g1', client: 'c1' }, query: '?force=true' },
      { revokeClient: { ...CLIENT, status: 'revoked', operationId: 'op-pm' } },
    );
    expect(response.jsonBody).toStrictEqual({ ...CLIENT, status: 'revoked' });
    expect(headersOf(response)['operation-location']).toBe('http://localhost:7071/api/operations/op-pm');
  });

  it('GET /crl answers DER as application/pkix-crl', async () => {
    const { response } = await invoke(
      { operationId: 'getCrl', params: { gateway: 'g1' } },
      { getCrl: CRL_PEM },
    );
    expect(response.status).toBe(200);
    expect(headersOf(response)['content-type']).toBe('application/pkix-crl');
    expect(Buffer.from(response.body as Uint8Array).toString('base64')).toBe('MAMCAQE=');
  });

  it('GET /crl answers the PEM when asked for application/x-pem-file', async () => {
    const { response } = await invoke(
      { operationId: 'getCrl', params: { gateway: 'g1' }, headers: { accept: 'application/x-pem-file' } },
      { getCrl: CRL_PEM },
    );
    expect([response.body, headersOf(response)['content-type']]).toStrictEqual([
      CRL_PEM,
      'application/x-pem-file',
    ]);
  });

  it('PUT /port-mappings answers 202 and passes the mappings with protocol defaults', async () => {
    const mappings = [{ port: 8081, client: 'c1', targetPort: 80, protocol: 'tcp' }];
    const { response, calls } = await invoke(
      {
        operationId: 'putPortMappings',
        params: { gateway: 'g1' },
        body: { mappings: [{ port: 8081, client: 'c1', targetPort: 80 }] },
      },
      { replacePortMappings: { mappings, operationId: 'op-1' } },
    );
    expect(response.status).toBe(202);
    expect(headersOf(response)['operation-location']).toBe('http://localhost:7071/api/operations/op-1');
    expect(calls).toStrictEqual([{ name: 'replacePortMappings', args: ['g1', mappings] }]);
  });

  it('GET /operations/{id} answers the operation, 404 for an unknown id', async () => {
    const running = {
      id: 'op-1',
      kind: 'roll',
      gateway: 'g1',
      status: 'Running',
      createdAt: '',
      lastUpdatedAt: '',
    };
    const known = await invoke(
      { operationId: 'getOperation', params: { id: 'op-1' } },
      { getOperation: running },
    );
    const unknown = await invoke(
      { operationId: 'getOperation', params: { id: 'op-2' } },
      { getOperation: new NotFoundError("operation 'op-2' does not exist") },
    );
    expect(known.calls).toStrictEqual([{ name: 'getOperation', args: ['op-1'] }]);
    expect([known.response.status, (known.response.jsonBody as { status: string }).status]).toStrictEqual([
      200,
      'Running',
    ]);
    expect(unknown.response.status).toBe(404);
  });

  it.each<[string, Error, number]>([
    ['NotFoundError', new NotFoundError("gateway 'g1' does not exist"), 404],
    ['ConflictError', new ConflictError('taken'), 409],
    ['transient UpstreamError', new UpstreamError('kube 503', { transient: true }), 503],
    ['a plain Error', new Error('bug'), 500],
  ])('maps a use-case %s to %s problem+json', async (_name, error, status) => {
    const { response } = await invoke(
      { operationId: 'getGateway', params: { gateway: 'g1' } },
      { getGateway: error },
    );
    expect(response.status).toBe(status);
    expect(headersOf(response)['content-type']).toBe('application/problem+json');
  });

  it('never calls the use-case when the input is invalid', async () => {
    const { response, calls } = await invoke(
      { operationId: 'issueClient', params: { gateway: 'G1' }, body: { name: 'c1', extra: 1 } },
      { issueClient: CLIENT },
    );
    expect(response.status).toBe(400);
    expect((JSON.parse(response.body as string) as { errors: unknown }).errors).toStrictEqual([
      {
        path: '{gateway}',
        message:
          'must be a DNS label: 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit',
      },
    ]);
    expect(calls).toStrictEqual([]);
  });
});

describe('roles (AUTH_ROLES_ENABLED=true)', () => {
  const env = { AUTH_ROLES_ENABLED: 'true' };
  const principal = (roles: string[]) =>
    Buffer.from(
      JSON.stringify({
        auth_typ: 'aad',
        role_typ: 'roles',
        claims: roles.map((val) => ({ typ: 'roles', val })),
      }),
    ).toString('base64');

  it.each<[ApiOperationId, string[], number]>([
    ['getGateway', [], 401],
    ['getGateway', ['Reader'], 200],
    ['putGateway', ['Reader'], 403],
    ['putGateway', ['Gateways.Admin'], 200],
    ['issueClient', ['Gateways.Admin'], 403],
    ['issueClient', ['Clients.Issue'], 201],
    ['getClientProfile', ['Reader'], 403],
    ['getClientProfile', ['Clients.Issue'], 200],
    ['putPortMappings', ['Clients.Issue'], 403],
  ])('%s with roles %j answers %s', async (operationId, roles, status) => {
    const { response } = await invoke(
      {
        operationId,
        params: { gateway: 'g1', client: 'c1' },
        headers: roles.length ? { 'x-ms-client-principal': principal(roles) } : {},
        ...(operationId === 'issueClient' ? { body: { name: 'c1' } } : {}),
        ...(operationId === 'putPortMappings' ? { body: { mappings: [] } } : {}),
      },
      {
        getGateway: GATEWAY,
        putGateway: { gateway: GATEWAY, created: false },
        issueClient: CLIENT,
        getClientProfile: 'client\n',
      },
      env,
    );
    expect(response.status).toBe(status);
  });

  it('marks every route but healthz and enroll (its credential is the enrollment token) as function-key protected', () => {
    expect(
      Object.values(API)
        .filter((o) => o.authLevel === 'anonymous')
        .map((o) => o.operationId),
    ).toStrictEqual(['healthz', 'enroll']);
  });
});

describe('crlPemToDer', () => {
  it('decodes the base64 between the PEM lines', () => {
    expect([...crlPemToDer(CRL_PEM)]).toStrictEqual([0x30, 0x03, 0x02, 0x01, 0x01]);
  });
});
