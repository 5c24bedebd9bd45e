import { describe, expect, it } from 'vitest';
import type { Role } from '../../shared/auth.js';
import { authorize, parseClientPrincipal } from '../../shared/auth.js';
import { loadConfig } from '../../shared/config.js';
import { ForbiddenError, UnauthenticatedError } from '../../shared/errors.js';

const ROLE_TYPE = 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role';

/** The header App Service Authentication forwards for an Entra caller. */
function principalHeader(roles: readonly string[], roleType = ROLE_TYPE): string {
  const principal = {
    auth_typ: 'aad',
    name_typ: 'name',
    role_typ: roleType,
    claims: [{ typ: 'name', val: 'ops@example.com' }, ...roles.map((r) => ({ typ: roleType, val: r }))],
  };
  return Buffer.from(JSON.stringify(principal)).toString('base64');
}

const enabled = loadConfig({ AUTH_ROLES_ENABLED: 'true' });
const disabled = loadConfig({});

describe('parseClientPrincipal', () => {
  it('reads the roles and the name of an App Service principal', () => {
    expect(parseClientPrincipal(principalHeader(['Reader', 'Clients.Issue']))).toStrictEqual({
      name: 'ops@example.com',
      roles: ['Reader', 'Clients.Issue'],
    });
  });

  it('reads roles under the short "roles" claim type', () => {
    expect(parseClientPrincipal(principalHeader(['Gateways.Admin'], 'roles')).roles).toStrictEqual([
      'Gateways.Admin',
    ]);
  });

  it.each([
    ['absent', null],
    ['not base64 JSON', '%%%'],
    ['a JSON array', Buffer.from('[1]').toString('base64')],
  ])('rejects a principal that is %s', (_what, header) => {
    expect(() => parseClientPrincipal(header)).toThrow(UnauthenticatedError);
  });
});

describe('authorize', () => {
  it('checks nothing when roles are disabled', () => {
    expect(authorize(disabled, new Headers(), 'Gateways.Admin')).toBeUndefined();
  });

  it('checks nothing for a route without a role', () => {
    expect(authorize(enabled, new Headers(), undefined)).toBeUndefined();
  });

  describe.each<[Role, readonly string[], 'ok' | 403]>([
    ['Reader', ['Reader'], 'ok'],
    ['Reader', ['Gateways.Admin'], 'ok'],
    ['Reader', ['Clients.Issue'], 'ok'],
    ['Reader', ['Something.Else'], 403],
    ['Gateways.Admin', ['Gateways.Admin'], 'ok'],
    ['Gateways.Admin', ['Reader', 'Clients.Issue'], 403],
    ['Clients.Issue', ['Clients.Issue'], 'ok'],
    ['Clients.Issue', ['Gateways.Admin', 'Reader'], 403],
  ])('route needs %s, caller holds %j', (role, held, expected) => {
    it(expected === 'ok' ? 'allows' : 'refuses with 403', () => {
      const headers = new Headers({ 'x-ms-client-principal': principalHeader(held) });
      if (expected === 'ok') expect(authorize(enabled, headers, role)?.roles).toStrictEqual([...held]);
      else expect(() => authorize(enabled, headers, role)).toThrow(ForbiddenError);
    });
  });

  it('refuses with 401 when roles are enabled and no principal is sent', () => {
    expect(() => authorize(enabled, new Headers(), 'Reader')).toThrow(UnauthenticatedError);
  });
});
