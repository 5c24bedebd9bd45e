import { describe, expect, it } from 'vitest';
import { CRL_TIMER } from '../../functions/crl-timer.js';
import { API } from '../../shared/api/routes.js';
import { ACTIVITY, ORCHESTRATOR } from '../../shared/operations/orchestrators.js';

// The Functions host refuses to start when two functions share a name; HTTP routes, orchestrators,
// activities and the timer all live in that one namespace.
describe('Azure Functions names', () => {
  const names = [
    ...Object.values(API).map((operation) => operation.operationId),
    ...Object.values(ORCHESTRATOR),
    ...Object.values(ACTIVITY),
    CRL_TIMER,
  ];

  it('are unique across routes, orchestrators, activities and the timer', () => {
    const seen = new Map<string, number>();
    for (const name of names) seen.set(name.toLowerCase(), (seen.get(name.toLowerCase()) ?? 0) + 1);
    expect([...seen].filter(([, count]) => count > 1)).toStrictEqual([]);
    expect(names.length).toBeGreaterThan(20);
  });

  it('are valid function names (letters, digits, - and _, starting with a letter, at most 127)', () => {
    for (const name of names) expect(name).toMatch(/^[A-Za-z][A-Za-z0-9_-]{0,126}$/);
  });
});

describe('route protection', () => {
  it('every route but healthz and enroll needs a function key and an app role; writes need a writer role', () => {
    for (const operation of Object.values(API)) {
      if (operation.operationId === 'healthz') {
        expect(operation.authLevel).toBe('anonymous');
        continue;
      }
      // The branch holds no API credential: its one-time token is checked by the route itself.
      if (operation.operationId === 'enroll') {
        expect([operation.authLevel, operation.credential, 'role' in operation]).toStrictEqual([
          'anonymous',
          'enrollment-token',
          false,
        ]);
        continue;
      }
      expect([operation.operationId, operation.authLevel]).toStrictEqual([operation.operationId, 'function']);
      const role = 'role' in operation ? operation.role : undefined;
      expect([operation.operationId, role]).toStrictEqual([
        operation.operationId,
        operation.method === 'GET' && operation.operationId !== 'getClientProfile'
          ? 'Reader'
          : operation.route.includes('clients') || operation.route.includes('enrollments')
            ? 'Clients.Issue'
            : 'Gateways.Admin',
      ]);
    }
  });
});
