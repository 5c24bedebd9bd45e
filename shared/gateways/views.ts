/** What the API returns: plain JSON views of the domain records. */
import type {
  ClientRecord,
  CrlInfo,
  GatewaySpec,
  GatewayStatus,
  KeyType,
  PortMapping,
} from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';

export interface GatewayView {
  readonly name: string;
  readonly vpnSubnet: string;
  readonly routes: readonly string[];
  readonly port: number;
  readonly dnsLabel?: string | undefined;
  readonly publicHost?: string | undefined;
  readonly loadBalancer: GatewaySpec['loadBalancer'];
  readonly clientCertValidityDays: number;
  readonly keyType: KeyType;
  readonly createdAt: string;
  readonly clients: { readonly active: number; readonly revoked: number };
  readonly crl: CrlInfo;
  readonly portMappings: readonly PortMapping[];
  readonly status: GatewayStatus;
}

export interface ClientView {
  readonly gateway: string;
  readonly name: string;
  readonly ip: string;
  readonly serial: string;
  readonly issuedAt: string;
  readonly notAfter: string;
  readonly status: ClientRecord['status'];
  readonly revokedAt?: string | undefined;
  readonly keySource: ClientRecord['keySource'];
  readonly keyType: KeyType;
}

export function clientView(gateway: string, c: ClientRecord): ClientView {
  return {
    gateway,
    name: c.name,
    ip: c.ip,
    serial: c.serial,
    issuedAt: c.issuedAt,
    notAfter: c.notAfter,
    status: c.status,
    ...(c.revokedAt ? { revokedAt: c.revokedAt } : {}),
    keySource: c.keySource,
    keyType: c.keyType ?? DEFAULT_KEY_TYPE,
  };
}
