import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  InputError,
  NotFoundError,
  UpstreamError,
  type DomainError,
} from '../../../shared/errors.js';
import { KubeCluster, mapKubeError } from '../../../shared/kube/kube-cluster.js';

/** A Kubernetes `Status` body as the API server sends it with an error. */
const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

const apiError = (code: number, body: unknown, headers: Record<string, string> = {}) =>
  new ApiException(code, 'Unsuccessful HTTP Request', body, headers);

/** What node-fetch throws for a failed connection: an Error carrying the system error code. */
const networkError = (code: string, message: string) => Object.assign(new Error(message), { code });

const WHAT = 'read ConfigMap vpn-gw/state';

describe('mapKubeError', () => {
  it.each<[string, unknown, new (...args: never[]) => DomainError, Record<string, unknown>]>([
    [
      '404 Not Found',
      apiError(404, status(404, 'NotFound', 'configmaps "state" not found')),
      NotFoundError,
      { message: `${WHAT}: configmaps "state" not found` },
    ],
    [
      '409 Conflict (stale resourceVersion)',
      apiError(
        409,
        JSON.stringify(
          status(409, 'Conflict', 'Operation cannot be fulfilled on configmaps "state": object was modified'),
        ),
      ),
      ConflictError,
      { message: `${WHAT}: Operation cannot be fulfilled on configmaps "state": object was modified` },
    ],
    [
      '422 Invalid',
      apiError(
        422,
        status(422, 'Invalid', 'Service "openvpn" is invalid: spec.ports[0].port: Invalid value: 0'),
      ),
      InputError,
      {
        message: `the Kubernetes API rejected it: ${WHAT}: Service "openvpn" is invalid: spec.ports[0].port: Invalid value: 0`,
      },
    ],
    [
      '400 Bad Request',
      apiError(400, status(400, 'BadRequest', 'the body of the request was in an unknown format')),
      InputError,
      {},
    ],
    [
      '429 with Retry-After',
      apiError(429, status(429, 'TooManyRequests', 'too many requests'), { 'retry-after': '3' }),
      UpstreamError,
      { transient: true, retryAfterSeconds: 3, message: `${WHAT}: too many requests` },
    ],
    [
      '429 without Retry-After',
      apiError(429, status(429, 'TooManyRequests', 'too many requests')),
      UpstreamError,
      { transient: true, retryAfterSeconds: undefined },
    ],
    [
      '500 Internal Server Error (no Status body)',
      apiError(500, 'upstream connect error'),
      UpstreamError,
      { transient: true, retryAfterSeconds: undefined, message: `${WHAT}: HTTP 500` },
    ],
    [
      '503 with Retry-After',
      apiError(503, status(503, 'ServiceUnavailable', 'etcd is unavailable'), { 'retry-after': '1' }),
      UpstreamError,
      { transient: true, retryAfterSeconds: 1 },
    ],
    [
      '504 Gateway Timeout',
      apiError(
        504,
        status(504, 'Timeout', 'the server was unable to return a response in the time allotted'),
      ),
      UpstreamError,
      { transient: true },
    ],
    [
      '403 Forbidden (retrying cannot help)',
      apiError(403, status(403, 'Forbidden', 'configmaps "state" is forbidden')),
      UpstreamError,
      { transient: false },
    ],
    [
      'ECONNRESET',
      networkError('ECONNRESET', 'request to https://aks:443/api/v1 failed, reason: socket hang up'),
      UpstreamError,
      {
        transient: true,
        message: `${WHAT}: request to https://aks:443/api/v1 failed, reason: socket hang up`,
      },
    ],
    [
      'ECONNREFUSED',
      networkError('ECONNREFUSED', 'request to https://aks:443/api/v1 failed, reason: connect ECONNREFUSED'),
      UpstreamError,
      { transient: true },
    ],
    [
      'ETIMEDOUT (the code only, not in the message)',
      networkError('ETIMEDOUT', 'request to https://aks:443/api/v1 failed'),
      UpstreamError,
      { transient: true },
    ],
    [
      'EAI_AGAIN (DNS)',
      networkError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN aks.example'),
      UpstreamError,
      { transient: true },
    ],
    [
      'an aborted request (AbortError)',
      Object.assign(new Error('The user aborted a request.'), { name: 'AbortError', type: 'aborted' }),
      UpstreamError,
      { transient: true },
    ],
    [
      'a bug in the client (TypeError)',
      new TypeError("Cannot read properties of undefined (reading 'items')"),
      UpstreamError,
      { transient: false },
    ],
    ['a thrown string', 'boom', UpstreamError, { transient: false, message: `${WHAT}: boom` }],
  ])('maps %s', (_case, thrown, type, fields) => {
    // GIVEN what the client library threw WHEN mapped THEN the typed error, keeping the original as cause
    const mapped = mapKubeError(thrown, WHAT);
    expect(mapped).toBeInstanceOf(type);
    expect(mapped).toMatchObject(fields);
    expect(mapped.cause).toBe(thrown);
  });

  it.each([
    ['the request deadline', new UpstreamError(`${WHAT}: no answer within 30000 ms`, { transient: true })],
    [
      'a not-found raised by the adapter itself',
      new NotFoundError('Deployment vpn-gw/openvpn does not exist'),
    ],
  ])('passes %s through unchanged', (_case, error) => {
    expect(mapKubeError(error, WHAT)).toBe(error);
  });

  it('ignores a Retry-After that is an HTTP date rather than seconds', () => {
    const mapped = mapKubeError(
      apiError(503, status(503, 'ServiceUnavailable', 'busy'), {
        'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT',
      }),
      WHAT,
    );
    expect(mapped).toMatchObject({ transient: true, retryAfterSeconds: undefined });
  });
});

describe('KubeCluster request deadline', () => {
  it('closes the connection of an attempt that timed out (no socket left hanging) and retries', async () => {
    // GIVEN an API server that accepts requests and never answers
    const opened: number[] = [];
    const closed: number[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((req) => {
      opened.push(Date.now());
      req.socket.once('close', () => closed.push(Date.now()));
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'stalled', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'stalled', user: 'u' }],
      currentContext: 'c',
    });
    const cluster = new KubeCluster({
      kubeConfig,
      fieldManager: 'test',
      requestTimeoutMs: 200,
      retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 },
    });
    try {
      // WHEN a read gets no answer
      const started = Date.now();
      const error = await cluster.readConfigMap('vpn-gw', 'state').catch((e: unknown) => e);
      // THEN each attempt's connection was closed by the client at its deadline, and the caller got a
      // transient error after the two attempts
      expect(error).toBeInstanceOf(UpstreamError);
      expect((error as UpstreamError).transient).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(opened).toHaveLength(2);
      expect(closed).toHaveLength(2);
      for (const at of closed) expect(at - started).toBeLessThan(5_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
