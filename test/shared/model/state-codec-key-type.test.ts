/** The key types in the `state` ConfigMap: EC clients and gateways round-trip, older states read as RSA. */
import { describe, expect, it } from 'vitest';
import type { GatewayState } from '../../../shared/model/gateway.js';
import {
  parseStateConfigMapData,
  stateConfigMapData,
  storedClientsJson,
  withStoredClientsJson,
} from '../../../shared/model/state-codec.js';
import { state } from './gateway-state.fixture.js';

const ecGateway: GatewayState = {
  ...state,
  spec: { ...state.spec, keyType: 'ec' },
  clients: state.clients.map((c, i) =>
    i === 0 ? { ...c, keyType: 'ec' as const } : { ...c, keyType: 'rsa' as const },
  ),
};

describe('state codec key types', () => {
  it('round-trips an EC gateway and its EC client, with an RSA client left implicit', () => {
    // WHEN written and read back
    const read = parseStateConfigMapData(stateConfigMapData(ecGateway));
    // THEN the EC marks survive and the RSA client reads as the default (no keyType)
    expect(read.spec.keyType).toBe('ec');
    expect(read.clients.map((c) => c.keyType)).toStrictEqual(['ec', undefined]);
  });

  it('stores an EC client as one more tuple element and an RSA client as before', () => {
    const clients = JSON.parse(storedClientsJson(stateConfigMapData(ecGateway))) as unknown[][];
    expect(clients.map((c) => c.length)).toStrictEqual([8, 7]);
    expect(clients[0]?.[7]).toBe('e');
  });

  it('reads a state written before key types existed as RSA', () => {
    // GIVEN a spec and clients without any key type (the earlier format)
    const data = stateConfigMapData(state);
    expect(JSON.parse(data['spec.json'] ?? '')).not.toHaveProperty('keyType');
    // WHEN read
    const read = parseStateConfigMapData(data);
    // THEN nothing says EC
    expect([read.spec.keyType, ...read.clients.map((c) => c.keyType)]).toStrictEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('refuses a client tuple whose key mark is not e', () => {
    const data = stateConfigMapData(state);
    const clients = JSON.parse(storedClientsJson(data)) as unknown[][];
    clients[0]?.push('x');
    expect(() => parseStateConfigMapData(withStoredClientsJson(data, JSON.stringify(clients)))).toThrow(
      /state ConfigMap is unreadable/,
    );
  });
});
