import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { GatewayState } from '../../../shared/model/gateway.js';
import {
  isClientsKey,
  parseStateConfigMapData,
  stateConfigMapData,
  storedClientsJson,
  withStoredClientsJson,
} from '../../../shared/model/state-codec.js';
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
      (JSON.parse(storedClientsJson(stateConfigMapData(state))) as unknown[][]).map((t) => t.length),
    ).toStrictEqual([7, 7]);
  });

  it('round-trips client subnets (on a pending CSR issue too) and a mapping to a LAN host', () => {
    const withLans: GatewayState = {
      ...state,
      clients: [
        { ...state.clients[0]!, subnets: ['192.168.10.0/24', '192.168.20.0/25'] },
        state.clients[1]!,
        {
          name: 'p',
          ip: '10.140.0.4',
          serial: '1a',
          issuedAt: '2026-11-22T12:00:00.000Z',
          notAfter: '2027-11-22T12:00:00.000Z',
          status: 'pending',
          keySource: 'csr',
          csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
          subnets: ['172.20.0.0/16'],
        },
      ],
      portMappings: [
        ...state.portMappings,
        { port: 8082, client: 'a', targetPort: 22, targetHost: '192.168.10.7', protocol: 'tcp' },
      ],
    };
    const data = stateConfigMapData(withLans);
    expect(parseStateConfigMapData(data)).toStrictEqual(withLans);
    // the subnets are one string element, after the empty key, intent and csr elements
    expect((JSON.parse(storedClientsJson(data)) as unknown[][])[0]?.slice(7)).toStrictEqual([
      '',
      '',
      '',
      '192.168.10.0/24 192.168.20.0/25',
    ]);
  });

  it.each([
    ['a non-canonical subnet', '192.168.10.1/24'],
    ['an empty subnet list', ''],
    ['17 subnets', Array.from({ length: 17 }, (_, i) => `192.168.${i}.0/24`).join(' ')],
  ])('refuses a client tuple with %s', (_what, subnets) => {
    const tuple = ['a', '10.140.0.2', '0a1b', 0, 1, 0, 'g', '', '', '', subnets];
    expect(() =>
      parseStateConfigMapData(withStoredClientsJson(stateConfigMapData(state), JSON.stringify([tuple]))),
    ).toThrow(/bad subnets/);
  });

  it('reads a state written before compression (plain clients.json) and stores it in chunks at its next write', () => {
    // GIVEN the data an earlier version wrote: the same tuples as plain JSON under clients.json
    const data = stateConfigMapData(state);
    const rest = Object.fromEntries(Object.entries(data).filter(([key]) => !isClientsKey(key)));
    const legacy = { ...rest, 'clients.json': storedClientsJson(data) };
    // WHEN read
    const read = parseStateConfigMapData(legacy);
    // THEN it is the same state, and writing it back stores only the compressed key
    expect(read).toStrictEqual(state);
    expect(Object.keys(stateConfigMapData(read)).sort()).toStrictEqual([
      'clients-000.json.gz.b64',
      'clients.json',
      'meta.json',
      'spec.json',
    ]);
  });

  it('leaves under clients.json what a version from before chunks refuses (not an array), even without clients', () => {
    for (const clients of [state.clients, []]) {
      const data = stateConfigMapData({ ...state, clients });
      // what that version did: JSON.parse(data['clients.json']), then refused anything but an array
      expect(Array.isArray(JSON.parse(data['clients.json'] ?? '[]'))).toBe(false);
      expect(data['clients-000.json.gz.b64']).toBeDefined();
      expect(parseStateConfigMapData(data).clients).toStrictEqual(clients);
    }
  });

  it('stores the clients as gzip in base64, so an operator reads them with base64 -d | gunzip', () => {
    const stored = stateConfigMapData(state)['clients-000.json.gz.b64'] ?? '';
    const json = execFileSync('sh', ['-c', 'base64 -d | gunzip'], { input: stored, encoding: 'utf8' });
    expect((JSON.parse(json) as unknown[][]).map((t) => t[0])).toStrictEqual(
      state.clients.map((c) => c.name),
    );
  });

  it('holds 5,000 clients well under the 1 MiB object limit', () => {
    const many: GatewayState = {
      ...state,
      clients: Array.from({ length: 5000 }, (_, i) => ({
        name: `branch-site-${String(i).padStart(5, '0')}`,
        ip: `10.140.${Math.floor(i / 250)}.${(i % 250) + 2}`,
        // Random, as real serials are: they are what compresses least.
        serial: randomBytes(16).toString('hex'),
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

  it('refuses a state with a key it does not know instead of reading it as fewer clients', () => {
    const data = { ...stateConfigMapData(state), 'clients.json.gz.b64': 'H4sI' };
    expect(() => parseStateConfigMapData(data)).toThrow(/unknown key\(s\) clients\.json\.gz\.b64/);
  });

  it('refuses a corrupted state instead of guessing', () => {
    expect(() =>
      parseStateConfigMapData(withStoredClientsJson(stateConfigMapData(state), '[["A"]]')),
    ).toThrow(/unreadable/);
  });
});
