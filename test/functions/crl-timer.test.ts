import azureFunctions from '@azure/functions';
import type { Timer } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { makeCrlTimerHandler } from '../../functions/crl-timer.js';
import { issueClient, listClients } from '../../shared/gateways/clients.js';
import { getCrl } from '../../shared/gateways/crl.js';
import { putGateway } from '../../shared/gateways/gateways.js';
import { makeHarness } from '../shared/gateways/harness.js';

const { InvocationContext } = azureFunctions;
const timer = {
  isPastDue: false,
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
} as unknown as Timer;

describe('crlTimer', () => {
  it('re-signs a CRL close to its nextUpdate through refreshCrls', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const before = await getCrl(h.deps, 'gw');
    h.setNow(new Date('2026-12-20T12:00:00Z'));
    await makeCrlTimerHandler({ deps: () => Promise.resolve(h.deps) })(
      timer,
      new InvocationContext({ functionName: 'crlTimer' }),
    );
    expect(await getCrl(h.deps, 'gw')).not.toBe(before);
    expect(h.logs.some((l) => l.includes('CRL refresh done') && l.includes('"renewed":1'))).toBe(true);
  });

  it('asks every gateway for the roll it is owed, and fails the run when one cannot be resumed', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await putGateway(h.deps, 'gw2', {});
    const run = () =>
      makeCrlTimerHandler({ deps: () => Promise.resolve(h.deps) })(
        timer,
        new InvocationContext({ functionName: 'crlTimer' }),
      );
    await run();
    expect(h.operations.resumed).toStrictEqual(['gw', 'gw2']);
    h.operations.resumeRoll = (gateway) =>
      gateway === 'gw2' ? Promise.reject(new Error('extension unavailable')) : Promise.resolve(undefined);
    await expect(run()).rejects.toThrow(/owed roll not resumed for gw2/);
  });

  it('fails the run (so it is visible and retried) when a gateway could not be refreshed', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await h.secrets.deleteGateway('gw', []);
    h.setNow(new Date('2026-12-20T12:00:00Z'));
    await expect(
      makeCrlTimerHandler({ deps: () => Promise.resolve(h.deps) })(
        timer,
        new InvocationContext({ functionName: 'crlTimer' }),
      ),
    ).rejects.toThrow(/CRL refresh failed for gw/);
  });

  it('completes an issue that a crashed request left pending', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = () => Promise.reject(new Error('the process died'));
    await expect(issueClient(h.deps, 'gw', { name: 'c1' })).rejects.toThrow('the process died');
    h.secrets.putClient = putClient;
    expect((await listClients(h.deps, 'gw'))[0]?.status).toBe('pending');
    await makeCrlTimerHandler({ deps: () => Promise.resolve(h.deps) })(
      timer,
      new InvocationContext({ functionName: 'crlTimer' }),
    );
    expect((await listClients(h.deps, 'gw'))[0]?.status).toBe('active');
    expect(await h.secrets.getClient('gw', 'c1')).toBeDefined();
  });
});
