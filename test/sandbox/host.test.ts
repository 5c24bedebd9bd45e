import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ROUTES } from '../../functions/routes.js';
import type { Composition } from '../../shared/composition.js';
import { MAX_BODY_BYTES } from '../../shared/http/json-body.js';
import type { SandboxHost } from '../../sandbox/host.js';
import { startSandboxHost } from '../../sandbox/host.js';
import type { UseCaseCall } from '../fakes/fake-use-cases.js';
import { fakeApiContext, scriptedUseCases } from '../fakes/fake-use-cases.js';

const CRL_PEM = '-----BEGIN X509 CRL-----\nMAMCAQE=\n-----END X509 CRL-----\n';
const calls: UseCaseCall[] = [];
const lines: string[] = [];
let host: SandboxHost;

beforeAll(async () => {
  const api = fakeApiContext({
    useCases: scriptedUseCases(
      {
        getCrl: CRL_PEM,
        issueClient: { name: 'c1' },
        putGateway: { gateway: { name: 'g1' }, created: true, operationId: 'op-1' },
      },
      calls,
    ),
  });
  const composition: Composition = { ...api, describeBackends: () => [], close: () => Promise.resolve() };
  host = await startSandboxHost({
    composition,
    routes: ALL_ROUTES,
    host: '127.0.0.1',
    port: 0,
    write: (l) => lines.push(l),
  });
});

afterAll(async () => {
  await host.close();
});

describe('sandbox host over HTTP', () => {
  it('serves the same handlers with their status, headers and JSON body', async () => {
    const response = await fetch(`${host.url}/gateways/g1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"port":443}',
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('operation-location')).toBe(`${host.url}/operations/op-1`);
    expect(await response.json()).toStrictEqual({ name: 'g1' });
  });

  it('writes binary bodies byte for byte', async () => {
    const response = await fetch(`${host.url}/gateways/g1/crl`);
    expect(response.headers.get('content-type')).toBe('application/pkix-crl');
    expect([...new Uint8Array(await response.arrayBuffer())]).toStrictEqual([0x30, 0x03, 0x02, 0x01, 0x01]);
  });

  it('answers 404 problem+json for an unknown route and 405 with Allow for a wrong method', async () => {
    const missing = await fetch(`${host.url}/nope`);
    const wrong = await fetch(`${host.url}/gateways/g1/crl`, { method: 'DELETE' });
    expect([missing.status, missing.headers.get('content-type')]).toStrictEqual([
      404,
      'application/problem+json',
    ]);
    expect([wrong.status, wrong.headers.get('allow')]).toStrictEqual([405, 'GET, HEAD']);
  });

  it('passes %2F inside a name to the handler, which refuses it', async () => {
    const response = await fetch(`${host.url}/gateways/a%2Fb`);
    const problem = (await response.json()) as { errors: { path: string }[] };
    expect([response.status, problem.errors[0]?.path]).toStrictEqual([400, '{gateway}']);
  });

  it('refuses a body over 1 MiB with 413 without reading it all', async () => {
    // GIVEN a client that declares no length and streams 4 MiB
    const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${host.url}/gateways/g1/clients`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', (e) => {
        if (!answered) reject(e);
      });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 4 * MAX_BODY_BYTES) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    // THEN
    expect(result.status).toBe(413);
    expect((JSON.parse(result.body) as { type: string }).type).toBe(
      'urn:aks-vpn-gateways:problem:payload-too-large',
    );
    expect(calls.filter((c) => c.name === 'issueClient')).toStrictEqual([]);
  });

  it('logs one access line per request', () => {
    expect(lines.some((l) => / http PUT \/api\/gateways\/g1 201 [\d.]+ms putGateway$/.test(l))).toBe(true);
  });
});
