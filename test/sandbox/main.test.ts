/** The sandbox host (`npm start`) keeps what it was told across a restart on the same data directory. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxUnderTest } from '../api/harness.js';
import { api, removeDir, startTestSandbox, waitForOperation } from '../api/harness.js';

const ROUTES = ['10.0.0.0/16', '10.244.0.0/16'];

describe('the sandbox host across a restart', () => {
  let sut: SandboxUnderTest;

  beforeAll(async () => {
    sut = await startTestSandbox();
  }, 120_000);

  afterAll(async () => {
    await sut?.stop();
    if (sut) await removeDir(sut.dataDir);
  });

  it('keeps gateways, clients, profiles and operations', async () => {
    // GIVEN a gateway with a client and a finished roll
    let base = sut.sandbox.url;
    const put = await api(base, 'PUT', '/gateways/g1', { routes: ROUTES });
    const provision = put.headers.get('operation-location') ?? '';
    expect((await waitForOperation(provision)).status).toBe('Succeeded');
    expect((await api(base, 'POST', '/gateways/g1/clients', { name: 'site-a' })).status).toBe(201);
    const before = (await api(base, 'GET', '/gateways/g1/clients')).json();
    const profile = (await api(base, 'GET', '/gateways/g1/clients/site-a/profile')).text;
    // WHEN the host stops and starts again on the same data directory
    await sut.stop();
    sut = await startTestSandbox({}, sut.dataDir);
    base = sut.sandbox.url;
    // THEN everything is still there
    expect((await api(base, 'GET', '/gateways/g1/clients')).json()).toStrictEqual(before);
    expect((await api(base, 'GET', '/gateways/g1/clients/site-a/profile')).text).toBe(profile);
    const id = provision.slice(provision.lastIndexOf('/') + 1);
    expect((await api(base, 'GET', `/operations/${id}`)).json()).toMatchObject({ id, status: 'Succeeded' });
  });
});
