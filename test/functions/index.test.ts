/**
 * The entry point the Functions host loads is the one place that registers functions; the modules it reads
 * the route lists and handler factories from register nothing when imported (the sandbox imports them).
 * Outside the host @azure/functions only warns that it skips each registration: those warnings are the calls.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CRL_TIMER } from '../../functions/crl-timer.js';
import { API } from '../../shared/api/routes.js';
import { ACTIVITY, ORCHESTRATOR } from '../../shared/operations/orchestrators.js';

/** The function names whose registration `load` asked for, in order. */
async function registeredBy(load: () => Promise<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  vi.spyOn(console, 'warn').mockImplementation(
    (...args: unknown[]) => void warnings.push(args.map(String).join(' ')),
  );
  vi.resetModules();
  await load();
  return warnings.flatMap((w) => /register function "([^"]+)"/.exec(w)?.[1] ?? []);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('functions/index.ts', () => {
  it('registers every route, orchestrator and activity and the CRL timer, each once', async () => {
    // WHEN the host loads the entry point
    const names = await registeredBy(() => import('../../functions/index.js'));
    // THEN
    expect([...names].sort()).toStrictEqual(
      [
        ...Object.values(API).map((operation) => operation.operationId),
        ...Object.values(ORCHESTRATOR),
        ...Object.values(ACTIVITY),
        CRL_TIMER,
      ].sort(),
    );
  });

  it.each([
    ['routes.js', () => import('../../functions/routes.js')],
    ['orchestrations.js', () => import('../../functions/orchestrations.js')],
    ['crl-timer.js', () => import('../../functions/crl-timer.js')],
    ['app-start.js', () => import('../../functions/app-start.js')],
  ])('registers nothing when %s is imported', async (_name, load) => {
    expect(await registeredBy(load)).toStrictEqual([]);
  });
});
