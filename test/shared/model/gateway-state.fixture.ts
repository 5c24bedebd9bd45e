import type { GatewayState } from '../../../shared/model/gateway.js';

/** A gateway state with an active generated-key client, a revoked CSR client and a port mapping. */
const spec = {
  name: 'gw',
  vpnSubnet: '10.140.0.0/24',
  routes: ['10.0.0.0/16'],
  port: 443,
  dnsLabel: 'gw-vpn',
  loadBalancer: { internal: true, sourceRanges: ['198.51.100.0/24'] },
  clientCertValidityDays: 365,
};
export const state: GatewayState = {
  spec,
  clients: [
    {
      name: 'a',
      ip: '10.140.0.2',
      serial: '0a1b',
      issuedAt: '2026-11-22T12:00:00.123Z',
      notAfter: '2027-11-22T12:00:00.000Z',
      status: 'active',
      keySource: 'generated',
    },
    {
      name: 'b',
      ip: '10.140.0.3',
      serial: '0c2d',
      issuedAt: '2026-11-22T12:00:00.000Z',
      notAfter: '2027-11-22T12:00:00.000Z',
      status: 'revoked',
      revokedAt: '2026-11-23T00:00:00.000Z',
      keySource: 'csr',
    },
  ],
  portMappings: [{ port: 8081, client: 'a', targetPort: 80, protocol: 'tcp' }],
  crl: { number: 2, thisUpdate: '2026-11-22T12:00:00.000Z', nextUpdate: '2026-12-22T12:00:00.000Z' },
  server: { serial: '7f00', notAfter: '2031-11-22T12:00:00.000Z' },
  createdAt: '2026-11-22T12:00:00.000Z',
};
