import { describe, expect, it } from 'vitest';
import { InputError } from '../../../shared/errors.js';
import {
  clientParamsSchema,
  issueClientBodySchema,
  putGatewayBodySchema,
  putPortMappingsBodySchema,
  revokeQuerySchema,
} from '../../../shared/api/schemas.js';
import { parseInput } from '../../../shared/http/input-problems.js';

function problemsOf(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (e: unknown) {
    if (e instanceof InputError) return [...e.problems];
    throw e;
  }
  return [];
}

describe('putGatewayBodySchema', () => {
  it('applies every default to an empty body', () => {
    expect(parseInput(putGatewayBodySchema, {}, 'body')).toStrictEqual({
      vpnSubnet: '10.140.0.0/24',
      port: 443,
      loadBalancer: { internal: false, sourceRanges: [] },
      clientCertValidityDays: 365,
      keyType: 'rsa',
    });
  });

  it('keeps every field it is given', () => {
    const body = {
      vpnSubnet: '10.99.0.0/24',
      routes: ['10.0.0.0/16', '10.244.0.0/16'],
      port: 8443,
      dnsLabel: 'vpn-berlin',
      publicHost: 'vpn.example.com',
      loadBalancer: { internal: true, sourceRanges: ['203.0.113.0/24'] },
      clientCertValidityDays: 90,
      keyType: 'ec',
    };
    expect(parseInput(putGatewayBodySchema, body, 'body')).toStrictEqual(body);
  });

  describe.each<[string, unknown, string]>([
    ['an unknown field', { vpnSubnet: '10.1.0.0/24', color: 'red' }, '/color'],
    ['a non-CIDR subnet', { vpnSubnet: '10.1.0.0' }, '/vpnSubnet'],
    ['a CIDR with host bits', { vpnSubnet: '10.1.0.5/24' }, '/vpnSubnet'],
    ['a shorthand address', { vpnSubnet: '10.1/16' }, '/vpnSubnet'],
    ['an IPv6 CIDR', { vpnSubnet: 'fd00::/64' }, '/vpnSubnet'],
    ['prefix 33', { vpnSubnet: '10.1.0.0/33' }, '/vpnSubnet'],
    ['a bad route', { routes: ['10.0.0.0/16', 'x'] }, '/routes/1'],
    ['empty routes', { routes: [] }, '/routes'],
    ['port 0', { port: 0 }, '/port'],
    ['port 65536', { port: 65536 }, '/port'],
    ['a string port', { port: '443' }, '/port'],
    ['a fractional port', { port: 443.5 }, '/port'],
    ['an uppercase DNS label', { dnsLabel: 'VPN' }, '/dnsLabel'],
    ['a host with a newline', { publicHost: 'vpn.example.com\nremote evil 1' }, '/publicHost'],
    ['a string internal flag', { loadBalancer: { internal: 'yes' } }, '/loadBalancer/internal'],
    [
      'a bad source range',
      { loadBalancer: { sourceRanges: ['0.0.0.0/0', 'any'] } },
      '/loadBalancer/sourceRanges/1',
    ],
    ['validity 0', { clientCertValidityDays: 0 }, '/clientCertValidityDays'],
    ['a body that is an array', [], ''],
  ])('rejects %s', (_name, body, path) => {
    it(`with a problem at ${JSON.stringify(path)}`, () => {
      expect(problemsOf(() => parseInput(putGatewayBodySchema, body, 'body')).map((p) => p.path)).toContain(
        path,
      );
    });
  });
});

describe('issueClientBodySchema', () => {
  it('accepts a name alone', () => {
    expect(parseInput(issueClientBodySchema, { name: 'site-1' }, 'body')).toStrictEqual({ name: 'site-1' });
  });

  describe.each<[string, unknown, string]>([
    ['a missing name', {}, '/name'],
    ['a name with a slash', { name: 'a/b' }, '/name'],
    ['a name ..', { name: '..' }, '/name'],
    ['a name with a newline', { name: 'a\nb' }, '/name'],
    ['an uppercase name', { name: 'Site' }, '/name'],
    ['a 64-character name', { name: 'a'.repeat(64) }, '/name'],
    ['a name starting with -', { name: '-a' }, '/name'],
    ['an empty name', { name: '' }, '/name'],
    ['a non-IPv4 static IP', { name: 'a', staticIp: '10.140.0' }, '/staticIp'],
    ['validity 0', { name: 'a', validityDays: 0 }, '/validityDays'],
    ['validity past 10 years', { name: 'a', validityDays: 3651 }, '/validityDays'],
    ['a CSR that is not PEM', { name: 'a', csr: 'hello' }, '/csr'],
  ])('rejects %s', (_name, body, path) => {
    it(`with a problem at ${JSON.stringify(path)}`, () => {
      expect(problemsOf(() => parseInput(issueClientBodySchema, body, 'body')).map((p) => p.path)).toContain(
        path,
      );
    });
  });
});

describe('putPortMappingsBodySchema', () => {
  it('defaults the protocol to tcp', () => {
    expect(
      parseInput(
        putPortMappingsBodySchema,
        { mappings: [{ port: 8081, client: 'c1', targetPort: 80 }] },
        'body',
      ),
    ).toStrictEqual({ mappings: [{ port: 8081, client: 'c1', targetPort: 80, protocol: 'tcp' }] });
  });

  it.each<[unknown, string]>([
    [{}, '/mappings'],
    [{ mappings: [{ port: 0, client: 'c1', targetPort: 80 }] }, '/mappings/0/port'],
    [{ mappings: [{ port: 80, client: 'c1', targetPort: 65536 }] }, '/mappings/0/targetPort'],
    [{ mappings: [{ port: 80, client: 'C1', targetPort: 80 }] }, '/mappings/0/client'],
    [{ mappings: [{ port: 80, client: 'c1', targetPort: 80, protocol: 'icmp' }] }, '/mappings/0/protocol'],
    [{ mappings: [{ port: 80, client: 'c1', targetPort: 80, extra: 1 }] }, '/mappings/0/extra'],
  ])('rejects %j at %s', (body, path) => {
    expect(
      problemsOf(() => parseInput(putPortMappingsBodySchema, body, 'body')).map((p) => p.path),
    ).toContain(path);
  });
});

describe('route and query parameters', () => {
  it('reports bad names at {gateway} and {client}', () => {
    expect(
      problemsOf(() => parseInput(clientParamsSchema, { gateway: 'G', client: 'x'.repeat(70) }, 'path')).map(
        (p) => p.path,
      ),
    ).toStrictEqual(['{gateway}', '{client}', '{client}']);
  });

  it('reads ?force as a boolean and refuses other values', () => {
    expect(parseInput(revokeQuerySchema, { force: 'true' }, 'query')).toStrictEqual({ force: true });
    expect(parseInput(revokeQuerySchema, {}, 'query')).toStrictEqual({ force: false });
    expect(problemsOf(() => parseInput(revokeQuerySchema, { force: 'yes' }, 'query'))[0]?.path).toBe(
      '?force',
    );
  });
});
