/**
 * The audit trail through the real route wrapper and route table: one structured line per write, with who,
 * what, which gateway and client, and the outcome; none for reads; never a secret.
 */
import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { ALL_ROUTES } from '../../../functions/routes.js';
import { AUDIT_MESSAGE } from '../../../shared/http/audit.js';
import type { ApiOperationId } from '../../../shared/api/routes.js';
import { fakeApiContext, scriptedUseCases } from '../../fakes/fake-use-cases.js';

const { HttpRequest, InvocationContext } = azureFunctions;

const CLIENT = { gateway: 'g1', name: 'site-a', ip: '10.140.0.10', status: 'active' };
const CSR = '-----BEGIN CERTIFICATE REQUEST-----\nMIIBSECRETCSRBYTES\n-----END CERTIFICATE REQUEST-----\n';

function principalHeader(claims: { typ: string; val: string }[]): string {
  return Buffer.from(
    JSON.stringify({ auth_typ: 'aad', name_typ: 'name', role_typ: 'roles', claims }),
  ).toString('base64');
}

/** Runs one route through its real handler; returns the status and every log line it wrote. */
async function call(
  operationId: ApiOperationId,
  params: Record<string, string>,
  options: { body?: unknown; headers?: Record<string, string>; env?: NodeJS.ProcessEnv } = {},
): Promise<{ status: number | undefined; lines: string[] }> {
  const route = ALL_ROUTES.find((r) => r.operation.operationId === operationId);
  if (!route) throw new Error(`no route ${operationId}`);
  const api = fakeApiContext({
    useCases: scriptedUseCases(
      { issueClient: CLIENT, revokeClient: { ...CLIENT, status: 'revoked' }, getClient: CLIENT },
      [],
    ),
    env: options.env ?? {},
  });
  const path = route.operation.route.replace(/\{(\w+)\}/g, (_m, p: string) => params[p] ?? '');
  const lines: string[] = [];
  const response = await route.makeHandler(api)(
    new HttpRequest({
      method: route.operation.method,
      url: `http://localhost:7071/api/${path}`,
      params,
      headers: {
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: { string: JSON.stringify(options.body) } } : {}),
    }),
    new InvocationContext({
      invocationId: 'inv-7',
      logHandler: (_level, ...args: unknown[]) => lines.push(args.map(String).join(' ')),
    }),
  );
  return { status: response.status, lines };
}

const audits = (lines: string[]) =>
  lines
    .filter((l) => l.startsWith(`{"message":"${AUDIT_MESSAGE}"`))
    .map((l) => (JSON.parse(l) as { audit: Record<string, unknown> }).audit);

const ROLES_ON = { AUTH_ROLES_ENABLED: 'true' };

describe('the audit trail', () => {
  it('logs an issue as one event naming the principal, the operation, the gateway, the client and the outcome', async () => {
    const headers = {
      'x-ms-client-principal': principalHeader([
        { typ: 'name', val: 'alice@contoso.com' },
        { typ: 'roles', val: 'Clients.Issue' },
      ]),
    };
    const { status, lines } = await call(
      'issueClient',
      { gateway: 'g1' },
      { body: { name: 'site-a' }, headers, env: ROLES_ON },
    );
    expect(status).toBe(201);
    expect(audits(lines)).toStrictEqual([
      {
        who: 'alice@contoso.com',
        operation: 'issueClient',
        method: 'POST',
        gateway: 'g1',
        client: 'site-a',
        outcome: 'succeeded',
        status: 201,
        invocationId: 'inv-7',
      },
    ]);
  });

  it('logs a write refused for a missing role as refused, and names an app-only caller by its app id', async () => {
    const headers = {
      'x-ms-client-principal': principalHeader([
        { typ: 'appid', val: '0b5e1f6a-1111-2222-3333-444455556666' },
        { typ: 'roles', val: 'Reader' },
      ]),
    };
    const { status, lines } = await call(
      'revokeClient',
      { gateway: 'g1', client: 'site-a' },
      { headers, env: ROLES_ON },
    );
    expect(status).toBe(403);
    expect(audits(lines)).toMatchObject([
      {
        who: 'app 0b5e1f6a-1111-2222-3333-444455556666',
        operation: 'revokeClient',
        client: 'site-a',
        outcome: 'refused',
        status: 403,
      },
    ]);
  });

  it('names the caller "function key" when roles are off, even if a principal header is sent (it could be forged)', async () => {
    const headers = { 'x-ms-client-principal': principalHeader([{ typ: 'name', val: 'mallory' }]) };
    const { lines } = await call('revokeClient', { gateway: 'g1', client: 'site-a' }, { headers });
    expect(audits(lines)).toMatchObject([{ who: 'function key', outcome: 'succeeded', status: 200 }]);
  });

  it('logs no event for a read', async () => {
    const { status, lines } = await call('getClient', { gateway: 'g1', client: 'site-a' });
    expect(status).toBe(200);
    expect(audits(lines)).toStrictEqual([]);
  });

  it('never carries the request body: a CSR sent with an issue is not in any log line', async () => {
    const { lines } = await call('issueClient', { gateway: 'g1' }, { body: { name: 'site-a', csr: CSR } });
    expect(audits(lines)).toHaveLength(1);
    expect(lines.join('\n')).not.toMatch(/BEGIN|SECRETCSRBYTES/);
  });
});
