/** toInt reads canonical dotted quads itself and leaves every other spelling to ipaddr.js, with its answer. */
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { toInt } from '../../../shared/model/cidr.js';

const byIpaddr = (ip: string) =>
  ipaddr.IPv4.parse(ip)
    .toByteArray()
    .reduce((n, b) => n * 256 + b, 0);

describe('toInt', () => {
  it('reads canonical dotted quads as ipaddr.js does', () => {
    for (const ip of ['0.0.0.0', '10.140.0.2', '255.255.255.255', '192.168.1.10', '1.2.3.4'])
      expect(toInt(ip)).toBe(byIpaddr(ip));
    expect(toInt('10.140.7.200')).toBe(((10 * 256 + 140) * 256 + 7) * 256 + 200);
  });

  it('gives every other spelling the meaning ipaddr.js gives it, or its refusal', () => {
    const answer = (read: (ip: string) => number, ip: string) => {
      try {
        return read(ip);
      } catch (e: unknown) {
        return e instanceof Error ? 'refused' : 'odd';
      }
    };
    const spellings = ['010.0.0.1', '0x0a.0.0.1', '10.0.0.01', '256.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3'];
    for (const ip of [...spellings, '', 'a.b.c.d', '1.2.3.4 '])
      expect([ip, answer(toInt, ip)]).toStrictEqual([ip, answer(byIpaddr, ip)]);
    expect(answer(toInt, '256.0.0.1')).toBe('refused');
  });
});
