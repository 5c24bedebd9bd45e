/**
 * The state codec decodes a client once and reuses the record while its stored tuple stays the same: a
 * changed tuple under the same serial (a revocation) must read as changed, and an unchanged state written
 * back is byte for byte what was read.
 */
import { describe, expect, it } from 'vitest';
import { parseStateConfigMapData, stateConfigMapData } from '../../../shared/model/state-codec.js';
import { state } from './gateway-state.fixture.js';

describe('state codec reuse of decoded clients', () => {
  it('reads a revocation of a client it decoded before under the same serial', () => {
    // GIVEN the state read once with client a active
    const data = stateConfigMapData(state);
    const first = parseStateConfigMapData(data);
    expect(first.clients[0]?.status).toBe('active');
    // WHEN the same client (same serial) is stored revoked and read again
    const revokedAt = '2026-11-24T00:00:00.000Z';
    const revoked = stateConfigMapData({
      ...first,
      clients: first.clients.map((c, i) => (i === 0 ? { ...c, status: 'revoked' as const, revokedAt } : c)),
    });
    const second = parseStateConfigMapData(revoked);
    // THEN the revocation is there, and the untouched client is the very record read before
    expect([second.clients[0]?.status, second.clients[0]?.revokedAt]).toStrictEqual(['revoked', revokedAt]);
    expect(second.clients[1]).toBe(first.clients[1]);
  });

  it('writes an unchanged state back exactly as it was read', () => {
    const data = stateConfigMapData(state);
    expect(stateConfigMapData(parseStateConfigMapData(data))).toStrictEqual(data);
  });

  it('hands out clients that cannot be changed in place', () => {
    const read = parseStateConfigMapData(stateConfigMapData(state));
    expect(Object.isFrozen(read.clients)).toBe(true);
  });
});
