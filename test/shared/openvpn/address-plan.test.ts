import { describe, expect, it } from 'vitest';
import { ConflictError, InputError } from '../../../shared/errors.js';
import { allocateStaticIp, planAddresses } from '../../../shared/openvpn/index.js';

describe('planAddresses', () => {
  it.each([
    [
      '10.140.0.0/24',
      {
        network: '10.140.0.0',
        netmask: '255.255.255.0',
        prefixLength: 24,
        serverIp: '10.140.0.1',
        broadcast: '10.140.0.255',
        staticRange: { first: '10.140.0.2', last: '10.140.0.191' },
        pool: { first: '10.140.0.192', last: '10.140.0.254' },
      },
    ],
    [
      '192.168.8.0/28',
      {
        network: '192.168.8.0',
        netmask: '255.255.255.240',
        prefixLength: 28,
        serverIp: '192.168.8.1',
        broadcast: '192.168.8.15',
        staticRange: { first: '192.168.8.2', last: '192.168.8.11' },
        // OpenVPN 2.6 refuses a pool of fewer than 2 addresses: the smallest subnet leaves it 3.
        pool: { first: '192.168.8.12', last: '192.168.8.14' },
      },
    ],
  ])('plans %s', (cidr, plan) => {
    expect(planAddresses(cidr)).toStrictEqual(plan);
  });

  it.each([
    '10.140.0.1/24',
    '10.140.0.0/30',
    '10.140.0.0/29',
    '10.0.0.0/8',
    '10.140.0.0/024',
    '010.140.0.0/24',
    '10.140.0.0',
    '::1/64',
    '10.140.0.0/24\nroute 0.0.0.0',
  ])('rejects %j', (cidr) => {
    expect(() => planAddresses(cidr)).toThrow(InputError);
  });
});

describe('allocateStaticIp', () => {
  const plan = planAddresses('10.140.0.0/24');

  it('takes the lowest free address of the static range', () => {
    expect(allocateStaticIp(plan, [])).toBe('10.140.0.2');
    expect(allocateStaticIp(plan, ['10.140.0.2', '10.140.0.4'])).toBe('10.140.0.3');
  });

  it('honours a free requested address', () => {
    expect(allocateStaticIp(plan, ['10.140.0.2'], '10.140.0.100')).toBe('10.140.0.100');
  });

  it.each([
    ['10.140.0.0', /network address/],
    ['10.140.0.255', /broadcast/],
    ['10.140.0.1', /server/],
    ['10.140.0.200', /dynamic pool/],
    ['10.141.0.5', /outside/],
    ['10.140.0.256', /not an IPv4/],
    ['10.140.0.5 ', /not an IPv4/],
  ])('rejects %s', (ip, message) => {
    expect(() => allocateStaticIp(plan, [], ip)).toThrow(InputError);
    expect(() => allocateStaticIp(plan, [], ip)).toThrow(message);
  });

  it('reports a taken address and a full range as conflicts', () => {
    expect(() => allocateStaticIp(plan, ['10.140.0.9'], '10.140.0.9')).toThrow(ConflictError);
    const small = planAddresses('10.1.1.0/28');
    const full = Array.from({ length: 10 }, (_, i) => `10.1.1.${i + 2}`);
    expect(() => allocateStaticIp(small, full)).toThrow(ConflictError);
  });
});
