/**
 * The bad-input table: each request is refused with the right 4xx problem+json, and the
 * sandbox cluster (every object of its API server) and the secret store (hash of its directory) are
 * byte-for-byte unchanged afterwards.
 */
import { request as httpRequest } from 'node:http';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planAddresses } from '../../shared/openvpn/index.js';
import type { ApiBackend } from './harness.js';
import { api, memoryBackend, sandboxBackend, waitForOperation } from './harness.js';

interface Case {
  readonly name: string;
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** Raw request target below /api, sent exactly as written (no URL normalisation). */
  readonly path: string;
  /** A string is sent as is; anything else as JSON; a function is called once setup has run. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly status: 400 | 404 | 409 | 413 | 415;
  /** The problem `errors[].path` expected (400 only). */
  readonly errorPath?: string;
  /** The problem `instance` expected, when the case is about it. */
  readonly instance?: string;
}

const MIB = 1024 * 1024;
const plan = planAddresses('10.140.0.0/24');
let c1Ip = '';
let g1Address = '';
let badSignatureCsr = '';

/** Sends a request without URL normalisation (fetch would turn /gateways/.. into /). */
function raw(
  base: string,
  c: Case,
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  const url = new URL(base);
  const value: unknown = typeof c.body === 'function' ? (c.body as () => unknown)() : c.body;
  const payload = value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method: c.method,
      path: `/api${c.path}`,
      headers: {
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...c.headers,
      },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }),
      );
    });
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    req.end(payload);
  });
}

function csrWithBadSignature(): string {
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([{ name: 'commonName', value: 'tampered' }]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  const der = Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary');
  der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}

const GOOD_MAPPING = { port: 8082, client: 'c1', targetPort: 80 };
const name64 = 'a'.repeat(64);

const g = '/gateways/g1';
const CASES: readonly Case[] = [
  // Malformed bodies
  {
    name: 'malformed JSON (gateway PUT)',
    method: 'PUT',
    path: '/gateways/g9',
    body: '{"port":',
    status: 400,
    errorPath: '',
  },
  {
    name: 'malformed JSON (client POST)',
    method: 'POST',
    path: `${g}/clients`,
    body: "{'name':'x'}",
    status: 400,
    errorPath: '',
  },
  {
    name: 'malformed JSON (port mappings)',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: '{"mappings":[}',
    status: 400,
    errorPath: '',
  },
  {
    name: 'text/plain body',
    method: 'PUT',
    path: '/gateways/g9',
    body: '{}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
  },
  {
    name: 'body without content type',
    method: 'POST',
    path: `${g}/clients`,
    body: '{"name":"x"}',
    headers: { 'content-type': '' },
    status: 415,
  },
  {
    name: 'body over 1 MiB (gateway PUT)',
    method: 'PUT',
    path: '/gateways/g9',
    body: `{"dnsLabel":"${'a'.repeat(MIB)}"}`,
    status: 413,
  },
  {
    name: 'body over 1 MiB (client POST)',
    method: 'POST',
    path: `${g}/clients`,
    body: `{"csr":"${'a'.repeat(MIB)}"}`,
    status: 413,
  },
  // Wrong types and unknown fields
  {
    name: 'port as a string',
    method: 'PUT',
    path: '/gateways/g9',
    body: { port: '443' },
    status: 400,
    errorPath: '/port',
  },
  {
    name: 'routes not an array',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: '10.0.0.0/16' },
    status: 400,
    errorPath: '/routes',
  },
  {
    name: 'unknown field',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.0/24', colour: 'red' },
    status: 400,
    errorPath: '/colour',
  },
  { name: 'body is an array', method: 'POST', path: `${g}/clients`, body: [], status: 400, errorPath: '' },
  {
    name: 'client name a number',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 7 },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'internal flag a string',
    method: 'PUT',
    path: '/gateways/g9',
    body: { loadBalancer: { internal: 'yes' } },
    status: 400,
    errorPath: '/loadBalancer/internal',
  },
  // Names
  {
    name: 'gateway name uppercase',
    method: 'PUT',
    path: '/gateways/G9',
    body: {},
    status: 400,
    errorPath: '{gateway}',
  },
  {
    name: 'gateway name 58 chars (vpn-<name> and <name>-server would be too long)',
    method: 'PUT',
    path: `/gateways/${'g'.repeat(58)}`,
    body: {},
    status: 400,
    errorPath: '{gateway}',
  },
  {
    name: 'gateway name 64 chars',
    method: 'PUT',
    path: `/gateways/${name64}`,
    body: {},
    status: 400,
    errorPath: '{gateway}',
  },
  {
    name: 'gateway name with /',
    method: 'PUT',
    path: '/gateways/a%2Fb',
    body: {},
    status: 400,
    errorPath: '{gateway}',
  },
  { name: 'gateway name ..', method: 'GET', path: '/gateways/..', status: 400, errorPath: '{gateway}' },
  {
    name: 'gateway name with newline',
    method: 'PUT',
    path: '/gateways/a%0Ab',
    body: {},
    status: 400,
    errorPath: '{gateway}',
  },
  {
    name: 'client name with /',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'a/b' },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'client name ..',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: '..' },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'client name with newline',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'a\nb' },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'client name uppercase',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'Site' },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'client name 64 chars',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: name64 },
    status: 400,
    errorPath: '/name',
  },
  {
    name: 'profile of ../ path',
    method: 'GET',
    path: `${g}/clients/..%2Fc1/profile`,
    status: 400,
    errorPath: '{client}',
  },
  {
    name: 'revoke uppercase client',
    method: 'DELETE',
    path: `${g}/clients/C1`,
    status: 400,
    errorPath: '{client}',
  },
  {
    name: 'revoke with force=maybe',
    method: 'DELETE',
    path: `${g}/clients/c1?force=maybe`,
    status: 400,
    errorPath: '?force',
  },
  // CIDRs
  {
    name: 'vpnSubnet prefix 33',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.0/33' },
    status: 400,
    errorPath: '/vpnSubnet',
  },
  {
    name: 'vpnSubnet with host bits',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.7/24' },
    status: 400,
    errorPath: '/vpnSubnet',
  },
  {
    name: 'vpnSubnet too small (/30)',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.0/30', routes: ['10.0.0.0/16'] },
    status: 400,
  },
  {
    name: 'route not a CIDR',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['10.0.0.0/16', 'cluster'] },
    status: 400,
    errorPath: '/routes/1',
  },
  {
    name: 'route overlapping the vpnSubnet',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.0/24', routes: ['10.9.0.0/16'] },
    status: 400,
  },
  {
    name: 'overlapping routes',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['10.0.0.0/16', '10.0.128.0/17'] },
    status: 400,
  },
  {
    name: 'extra route overlapping a discovered cluster route',
    method: 'PUT',
    path: '/gateways/g9',
    body: { extraRoutes: ['192.168.50.0/24', '10.0.1.0/24'] },
    status: 400,
    errorPath: '/extraRoutes/1',
  },
  {
    name: 'extra route not a CIDR',
    method: 'PUT',
    path: '/gateways/g9',
    body: { extraRoutes: ['10.300.0.0/16'] },
    status: 400,
  },
  {
    name: 'source range not a CIDR',
    method: 'PUT',
    path: '/gateways/g9',
    body: { loadBalancer: { sourceRanges: ['any'] } },
    status: 400,
    errorPath: '/loadBalancer/sourceRanges/0',
  },
  // Static IPs
  {
    name: 'static IP = network',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x1', staticIp: plan.network },
    status: 400,
  },
  {
    name: 'static IP = broadcast',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x2', staticIp: plan.broadcast },
    status: 400,
  },
  {
    name: 'static IP = server',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x3', staticIp: plan.serverIp },
    status: 400,
  },
  {
    name: 'static IP in the dynamic pool',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x4', staticIp: plan.pool.first },
    status: 400,
  },
  {
    name: 'static IP taken',
    method: 'POST',
    path: `${g}/clients`,
    body: () => ({ name: 'x5', staticIp: c1Ip }),
    status: 409,
  },
  {
    name: 'static IP outside the subnet',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x6', staticIp: '10.141.0.10' },
    status: 400,
  },
  {
    name: 'static IP not an address',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x7', staticIp: '10.140.0' },
    status: 400,
    errorPath: '/staticIp',
  },
  // Ports
  {
    name: 'gateway port 0',
    method: 'PUT',
    path: '/gateways/g9',
    body: { port: 0 },
    status: 400,
    errorPath: '/port',
  },
  {
    name: 'gateway port 65536',
    method: 'PUT',
    path: '/gateways/g9',
    body: { port: 65536 },
    status: 400,
    errorPath: '/port',
  },
  {
    name: 'mapping port 0',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, port: 0 }] },
    status: 400,
    errorPath: '/mappings/0/port',
  },
  {
    name: 'mapping port 65536',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, port: 65536 }] },
    status: 400,
    errorPath: '/mappings/0/port',
  },
  {
    name: 'mapping target port 0',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, targetPort: 0 }] },
    status: 400,
    errorPath: '/mappings/0/targetPort',
  },
  {
    name: 'mapping on the VPN port',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, port: 443 }] },
    status: 400,
    errorPath: '/mappings/0/port',
  },
  {
    name: 'duplicate mapping ports',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [GOOD_MAPPING, { ...GOOD_MAPPING, targetPort: 81 }] },
    status: 400,
    errorPath: '/mappings/1/port',
  },
  {
    name: 'mapping protocol icmp',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, protocol: 'icmp' }] },
    status: 400,
    errorPath: '/mappings/0/protocol',
  },
  {
    name: 'mapping to an unknown client',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, client: 'nobody' }] },
    status: 400,
    errorPath: '/mappings/0/client',
  },
  {
    name: 'mapping to a revoked client',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, client: 'c2' }] },
    status: 400,
    errorPath: '/mappings/0/client',
  },
  // CSR and validity
  {
    name: 'CSR not PEM',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x8', csr: 'MIIB...' },
    status: 400,
    errorPath: '/csr',
  },
  {
    name: 'CSR PEM of garbage',
    method: 'POST',
    path: `${g}/clients`,
    body: {
      name: 'x9',
      csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
    },
    status: 400,
  },
  {
    name: 'CSR with a bad signature',
    method: 'POST',
    path: `${g}/clients`,
    body: () => ({ name: 'x10', csr: badSignatureCsr }),
    status: 400,
  },
  {
    name: 'validity 0',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x11', validityDays: 0 },
    status: 400,
    errorPath: '/validityDays',
  },
  {
    name: 'validity beyond the CA',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'x12', validityDays: 3650 },
    status: 400,
  },
  {
    name: 'gateway client validity 0',
    method: 'PUT',
    path: '/gateways/g9',
    body: { clientCertValidityDays: 0 },
    status: 400,
    errorPath: '/clientCertValidityDays',
  },
  // State conflicts and missing things
  { name: 'duplicate client name', method: 'POST', path: `${g}/clients`, body: { name: 'c1' }, status: 409 },
  { name: 'revoke a mapped client without force', method: 'DELETE', path: `${g}/clients/c3`, status: 409 },
  { name: 'profile of a revoked client', method: 'GET', path: `${g}/clients/c2/profile`, status: 409 },
  {
    name: 'vpnSubnet change with clients',
    method: 'PUT',
    path: g,
    body: { vpnSubnet: '10.150.0.0/24', routes: ['10.0.0.0/16', '10.244.0.0/16'] },
    status: 409,
  },
  {
    name: 'client on an unknown gateway',
    method: 'POST',
    path: '/gateways/g9/clients',
    body: { name: 'x13' },
    status: 404,
  },
  { name: 'revoke an unknown client', method: 'DELETE', path: `${g}/clients/nobody`, status: 404 },
  {
    name: 'mappings of an unknown gateway',
    method: 'PUT',
    path: '/gateways/g9/port-mappings',
    body: { mappings: [] },
    status: 404,
  },
  { name: 'restart an unknown gateway', method: 'POST', path: '/gateways/g9/restart', status: 404 },
  { name: 'delete an unknown gateway', method: 'DELETE', path: '/gateways/g9', status: 404 },
  { name: 'unknown operation', method: 'GET', path: '/operations/no-such-op', status: 404 },
  // Accepted by validation once, then broke the data plane or the contract
  {
    name: 'vpnSubnet /29 (OpenVPN refuses a pool of 1)',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '10.9.0.0/29', routes: ['10.0.0.0/16'] },
    status: 400,
    errorPath: '/vpnSubnet',
  },
  {
    name: 'vpnSubnet 0.0.0.0/24 (OpenVPN cannot parse it)',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '0.0.0.0/24', routes: ['10.0.0.0/16'] },
    status: 400,
    errorPath: '/vpnSubnet',
  },
  {
    name: 'vpnSubnet in multicast space',
    method: 'PUT',
    path: '/gateways/g9',
    body: { vpnSubnet: '224.0.0.0/24', routes: ['10.0.0.0/16'] },
    status: 400,
    errorPath: '/vpnSubnet',
  },
  {
    name: "route containing the gateway's publicHost",
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['20.0.0.0/8'], publicHost: '20.50.1.2' },
    status: 400,
    errorPath: '/routes/0',
  },
  {
    name: 'route wider than /8',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['128.0.0.0/1'] },
    status: 400,
    errorPath: '/routes/0',
  },
  {
    name: 'routes splitting everything but the VPN subnet',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: complementOf('10.140.0.0/24') },
    status: 400,
    errorPath: '/routes/0',
  },
  {
    name: "route containing the gateway's load balancer address",
    method: 'PUT',
    path: g,
    body: () => ({ routes: ['10.0.0.0/16', '10.244.0.0/16', `${g1Address}/32`] }),
    status: 400,
    errorPath: '/routes/2',
  },
  {
    name: 'loopback route',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['127.0.0.0/8'] },
    status: 400,
    errorPath: '/routes/0',
  },
  {
    name: 'route with a zero-padded prefix',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['10.0.0.0/08'] },
    status: 400,
    errorPath: '/routes/0',
  },
  {
    name: 'publicHost 0.0.0.0',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['10.0.0.0/16'], publicHost: '0.0.0.0' },
    status: 400,
    errorPath: '/publicHost',
  },
  {
    name: 'merge patch of a gateway',
    method: 'PUT',
    path: g,
    body: '{"port":444}',
    headers: { 'content-type': 'application/merge-patch+json' },
    status: 415,
  },
  {
    name: "gateway default client validity reaching the CA's expiry",
    method: 'PUT',
    path: g,
    body: { routes: ['10.0.0.0/16', '10.244.0.0/16'], clientCertValidityDays: 3650 },
    status: 400,
    errorPath: '/clientCertValidityDays',
  },
  {
    name: 'new gateway default client validity of 3650 days',
    method: 'PUT',
    path: '/gateways/g9',
    body: { routes: ['10.0.0.0/16'], clientCertValidityDays: 3650 },
    status: 400,
    errorPath: '/clientCertValidityDays',
  },
  {
    name: 'revoke with force given twice',
    method: 'DELETE',
    path: `${g}/clients/c1?force=false&force=true`,
    status: 400,
    errorPath: '?force',
  },
  // Branch LANs (c4 holds 192.168.10.0/24, and mapping 8082 targets its host 192.168.10.5)
  ...(
    [
      ['a client subnet overlapping the VPN subnet', ['10.140.0.128/25'], '/subnets/0'],
      ['a client subnet overlapping a pushed route', ['10.0.5.0/24'], '/subnets/0'],
      ['a non-canonical client subnet (host bits)', ['192.168.20.1/24'], '/subnets/0'],
      ['a non-canonical client subnet (leading zero)', ['192.168.020.0/24'], '/subnets/0'],
      ['a client subnet in a special-purpose block', ['169.254.10.0/24'], '/subnets/0'],
      ['a client subnet wider than /8', ['64.0.0.0/3'], '/subnets/0'],
      ['a client subnet listed twice', ['192.168.20.0/24', '192.168.20.0/24'], '/subnets/1'],
      ['two client subnets overlapping each other', ['192.168.20.0/24', '192.168.20.128/25'], '/subnets/1'],
      ['17 client subnets', Array.from({ length: 17 }, (_, i) => `192.168.${20 + i}.0/24`), '/subnets'],
    ] as const
  ).flatMap(([what, subnets, errorPath]): Case[] => [
    {
      name: `${what} (issue)`,
      method: 'POST',
      path: `${g}/clients`,
      body: { name: 'lan-new', subnets },
      status: 400,
      errorPath,
    },
    {
      name: `${what} (subnets PUT)`,
      method: 'PUT',
      path: `${g}/clients/c1/subnets`,
      body: { subnets },
      status: 400,
      errorPath,
    },
  ]),
  {
    name: "a client subnet overlapping another client's (issue)",
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'lan-new', subnets: ['192.168.0.0/16'] },
    status: 409,
  },
  {
    name: 'a client subnet already claimed (issue)',
    method: 'POST',
    path: `${g}/clients`,
    body: { name: 'lan-new', subnets: ['192.168.10.0/24'] },
    status: 409,
  },
  {
    name: 'a client subnet already claimed (subnets PUT)',
    method: 'PUT',
    path: `${g}/clients/c1/subnets`,
    body: { subnets: ['192.168.10.0/25'] },
    status: 409,
  },
  {
    name: 'subnets leaving a mapped targetHost outside',
    method: 'PUT',
    path: `${g}/clients/c4/subnets`,
    body: { subnets: ['192.168.11.0/24'] },
    status: 409,
  },
  {
    name: 'subnets of a revoked client',
    method: 'PUT',
    path: `${g}/clients/c2/subnets`,
    body: { subnets: ['192.168.30.0/24'] },
    status: 409,
  },
  {
    name: 'subnets of an unknown client',
    method: 'PUT',
    path: `${g}/clients/nobody/subnets`,
    body: { subnets: [] },
    status: 404,
  },
  {
    name: 'subnets not an array',
    method: 'PUT',
    path: `${g}/clients/c1/subnets`,
    body: { subnets: '192.168.30.0/24' },
    status: 400,
    errorPath: '/subnets',
  },
  {
    name: 'subnets as a merge patch',
    method: 'PUT',
    path: `${g}/clients/c1/subnets`,
    body: '{"subnets":[]}',
    headers: { 'content-type': 'application/merge-patch+json' },
    status: 415,
  },
  {
    name: "a targetHost outside the client's subnets",
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, client: 'c4', targetHost: '192.168.11.5' }] },
    status: 400,
    errorPath: '/mappings/0/targetHost',
  },
  {
    name: 'a targetHost on a client without subnets',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, targetHost: '192.168.10.5' }] },
    status: 400,
    errorPath: '/mappings/0/targetHost',
  },
  {
    name: 'a targetHost that is not an IPv4 address',
    method: 'PUT',
    path: `${g}/port-mappings`,
    body: { mappings: [{ ...GOOD_MAPPING, client: 'c4', targetHost: 'nas.branch' }] },
    status: 400,
    errorPath: '/mappings/0/targetHost',
  },
  {
    name: "a gateway route overlapping a client's subnet",
    method: 'PUT',
    path: g,
    body: { routes: ['10.0.0.0/16', '10.244.0.0/16'], extraRoutes: ['192.168.0.0/16'] },
    status: 409,
  },
  {
    name: 'profile of %2e%2e (instance as sent)',
    method: 'GET',
    path: `${g}/clients/%2e%2e/profile`,
    status: 400,
    errorPath: '{client}',
    instance: '/api/gateways/g1/clients/%2e%2e/profile',
  },
];

/** The CIDRs that together cover every IPv4 address outside `cidr` (one per prefix length). */
function complementOf(cidr: string): string[] {
  const [address = '', prefix = '0'] = cidr.split('/');
  const network = address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const toIp = (n: number) => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
  return Array.from({ length: Number(prefix) }, (_, i) => {
    const size = 2 ** (32 - (i + 1));
    // The sibling of the block of length i+1 that holds `cidr`.
    const sibling = (Math.floor(network / size) ^ 1) * size;
    return `${toIp(sibling)}/${i + 1}`;
  });
}

const BACKENDS: readonly { name: string; start: () => Promise<ApiBackend> }[] = [
  { name: 'memory fakes', start: memoryBackend },
  { name: 'sandbox', start: sandboxBackend },
];

describe.each(BACKENDS)('bad input over HTTP ($name)', ({ start }) => {
  let backend: ApiBackend;
  let before = { cluster: '', secrets: '' };

  beforeAll(async () => {
    backend = await start();
    const base = backend.url;
    const settle = async (r: { headers: Headers }) => {
      if (backend.runsOperations) await waitForOperation(r.headers.get('operation-location') ?? '');
    };
    const put = await api(base, 'PUT', '/gateways/g1', { routes: ['10.0.0.0/16', '10.244.0.0/16'] });
    expect(put.status).toBe(201);
    await settle(put);
    for (const name of ['c1', 'c2', 'c3'])
      expect((await api(base, 'POST', '/gateways/g1/clients', { name })).status).toBe(201);
    const lan = await api(base, 'POST', '/gateways/g1/clients', { name: 'c4', subnets: ['192.168.10.0/24'] });
    expect(lan.status).toBe(201);
    c1Ip = (await api(base, 'GET', '/gateways/g1/clients/c1')).json<{ ip: string }>().ip;
    g1Address =
      (await api(base, 'GET', '/gateways/g1')).json<{ status: { address?: string } }>().status.address ?? '';
    expect(g1Address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect((await api(base, 'DELETE', '/gateways/g1/clients/c2')).status).toBe(200);
    const mapped = await api(base, 'PUT', '/gateways/g1/port-mappings', {
      mappings: [
        { port: 8081, client: 'c3', targetPort: 80 },
        { port: 8082, client: 'c4', targetPort: 80, targetHost: '192.168.10.5' },
      ],
    });
    expect(mapped.status).toBe(202);
    await settle(mapped);
    badSignatureCsr = csrWithBadSignature();
    before = await backend.snapshot();
    console.log(`bad-input table on the ${backend.name} backend: ${CASES.length} cases`);
  }, 300_000);

  afterAll(async () => {
    await backend?.stop();
  });

  it('covers at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)('refuses $name with $status and changes nothing', async (c) => {
    // WHEN
    const response = await raw(backend.url, c);
    // THEN the right 4xx as problem+json
    const problem = JSON.parse(response.body) as { status: number; errors?: { path: string }[] };
    expect({ case: c.name, status: response.status, type: response.contentType }).toStrictEqual({
      case: c.name,
      status: c.status,
      type: 'application/problem+json',
    });
    expect(problem.status).toBe(c.status);
    if (c.errorPath !== undefined) expect(problem.errors?.map((e) => e.path)).toContain(c.errorPath);
    if (c.instance !== undefined) expect((problem as { instance?: string }).instance).toBe(c.instance);
    // AND nothing changed anywhere
    expect(await backend.snapshot()).toStrictEqual(before);
  });

  it('answers HEAD on a GET route with the GET status and no content (RFC 9110)', async () => {
    const head = await raw(backend.url, { name: 'HEAD', method: 'HEAD', path: '/gateways', status: 400 });
    expect({ status: head.status, type: head.contentType, body: head.body }).toStrictEqual({
      status: 200,
      type: 'application/json',
      body: '',
    });
  });

  it('reports no CRL expiry and no discovery note on a fresh gateway with routes given', async () => {
    const view = (await api(backend.url, 'GET', '/gateways/g1')).json<{ status: { message?: string } }>();
    expect(view.status.message).toBeUndefined();
  });
});
