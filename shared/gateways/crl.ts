/**
 * The gateway CRL: read, re-sign after a revocation, and the periodic refresh that keeps `nextUpdate`
 * in the future (an expired CRL locks out every client).
 */
import { ConflictError, NotFoundError, toDomainError } from '../errors.js';
import type { CaMaterial } from '../pki/index.js';
import { canonicalSerial, crlNeedsRenewal, crlNumberOf, crlSerials } from '../pki/index.js';
import type { GatewayDeps } from './deps.js';
import type { ExpiringCertificate } from './gateway-pki.js';
import { expiringCertificates, readServerPki, requireCa, signCrl } from './gateway-pki.js';
import { findState, managedGatewayNames, readState, updateState } from './gateway-state.js';
import type { CrlInfo, GatewayState } from '../model/gateway.js';
import { inCrl } from '../model/gateway.js';
import { CRL_NUMBER_KEY, OBJECTS, SERVER_PKI_KEYS, namespaceOf } from '../model/names.js';

const MAX_CRL_WRITES = 5;

/**
 * Signs the CRL of the latest state and writes it to the `server-pki` Secret, then records its dates
 * in the state if no newer CRL number appeared meanwhile; otherwise signs again from the newer state.
 * So the last CRL written always reflects every revocation committed before it. Returns the latest state
 * it read or wrote (the caller's next write starts from it).
 */
export async function writeCurrentCrl(
  deps: GatewayDeps,
  gateway: string,
  ca: CaMaterial,
  /** The state the caller has just written or read: the first CRL is signed from it without a read. */
  known?: GatewayState,
): Promise<GatewayState> {
  let latest = known;
  for (let attempt = 0; attempt < MAX_CRL_WRITES; attempt += 1) {
    const state = latest ?? (await readState(deps.cluster, gateway));
    const deployed = await deployCrlOf(deps, gateway, ca, state);
    if (!deployed) return state;
    latest = await updateState(deps.cluster, gateway, (s) => withCrlRecorded(s, deployed), { from: state });
    if (latest.crl.number === deployed.number) return latest;
  }
  deps.log.warn('CRL kept changing while being written; the next revocation or refresh will converge', {
    gateway,
  });
  return latest ?? (await readState(deps.cluster, gateway));
}

/**
 * Signs the CRL of `state` and writes it to the `server-pki` Secret, unless a CRL with a number at least
 * as high already deployed lists its serials (it was signed from a later state, and its writer records
 * it). The dates of the CRL it deployed, for the caller to record in the state (`withCrlRecorded`).
 */
export async function deployCrlOf(
  deps: GatewayDeps,
  gateway: string,
  ca: CaMaterial,
  state: GatewayState,
): Promise<CrlInfo | undefined> {
  const signed = signCrl(deps, ca, state.clients, state.crl.number, deps.clock());
  const wrote = await deployIfNewer(deps, gateway, signed.pem, signed.info.number, revokedSerials(state));
  return wrote ? signed.info : undefined;
}

/**
 * `s` with the deployed CRL's dates recorded; undefined when a newer CRL number was raised meanwhile (its
 * writer records its own) or these dates are recorded already.
 */
export function withCrlRecorded(s: GatewayState, deployed: CrlInfo): GatewayState | undefined {
  if (s.crl.number !== deployed.number || s.crl.thisUpdate === deployed.thisUpdate) return undefined;
  return { ...s, crl: deployed };
}

/**
 * Writes the CRL to the `server-pki` Secret unless the deployed one has a number at least as high and
 * lists every serial of ours, in a write conditional on the version read: two revocations racing cannot
 * leave the older CRL deployed after the newer one (which would take a serial recorded `revoked` out of
 * the pod's CRL). False when the deployed CRL already covers ours.
 */
async function deployIfNewer(
  deps: GatewayDeps,
  gateway: string,
  pem: string,
  number: number,
  serials: readonly string[],
): Promise<boolean> {
  const ns = namespaceOf(gateway);
  for (let attempt = 0; attempt < MAX_CRL_WRITES; attempt += 1) {
    const secret = await deps.cluster.readSecret(ns, OBJECTS.serverPki);
    if (!secret) throw new NotFoundError(`gateway '${gateway}' has no server-pki Secret`);
    const deployed = secret.data[SERVER_PKI_KEYS.crlPem];
    if (deployed !== undefined && covers(deployed, number, serials)) return false;
    try {
      await deps.cluster.patchSecretData(
        ns,
        OBJECTS.serverPki,
        // Its number beside it: the pod reports the number it holds without parsing the CRL.
        { [SERVER_PKI_KEYS.crlPem]: pem, [CRL_NUMBER_KEY]: String(number) },
        secret.resourceVersion,
      );
      return true;
    } catch (e: unknown) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
  throw new ConflictError(`the CRL of gateway '${gateway}' kept changing while being written`);
}

/** Whether a deployed CRL is as new as `number` and lists `serials`; a CRL that cannot be read is not. */
function covers(deployed: string, number: number, serials: readonly string[]): boolean {
  try {
    if ((crlNumberOf(deployed) ?? -1) < number) return false;
    const listed = crlSerials(deployed);
    return serials.every((s) => listed.has(canonicalSerial(s)));
  } catch {
    return false;
  }
}

const revokedSerials = (state: GatewayState): string[] => state.clients.filter(inCrl).map((c) => c.serial);

/** GET /gateways/{gateway}/crl: the PEM of the current CRL. */
export async function getCrl(deps: GatewayDeps, gateway: string): Promise<string> {
  await readState(deps.cluster, gateway);
  const pki = await readServerPki(deps, gateway);
  if (!pki) throw new NotFoundError(`gateway '${gateway}' has no CRL yet`);
  return pki.crlPem;
}

export interface CrlRefreshReport {
  readonly gateway: string;
  readonly renewed: boolean;
  readonly nextUpdate?: string | undefined;
  readonly expiring: readonly ExpiringCertificate[];
  readonly error?: string | undefined;
}

/**
 * The timer's use-case: re-signs every gateway's CRL whose nextUpdate is within CRL_RENEW_BEFORE_DAYS,
 * and reports certificates expiring within EXPIRY_WARNING_DAYS. One gateway's failure does not stop the others.
 */
export async function refreshCrls(deps: GatewayDeps): Promise<CrlRefreshReport[]> {
  const gateways = await managedGatewayNames(deps);
  const reports: CrlRefreshReport[] = [];
  for (const gateway of gateways) {
    try {
      reports.push(await refreshOne(deps, gateway));
    } catch (e: unknown) {
      const error = toDomainError(e).message;
      deps.log.error('CRL refresh failed', { gateway, error });
      reports.push({ gateway, renewed: false, expiring: [], error });
    }
  }
  return reports;
}

async function refreshOne(deps: GatewayDeps, gateway: string): Promise<CrlRefreshReport> {
  const state = await findState(deps.cluster, gateway);
  // A gateway being deleted takes no writes (and its CRL goes with it).
  if (!state || state.deleting) return { gateway, renewed: false, expiring: [] };
  const now = deps.clock();
  const expiring = expiringCertificates(state, now, deps.config.EXPIRY_WARNING_DAYS);
  for (const e of expiring) deps.log.warn('certificate expires soon', { gateway, ...e });
  if (!crlNeedsRenewal(new Date(state.crl.nextUpdate), now, deps.config.CRL_RENEW_BEFORE_DAYS))
    return { gateway, renewed: false, nextUpdate: state.crl.nextUpdate, expiring };
  const ca = await requireCa(deps, gateway);
  await updateState(deps.cluster, gateway, (s) => ({ ...s, crl: { ...s.crl, number: s.crl.number + 1 } }));
  await writeCurrentCrl(deps, gateway, ca);
  const after = await readState(deps.cluster, gateway);
  deps.log.info('CRL re-signed', { gateway, crlNumber: after.crl.number, nextUpdate: after.crl.nextUpdate });
  return { gateway, renewed: true, nextUpdate: after.crl.nextUpdate, expiring };
}
