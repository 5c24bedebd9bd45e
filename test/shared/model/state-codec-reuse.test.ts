/**
 * The state codec decodes a client once and reuses the record while its stored tuple stays the same: a
 * changed tuple under the same serial (a revocation) must read as changed, and an unchanged state written
 * back is byte for byte what was read.
 */
import { describe, expect, it } from 'vitest';
import {
  isClientsKey,
  parseStateConfigMapData,
  stateConfigMapData,
} from '../../../shared/model/state-codec.js';
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

  it('stores 600 clients in 3 chunks and, when one client changes, compresses and decodes only its chunk', () => {
    const base = state.clients[0]!;
    const many = {
      ...state,
      clients: Array.from({ length: 600 }, (_, i) => ({
        ...base,
        name: `site-${i}`,
        serial: (0x1000 + i).toString(16),
      })),
    };
    // GIVEN the state written and read back
    const data = stateConfigMapData(many);
    expect(
      Object.keys(data)
        .filter((k) => isClientsKey(k) && k !== 'clients.json')
        .sort(),
    ).toStrictEqual(['clients-000.json.gz.b64', 'clients-001.json.gz.b64', 'clients-002.json.gz.b64']);
    const read = parseStateConfigMapData(data);
    // WHEN client 300 (chunk 001) is revoked and the state written and read again
    const revokedAt = '2026-11-24T00:00:00.000Z';
    const changed = stateConfigMapData({
      ...read,
      clients: read.clients.map((c, i) => (i === 300 ? { ...c, status: 'revoked' as const, revokedAt } : c)),
    });
    // THEN only chunk 001's text differs, and the other chunks' records are the very records read before
    expect(Object.keys(data).filter((k) => changed[k] !== data[k])).toStrictEqual([
      'clients-001.json.gz.b64',
    ]);
    const again = parseStateConfigMapData(changed);
    expect(again.clients[300]?.status).toBe('revoked');
    expect(again.clients[0]).toBe(read.clients[0]);
    expect(again.clients[599]).toBe(read.clients[599]);
  });

  it('refuses a state whose chunks have a gap', () => {
    const many = {
      ...state,
      clients: Array.from({ length: 300 }, (_, i) => ({
        ...state.clients[0]!,
        name: `s-${i}`,
        serial: (0x2000 + i).toString(16),
      })),
    };
    const { 'clients-000.json.gz.b64': _first, ...gap } = stateConfigMapData(many);
    expect(() => parseStateConfigMapData(gap)).toThrow(/not numbered from 000 without a gap/);
  });

  it('hands out clients that cannot be changed in place', () => {
    const read = parseStateConfigMapData(stateConfigMapData(state));
    expect(Object.isFrozen(read.clients)).toBe(true);
  });
});
