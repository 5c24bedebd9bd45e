/**
 * The two multi-step client operations as state machines with a recorded intent (README, "State machine"):
 *
 *   issue   pending (serial and address reserved) → material stored → CCD entry → active
 *   revoke  revoking (serial joins the CRL) → CRL deployed → CCD entry removed → material disabled →
 *           port mappings deployed → revoked
 *
 * The intent is the first write, made in the same conditional write of the `state` ConfigMap that takes the
 * decisions. Every later step is idempotent and keyed by the recorded serial, so the request, a retry of
 * it or the reconciler can run the rest from any point, also at the same time: a step that comes late
 * (a CCD entry or material written after the client's revocation was recorded) is undone by its own
 * writer, which reads the state again in the conditional write that ends the issue.
 */
import {
  ConflictError,
  DomainError,
  InternalError,
  NotFoundError,
  UpstreamError,
  toDomainError,
} from '../errors.js';
import { planAddresses, renderCcdEntry, renderClientProfile, serverCommonName } from '../openvpn/index.js';
import type { CaMaterial, IssuedCert } from '../pki/index.js';
import { canonicalSerial, crlSerials, issueClientCert } from '../pki/index.js';
import type { GatewayDeps } from './deps.js';
import { removeCcdEntry, writeCcdEntries } from './ccd.js';
import { addDays, readServerPki, requireCa } from './gateway-pki.js';
import {
  GatewayDeletingError,
  readState,
  requireNotDeleting,
  takeBackIfDeleting,
  updateState,
} from './gateway-state.js';
import { deployCrlOf, withCrlRecorded, writeCurrentCrl } from './crl.js';
import { gatewayAddress } from './gateways.js';
import { mappingsDeployed, syncPortMappings } from './port-mappings.js';
import type { ClientRecord, GatewayState } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';

/** The record of `name` with `serial` in `state`, if it is still that record. */
function sameRecord(state: GatewayState, record: ClientRecord): ClientRecord | undefined {
  return state.clients.find((c) => c.name === record.name && c.serial === record.serial);
}

/**
 * Runs the rest of a pending issue: stores the client's material (signed again under the reserved serial
 * when the certificate of the request that reserved it is not at hand and the store lacks it), writes its
 * CCD entry, then flips it to `active` in a conditional write. Returns the record as completed.
 * `cert` is the certificate the reserving request signed (absent for a retry or the reconciler).
 * ConflictError when the client was revoked while being issued (what this call added is undone first).
 */
export async function completeIssue(
  deps: GatewayDeps,
  state: GatewayState,
  record: ClientRecord,
  cert?: IssuedCert,
): Promise<ClientRecord> {
  const gateway = state.spec.name;
  if (record.status !== 'pending') return record;
  // A gateway being deleted gets no new material: its deletion may have deleted the gateway's secrets.
  requireNotDeleting(state);
  try {
    await storeMaterial(deps, state, record, cert);
  } catch (e: unknown) {
    // The store refuses the name for good (e.g. Key Vault keeps a soft-deleted secret of that name):
    // the intent is rolled back so the name is free again, instead of pending for ever.
    if (e instanceof DomainError && !(e instanceof UpstreamError)) await abandonIssue(deps, gateway, record);
    throw e;
  }
  // The conditional write that ends the issue also re-reads the record after the CCD and material writes:
  // if a revocation was recorded meanwhile, those writes may have landed after its own removals; if the
  // gateway's deletion was (the write is refused then, or the gateway is gone), after the deletion's.
  const after = await (async () => {
    await writeCcdEntries(deps, state, {
      [record.name]: renderCcdEntry(planAddresses(state.spec.vpnSubnet), record.ip, record.subnets),
    });
    return updateState(
      deps.cluster,
      gateway,
      (s) => {
        const current = sameRecord(s, record);
        if (current?.status !== 'pending') return undefined;
        const active: ClientRecord = {
          name: current.name,
          ip: current.ip,
          serial: current.serial,
          issuedAt: current.issuedAt,
          notAfter: current.notAfter,
          status: 'active',
          keySource: current.keySource,
          ...(current.keyType !== undefined ? { keyType: current.keyType } : {}),
          ...(current.subnets !== undefined ? { subnets: current.subnets } : {}),
        };
        return { ...s, clients: s.clients.map((c) => (c === current ? active : c)) };
      },
      { from: state },
    );
  })().catch(async (e: unknown) => {
    if (e instanceof GatewayDeletingError || e instanceof NotFoundError)
      await takeBackIfDeleting(deps, gateway, record.name);
    throw e;
  });
  const final = sameRecord(after, record);
  if (final?.status === 'active') return final;
  if (final) {
    await deps.secrets.revokeClient(gateway, record.name);
    await writeCcdEntries(deps, after, { [record.name]: null });
  }
  throw new ConflictError(`client '${record.name}' was revoked while it was being issued`);
}

async function storeMaterial(
  deps: GatewayDeps,
  state: GatewayState,
  record: ClientRecord,
  cert: IssuedCert | undefined,
): Promise<void> {
  const gateway = state.spec.name;
  let issued = cert;
  if (!issued) {
    const [stored] = await deps.secrets.listClients(gateway, [record.name]);
    if (stored?.enabled && stored.serial === record.serial) return;
    issued = await signReserved(deps, gateway, record);
  }
  // Without an address yet (no load balancer, no publicHost) the profile is stored empty: it is rendered
  // again on every download anyway.
  const profile = await renderProfile(deps, state, issued.certPem, issued.keyPem).catch((e: unknown) => {
    if (e instanceof ConflictError) return '';
    throw e;
  });
  await deps.secrets.putClient(
    gateway,
    record.name,
    { certPem: issued.certPem, ...(issued.keyPem ? { keyPem: issued.keyPem } : {}), profile },
    { serial: record.serial, notAfter: record.notAfter },
  );
}

/**
 * The certificate of a pending issue, signed again: same serial, same validity, same subject; the CSR's
 * key or a new key pair. The first certificate under that serial never left the process that signed it
 * (nothing stored it, nobody downloaded it), so no two certificates with one serial are ever in use.
 */
async function signReserved(deps: GatewayDeps, gateway: string, record: ClientRecord): Promise<IssuedCert> {
  if (record.keySource === 'csr' && record.csr === undefined)
    throw new InternalError(`pending client '${record.name}' has lost the CSR it was issued from`);
  const issuedAt = new Date(record.issuedAt);
  const days = Math.round((Date.parse(record.notAfter) - issuedAt.getTime()) / 86_400_000);
  if (addDays(issuedAt, days).toISOString() !== record.notAfter)
    throw new InternalError(`pending client '${record.name}' has a validity of no whole number of days`);
  return issueClientCert(await requireCa(deps, gateway), {
    commonName: record.name,
    validityDays: days,
    now: issuedAt,
    serial: record.serial,
    ...(record.csr !== undefined ? { csrPem: record.csr } : { keyType: record.keyType ?? DEFAULT_KEY_TYPE }),
  });
}

/** Rolls back a pending issue that can never complete: its record, then its CCD entry. */
async function abandonIssue(deps: GatewayDeps, gateway: string, record: ClientRecord): Promise<void> {
  // A roll-back takes something away: allowed while the gateway is being deleted.
  const after = await updateState(
    deps.cluster,
    gateway,
    (s) =>
      sameRecord(s, record)?.status === 'pending'
        ? { ...s, clients: s.clients.filter((c) => c.serial !== record.serial) }
        : undefined,
    { duringDeletion: true },
  );
  if (!after.clients.some((c) => c.name === record.name))
    await writeCcdEntries(deps, after, { [record.name]: null });
  deps.log.warn('rolled back an issue that cannot complete', {
    gateway,
    client: record.name,
    serial: record.serial,
  });
}

/** The profile of a client of `state` (a state the request already holds: it is not read again). */
export async function renderProfile(
  deps: GatewayDeps,
  state: GatewayState,
  certPem: string,
  keyPem?: string,
): Promise<string> {
  const gateway = state.spec.name;
  const pki = await readServerPki(deps, gateway);
  if (!pki) throw new ConflictError(`gateway '${gateway}' has no server PKI yet`);
  const remoteHost = await gatewayAddress(deps, state.spec);
  if (!remoteHost)
    throw new ConflictError(
      `gateway '${gateway}' has no address yet: set publicHost or dnsLabel, or wait for the load balancer`,
    );
  return renderClientProfile({
    remoteHost,
    port: state.spec.port,
    serverCommonName: serverCommonName(gateway),
    caPem: pki.caCrt,
    certPem,
    ...(keyPem ? { keyPem } : {}),
    tlsCryptKey: pki.tlsCryptKey,
  });
}

/** Whether the CRL in the gateway's `server-pki` Secret (what the pod reads) lists every one of `serials`. */
async function deployedCrlLists(deps: GatewayDeps, gateway: string, serials: readonly string[]) {
  if (serials.length === 0) return true;
  const pki = await readServerPki(deps, gateway);
  if (!pki) return false;
  const listed = crlSerials(pki.crlPem);
  return serials.every((s) => listed.has(canonicalSerial(s)));
}

/**
 * Makes the deployed CRL list every serial the state says is revoked (or being revoked): re-signs it from
 * the latest state when one is missing. UpstreamError when it still does not (the CRL kept changing).
 * True when it wrote a CRL.
 */
export async function ensureCrlDeployed(deps: GatewayDeps, gateway: string): Promise<boolean> {
  const wanted = (await readState(deps.cluster, gateway)).clients.filter(
    (c) => c.status === 'revoking' || c.status === 'revoked',
  );
  if (
    await deployedCrlLists(
      deps,
      gateway,
      wanted.map((c) => c.serial),
    )
  )
    return false;
  await writeCurrentCrl(deps, gateway, await requireCa(deps, gateway));
  if (
    !(await deployedCrlLists(
      deps,
      gateway,
      wanted.map((c) => c.serial),
    ))
  )
    throw new UpstreamError(`the CRL of gateway '${gateway}' does not list every revoked serial yet`);
  return true;
}

export interface RevocationResult {
  readonly record: ClientRecord;
}

/**
 * Runs the rest of a recorded revocation (or repairs a complete one): the deployed CRL lists the serial,
 * the CCD entry is gone, the material is disabled, the deployed port mappings match the state; then a
 * `revoking` record is flipped to `revoked`. Each step writes only when something is missing, so running
 * it on a complete revocation changes nothing.
 */
export async function completeRevocation(
  deps: GatewayDeps,
  state: GatewayState,
  record: ClientRecord,
  /** The CA when the caller has already read it. */
  ca?: CaMaterial,
): Promise<RevocationResult> {
  const gateway = state.spec.name;
  // A fresh CRL for the revocation (its number was raised with the intent), signed from the state in hand;
  // its dates are recorded by the write that ends the revocation. The deployed CRL is then one signed from
  // a state holding this revocation (ours, or a newer one it does not overwrite): no need to read it back.
  // A repair of a complete revocation checks it.
  const deployed =
    record.status === 'revoking'
      ? await deployCrlOf(deps, gateway, ca ?? (await requireCa(deps, gateway)), state)
      : undefined;
  if (record.status !== 'revoking' && !(await deployedCrlLists(deps, gateway, [record.serial])))
    await ensureCrlDeployed(deps, gateway);
  await removeCcdEntry(deps, state, record.name);
  await deps.secrets.revokeClient(gateway, record.name);
  // The ConfigMap and the `pm-<port>` Services both: a sync may have stopped between them. The pod's
  // watcher takes the mappings out live.
  // `state` has this revocation's mappings removed: deployed as it says, they are out of the pod's set (a
  // later change is its own writer's to deploy).
  if (!(await mappingsDeployed(deps, state))) await syncPortMappings(deps, gateway);
  const after = await updateState(
    deps.cluster,
    gateway,
    (s) => {
      const current = sameRecord(s, record);
      const recorded = deployed && withCrlRecorded(s, deployed);
      if (current?.status !== 'revoking') return recorded;
      const revoked = { ...current, status: 'revoked' as const };
      return { ...(recorded ?? s), clients: s.clients.map((c) => (c === current ? revoked : c)) };
    },
    { from: state },
  );
  const final = sameRecord(after, record);
  if (!final) throw new ConflictError(`client '${record.name}' is no longer on gateway '${gateway}'`);
  return { record: final };
}

/**
 * Completes the client's recorded intent, if it has one (the read path and a retried request call this):
 * the record as it is afterwards. A failure is logged and the record returned as it was, so a read never
 * fails because a completion could not run yet.
 */
export async function settleClient(
  deps: GatewayDeps,
  state: GatewayState,
  record: ClientRecord,
): Promise<ClientRecord> {
  try {
    if (record.status === 'pending') return await completeIssue(deps, state, record);
    if (record.status === 'revoking') return (await completeRevocation(deps, state, record)).record;
  } catch (e: unknown) {
    deps.log.warn('could not complete the client yet', {
      gateway: state.spec.name,
      client: record.name,
      status: record.status,
      error: toDomainError(e).message,
    });
    const latest = sameRecord(await readState(deps.cluster, state.spec.name), record);
    if (latest) return latest;
  }
  return record;
}
