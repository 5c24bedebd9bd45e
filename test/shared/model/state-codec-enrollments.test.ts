/** Enrollments in the `state` ConfigMap: they round-trip, and a state without any is written as before them. */
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../../shared/errors.js';
import type { EnrollmentRecord, GatewayState } from '../../../shared/model/gateway.js';
import { parseStateConfigMapData, stateConfigMapData } from '../../../shared/model/state-codec.js';
import { state } from './gateway-state.fixture.js';

const pending: EnrollmentRecord = {
  id: '0123456789abcdef',
  client: 'branch-a',
  ip: '10.140.0.9',
  tokenHash: 'a'.repeat(64),
  createdAt: '2026-11-22T12:00:00.000Z',
  expiresAt: '2026-11-22T13:00:00.000Z',
  status: 'pending',
};
const used: EnrollmentRecord = {
  ...pending,
  id: 'fedcba9876543210',
  client: 'branch-b',
  validityDays: 30,
  status: 'used',
  usedAt: '2026-11-22T12:10:00.000Z',
  usedFrom: '198.51.100.7',
};

describe('state codec enrollments', () => {
  it('round-trips pending and used enrollments', () => {
    const withEnrollments: GatewayState = { ...state, enrollments: [pending, used] };
    expect(parseStateConfigMapData(stateConfigMapData(withEnrollments)).enrollments).toStrictEqual([
      pending,
      used,
    ]);
  });

  it('writes no enrollments key when there are none, so such a state is stored as before enrollments', () => {
    expect(Object.keys(stateConfigMapData({ ...state, enrollments: [] })).sort()).toStrictEqual([
      'clients-000.json.gz.b64',
      'clients.json',
      'meta.json',
      'spec.json',
    ]);
    expect(parseStateConfigMapData(stateConfigMapData(state)).enrollments).toBeUndefined();
  });

  it('refuses an enrollment record whose token hash is not a SHA-256', () => {
    const data = stateConfigMapData({ ...state, enrollments: [{ ...pending, tokenHash: 'secret' }] });
    expect(() => parseStateConfigMapData(data)).toThrow(InternalError);
  });
});
