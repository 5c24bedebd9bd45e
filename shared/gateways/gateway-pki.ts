/**
 * The gateway's server-side PKI: the CA (only in the secret store), and the `server-pki` Secret the pod
 * mounts (CA certificate, server certificate and key, tls-crypt key, CRL). Creation and repair live here
 * so a retried request after a partial failure converges instead of leaving a half-made gateway.
 */
import { ConflictError, UpstreamError } from '../errors.js';
import type { CaMaterial, IssuedCert } from '../pki/index.js';
import { buildCrl, createCa, generateTlsCryptKey, issueServerCert } from '../pki/index.js';
import { serverCommonName } from '../openvpn/index.js';
import type { GatewayDeps } from './deps.js';
import { takeBackIfDeleting, updateState } from './gateway-state.js';
import type { CrlInfo, GatewayState, ServerPki } from '../model/gateway.js';
import { inCrl } from '../model/gateway.js';
import { OBJECTS, namespaceOf } from '../model/names.js';
import { parseServerPkiSecretData } from '../model/server-pki-codec.js';

const DAY_MS = 86_400_000;

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

/** Whole days from `now` until `until` (0 when it has passed). */
export function wholeDaysUntil(now: Date, until: Date): number {
  return Math.max(0, Math.floor((until.getTime() - now.getTime()) / DAY_MS));
}

/** Everything a brand-new gateway needs, generated in memory (nothing written yet). */
export interface FreshPki {
  readonly ca: CaMaterial;
  readonly server: IssuedCert;
  readonly pki: ServerPki;
  readonly crl: CrlInfo;
}

export async function generatePki(
  deps: Pick<GatewayDeps, 'config'>,
  gateway: string,
  now: Date,
  revoked: GatewayState['clients'] = [],
  crlNumber = 1,
): Promise<FreshPki> {
  const ca = await createCa({ commonName: `${gateway} VPN CA`, now });
  return completePki(deps, gateway, ca, now, revoked, crlNumber);
}

async function completePki(
  deps: Pick<GatewayDeps, 'config'>,
  gateway: string,
  ca: CaMaterial,
  now: Date,
  revoked: GatewayState['clients'],
  crlNumber: number,
): Promise<FreshPki> {
  const server = await issueServerCert(ca, { commonName: serverCommonName(gateway), now });
  if (!server.keyPem) throw new UpstreamError('server certificate was issued without a key');
  const crl = signCrl(deps, ca, revoked, crlNumber, now);
  return {
    ca,
    server,
    pki: {
      caCrt: ca.certPem,
      serverCrt: server.certPem,
      serverKey: server.keyPem,
      tlsCryptKey: generateTlsCryptKey(),
      crlPem: crl.pem,
    },
    crl: crl.info,
  };
}

/** Signs a CRL listing every client of `clients` whose revocation is recorded (revoking or revoked). */
export function signCrl(
  deps: Pick<GatewayDeps, 'config'>,
  ca: CaMaterial,
  clients: GatewayState['clients'],
  crlNumber: number,
  now: Date,
): { pem: string; info: CrlInfo } {
  const nextUpdate = addDays(now, deps.config.CRL_VALIDITY_DAYS);
  const revoked = clients.filter(inCrl).map((c) => ({
    serial: c.serial,
    revokedAt: new Date(c.revokedAt ?? now.toISOString()),
    reason: 'cessationOfOperation' as const,
  }));
  const pem = buildCrl(ca, { revoked, crlNumber, thisUpdate: now, nextUpdate });
  return {
    pem,
    info: { number: crlNumber, thisUpdate: now.toISOString(), nextUpdate: nextUpdate.toISOString() },
  };
}

/** The `server-pki` Secret's content, or undefined when any key is missing. */
export async function readServerPki(
  deps: Pick<GatewayDeps, 'cluster'>,
  gateway: string,
): Promise<ServerPki | undefined> {
  const secret = await deps.cluster.readSecret(namespaceOf(gateway), OBJECTS.serverPki);
  return secret ? parseServerPkiSecretData(secret.data) : undefined;
}

/** The error of a gateway whose CA is gone from the secret store. */
export function missingCa(gateway: string): UpstreamError {
  return new UpstreamError(
    `the CA of gateway '${gateway}' is missing from the secret store: certificates cannot be issued or revoked`,
  );
}

/** The gateway CA from the secret store; a clear error when it is gone. */
export async function requireCa(deps: Pick<GatewayDeps, 'secrets'>, gateway: string): Promise<CaMaterial> {
  const ca = await deps.secrets.getCa(gateway);
  if (!ca) throw missingCa(gateway);
  return ca;
}

/**
 * Returns the gateway's server PKI, repairing what an interrupted creation left missing: a missing CA
 * is regenerated only while the gateway has no clients (otherwise their certificates would be orphaned),
 * and a missing `server-pki` Secret is re-issued from the CA. `repaired` says whether the Secret must be
 * (re-)applied.
 */
export async function ensurePki(
  deps: GatewayDeps,
  state: GatewayState,
): Promise<{ pki: ServerPki; state: GatewayState; repaired: boolean }> {
  const gateway = state.spec.name;
  const existing = await readServerPki(deps, gateway);
  const stored = await deps.secrets.getCa(gateway);
  if (existing && stored) return { pki: existing, state, repaired: false };
  if (!stored && state.clients.length > 0)
    throw new ConflictError(
      `the CA of gateway '${gateway}' is missing from the secret store while ${state.clients.length} client(s) exist: delete and re-create the gateway`,
    );
  const now = deps.clock();
  const ca = stored ?? (await createCa({ commonName: `${gateway} VPN CA`, now }));
  if (!stored) await deps.secrets.putCa(gateway, ca);
  const fresh = await completePki(deps, gateway, ca, now, state.clients, state.crl.number + 1);
  const written = await updateState(deps.cluster, gateway, (s) => ({
    ...s,
    server: { serial: fresh.server.serial, notAfter: fresh.server.notAfter.toISOString() },
    crl: fresh.crl,
  })).catch(async (e: unknown) => {
    // Refused (or gone) because a DELETE came meanwhile: a CA put above may have landed after the
    // deletion deleted the gateway's secrets.
    if (!stored) await takeBackIfDeleting(deps, gateway);
    throw e;
  });
  deps.log.warn('repaired the server PKI of a gateway', { gateway, caRegenerated: !existing });
  return { pki: fresh.pki, state: written, repaired: true };
}

export interface ExpiringCertificate {
  readonly kind: 'server' | 'client';
  readonly name: string;
  readonly notAfter: string;
}

/** The server certificate and active client certificates whose notAfter is within `days` of `now`. */
export function expiringCertificates(state: GatewayState, now: Date, days: number): ExpiringCertificate[] {
  const horizon = addDays(now, days).toISOString();
  return [
    ...(state.server.notAfter <= horizon
      ? [{ kind: 'server' as const, name: state.spec.name, notAfter: state.server.notAfter }]
      : []),
    ...state.clients
      .filter((c) => c.status === 'active' && c.notAfter <= horizon)
      .map((c) => ({ kind: 'client' as const, name: c.name, notAfter: c.notAfter })),
  ];
}
