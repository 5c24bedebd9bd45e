import { describe, expect, it } from 'vitest';
import type { GatewayState } from '../../../shared/model/gateway.js';
import { parseStateConfigMapData, stateConfigMapData } from '../../../shared/model/state-codec.js';
import { state } from './gateway-state.fixture.js';

describe('state ConfigMap', () => {
  it('round-trips the state exactly', () => {
    expect(parseStateConfigMapData(stateConfigMapData(state))).toStrictEqual(state);
  });

  it('round-trips the recorded intents: a pending issue with its CSR, a revocation in progress', () => {
    const withIntents: GatewayState = {
      ...state,
      clients: [
        ...state.clients,
        {
          name: 'p',
          ip: '10.140.0.4',
          serial: '1a',
          issuedAt: '2026-11-22T12:00:00.000Z',
          notAfter: '2027-11-22T12:00:00.000Z',
          status: 'pending',
          keySource: 'csr',
          csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
        },
        {
          name: 'r',
          ip: '10.140.0.5',
          serial: '2b',
          issuedAt: '2026-11-22T12:00:00.000Z',
          notAfter: '2027-11-22T12:00:00.000Z',
          status: 'revoking',
          revokedAt: '2026-11-23T00:00:00.000Z',
          keySource: 'generated',
        },
      ],
    };
    expect(parseStateConfigMapData(stateConfigMapData(withIntents))).toStrictEqual(withIntents);
    // a complete client's tuple stays as short as before (the intent is only written while there is one)
    expect(
      (JSON.parse(stateConfigMapData(state)['clients.json'] ?? '') as unknown[][]).map((t) => t.length),
    ).toStrictEqual([7, 7]);
  });

  it('holds 5,000 clients well under the 1 MiB object limit', () => {
    const many: GatewayState = {
      ...state,
      clients: Array.from({ length: 5000 }, (_, i) => ({
        name: `branch-site-${String(i).padStart(5, '0')}`,
        ip: `10.140.${Math.floor(i / 250)}.${(i % 250) + 2}`,
        serial: '3f'.repeat(16),
        issuedAt: '2026-11-22T12:00:00.000Z',
        notAfter: '2027-11-22T12:00:00.000Z',
        status: 'active' as const,
        keySource: 'generated' as const,
      })),
    };
    const bytes = Object.values(stateConfigMapData(many)).reduce((n, v) => n + Buffer.byteLength(v), 0);
    console.log(
      `state ConfigMap: ${bytes} bytes for 5000 clients = ${(bytes / 5000).toFixed(1)} bytes/client`,
    );
    expect(bytes).toBeLessThan(1024 * 1024);
  });

  it('refuses a corrupted state instead of guessing', () => {
    expect(() =>
      parseStateConfigMapData({ ...stateConfigMapData(state), 'clients.json': '[["A"]]' }),
    ).toThrow(/unreadable/);
  });
});
