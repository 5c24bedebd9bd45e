/**
 * Client use-cases: issue (generated key or CSR), read, list, profile, revoke.
 *
 * Consistency: the `state` ConfigMap is the record of truth, written with resourceVersion preconditions,
 * so concurrent issues on one gateway each get a distinct address. Issue and revocation record their
 * intent first and are completed idempotently (`client-lifecycle.ts`): by the request, a retry, a read of
 * the client, or the reconciler. CCD entries are merge-patched key by key (patches of different keys
 * commute), and the CRL is re-derived from the state after every write until the CRL written matches the
 * latest state, so no concurrent revocation is ever lost.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import { allocateStaticIp, planAddresses } from '../openvpn/index.js';
import type { IssuedCert } from '../pki/index.js';
import { issueClientCert, readCertificateInfo } from '../pki/index.js';
import type { GatewayDeps } from './deps.js';
import type { PodReport } from './gateway-status.js';
import { readPodReport } from './gateway-status.js';
import { writeCcdEntries } from './ccd.js';
import { completeIssue, completeRevocation, renderProfile, settleClient } from './client-lifecycle.js';
import { clusterCidrs, requireSubnetsAllowed, sortedSubnets } from './client-subnets.js';
import { addDays, missingCa, requireCa, wholeDaysUntil } from './gateway-pki.js';
import { readState, requireNotDeleting, updateState } from './gateway-state.js';
import { removeMappingsOf } from './port-mappings.js';
import { requireNameNotReserved, reservations } from './enrollment-reservations.js';
import type { ClientRecord, GatewayState } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';
import type { ClientResponse, IssueClientBody } from '../api/schemas.js';

/** A client as the API answers it. */
function clientView(gateway: string, c: ClientRecord): ClientResponse {
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
    subnets: c.subnets ?? [],
  };
}

function findClient(state: GatewayState, name: string): ClientRecord {
  const client = state.clients.find((c) => c.name === name);
  if (!client) throw new NotFoundError(`client '${name}' does not exist on gateway '${state.spec.name}'`);
  return client;
}

/**
 * Whether a request to issue `input` is the one that recorded `record` (or the same again): same key
 * source, same CSR, and the address and validity it asked for, if it asked. A retry of an interrupted
 * issue is then completed and answered as the first attempt would have been.
 */
function sameRequest(record: ClientRecord, input: IssueClientBody): boolean {
  if ((input.csr !== undefined) !== (record.keySource === 'csr')) return false;
  if (input.csr !== undefined && input.csr.trim() !== record.csr?.trim()) return false;
  if (input.staticIp !== undefined && input.staticIp !== record.ip) return false;
  if (input.keyType !== undefined && input.keyType !== (record.keyType ?? DEFAULT_KEY_TYPE)) return false;
  if (sortedSubnets(input.subnets ?? []).join(' ') !== (record.subnets ?? []).join(' ')) return false;
  return (
    input.validityDays === undefined ||
    addDays(new Date(record.issuedAt), input.validityDays).toISOString() === record.notAfter
  );
}

/**
 * POST /gateways/{gateway}/clients. The first write records the intent (`pending`, with the reserved
 * serial and address, in the conditional write that decides them); then the material and the CCD entry;
 * then `active` (see `client-lifecycle.ts`). A retry of the same request while the client is still
 * pending completes it and gets the same answer (same serial, address, validity).
 */
export async function issueClient(
  deps: GatewayDeps,
  gateway: string,
  input: IssueClientBody,
): Promise<ClientResponse> {
  let before = await readState(deps.cluster, gateway);
  // Fail fast before any key is made; the conditional write below refuses it again.
  requireNotDeleting(before);
  const taken = before.clients.find((c) => c.name === input.name);
  if (taken?.status === 'pending' && sameRequest(taken, input))
    return clientView(gateway, await completeIssue(deps, before, taken));
  if (taken) {
    if (!(await forgetIfAbandoned(deps, before, taken)))
      throw new ConflictError(`client '${input.name}' already exists on gateway '${gateway}'`);
    before = await readState(deps.cluster, gateway);
  }
  const now = deps.clock();
  const plan = planAddresses(before.spec.vpnSubnet);
  const subnets = sortedSubnets(input.subnets ?? []);
  const cluster = subnets.length > 0 ? await clusterCidrs(deps) : [];
  // Fail fast on a reserved name, a bad or taken address or LAN before any key is made; re-checked against
  // the latest state below.
  requireNameNotReserved(before, input.name, now);
  allocateStaticIp(
    plan,
    [...before.clients.map((c) => c.ip), ...reservations(before, now).ips],
    input.staticIp,
  );
  requireSubnetsAllowed(before, input.name, subnets, cluster, '/subnets', reservations(before, now).subnets);
  const ca = await requireCa(deps, gateway);
  // The gateway's default never outlives the CA: it is capped at the CA's remaining whole days (an
  // explicit validityDays beyond the CA is the caller's error and refused).
  const validityDays =
    input.validityDays ??
    Math.min(
      before.spec.clientCertValidityDays,
      wholeDaysUntil(now, readCertificateInfo(ca.certPem).notAfter),
    );
  const cert: IssuedCert = await issueClientCert(ca, {
    commonName: input.name,
    validityDays,
    ...(input.csr !== undefined
      ? { csrPem: input.csr, ...(input.keyType !== undefined ? { keyType: input.keyType } : {}) }
      : { keyType: input.keyType ?? before.spec.keyType ?? DEFAULT_KEY_TYPE }),
    now,
  });

  let record: ClientRecord | undefined;
  // Set when the same request got its record written first (a concurrent retry): this one completes it.
  let joined = false;
  const written = await updateState(
    deps.cluster,
    gateway,
    (s) => {
      record = undefined;
      joined = false;
      const existing = s.clients.find((c) => c.name === input.name);
      // Our own write, seen again when the adapter retried a write whose answer was lost: already done.
      if (existing?.serial === cert.serial) {
        record = existing;
        return undefined;
      }
      if (existing?.status === 'pending' && sameRequest(existing, input)) {
        record = existing;
        joined = true;
        return undefined;
      }
      if (existing) throw new ConflictError(`client '${input.name}' already exists on gateway '${gateway}'`);
      // Names and addresses held by pending enrollments are taken as much as those of clients.
      requireNameNotReserved(s, input.name, now);
      // The address plan of the state the record is written into (a concurrent PUT may change the subnet).
      const ip = allocateStaticIp(
        planAddresses(s.spec.vpnSubnet),
        [...s.clients.map((c) => c.ip), ...reservations(s, now).ips],
        input.staticIp,
      );
      requireSubnetsAllowed(s, input.name, subnets, cluster, '/subnets', reservations(s, now).subnets);
      record = {
        name: input.name,
        ip,
        serial: cert.serial,
        issuedAt: now.toISOString(),
        notAfter: cert.notAfter.toISOString(),
        status: 'pending',
        keySource: input.csr !== undefined ? 'csr' : 'generated',
        keyType: cert.keyType,
        ...(input.csr !== undefined ? { csr: input.csr } : {}),
        ...(subnets.length > 0 ? { subnets } : {}),
      };
      return { ...s, clients: [...s.clients, record] };
      // Written on the state read above unless another write landed meanwhile (then read again).
    },
    { from: before },
  );
  if (!record) throw new ConflictError('client record was not written');
  const issued = await completeIssue(deps, written, record, joined ? undefined : cert);
  deps.log.info('client issued', { gateway, client: issued.name, ip: issued.ip, serial: issued.serial });
  return clientView(gateway, issued);
}

/** Undoes the state and CCD writes of an issue that failed half-way. */
async function forgetClient(deps: GatewayDeps, state: GatewayState, record: ClientRecord): Promise<void> {
  const gateway = state.spec.name;
  await writeCcdEntries(deps, state, { [record.name]: null });
  await updateState(deps.cluster, gateway, (s) =>
    s.clients.some((c) => c.serial === record.serial)
      ? { ...s, clients: s.clients.filter((c) => c.serial !== record.serial) }
      : undefined,
  );
}

/**
 * How long after its issue an `active` client without material is taken for one an older version of
 * this API left half-issued (it recorded `active` before storing the material).
 */
export const ABANDONED_ISSUE_MINUTES = 10;

/**
 * Rolls back the record (and CCD entry) of an `active` client whose material is missing from the secret
 * store: an issue of an older version that crashed half-way (its private key never left the crashed
 * process, so the certificate can never be used), or material lost outside this API. The name can then be
 * issued again instead of being unusable for good. True when it did.
 */
async function forgetIfAbandoned(
  deps: GatewayDeps,
  state: GatewayState,
  client: ClientRecord,
): Promise<boolean> {
  const gateway = state.spec.name;
  if (client.status !== 'active') return false;
  const age = deps.clock().getTime() - Date.parse(client.issuedAt);
  if (age < ABANDONED_ISSUE_MINUTES * 60_000) return false;
  if ((await deps.secrets.getClient(gateway, client.name)) !== undefined) return false;
  deps.log.warn('rolling back an issue abandoned half-way', {
    gateway,
    client: client.name,
    serial: client.serial,
  });
  await forgetClient(deps, state, client);
  return true;
}

/** The client, its recorded intent (pending issue, revocation) completed first when it has one. */
async function settledClient(
  deps: GatewayDeps,
  gateway: string,
  name: string,
): Promise<{ state: GatewayState; client: ClientRecord }> {
  const state = await readState(deps.cluster, gateway);
  const client = findClient(state, name);
  if (client.status !== 'pending' && client.status !== 'revoking') return { state, client };
  return { state, client: await settleClient(deps, state, client) };
}

/** GET /gateways/{gateway}/clients/{client}: completes the client's recorded intent first, if any. */
export async function getClient(deps: GatewayDeps, gateway: string, name: string): Promise<ClientResponse> {
  const { client } = await settledClient(deps, gateway, name);
  return withConnection(clientView(gateway, client), await readPodReport(deps, gateway));
}

/** GET /gateways/{gateway}/clients */
export async function listClients(deps: GatewayDeps, gateway: string): Promise<ClientResponse[]> {
  const state = await readState(deps.cluster, gateway);
  const report = await readPodReport(deps, gateway);
  return state.clients.map((c) => withConnection(clientView(gateway, c), report));
}

/** `connected` (and since when) as the pod last reported; no report, no claim either way. */
function withConnection(view: ClientResponse, report: PodReport | undefined): ClientResponse {
  if (!report) return view;
  const connection = report.connections.find((c) => c.client === view.name);
  return connection
    ? { ...view, connected: true, connectedSince: connection.connectedSince }
    : { ...view, connected: false };
}

/**
 * GET /gateways/{gateway}/clients/{client}/profile: the `.ovpn`, rendered with the gateway's current
 * address and port (so it stays right after a port change). Only for active clients.
 */
export async function getClientProfile(deps: GatewayDeps, gateway: string, name: string): Promise<string> {
  const { state, client } = await settledClient(deps, gateway, name);
  if (client.status === 'pending')
    throw new ConflictError(`client '${name}' is still being issued: retry shortly`);
  if (client.status !== 'active')
    throw new ConflictError(`client '${name}' is revoked: its profile is no longer available`);
  const bundle = await deps.secrets.getClient(gateway, name);
  if (!bundle && (await forgetIfAbandoned(deps, state, client)))
    throw new NotFoundError(
      `client '${name}' does not exist on gateway '${gateway}': its issue failed half-way and was rolled back`,
    );
  if (!bundle) throw new NotFoundError(`the material of client '${name}' is missing from the secret store`);
  return renderProfile(deps, state, bundle.certPem, bundle.keyPem);
}

/**
 * DELETE /gateways/{gateway}/clients/{client}: revokes. Refused while port mappings point at the client
 * unless `force` (which removes those mappings, live: the operation it answers completes when the pod reports
 * the new set applied). The first write records the intent
 * (`revoking`, the serial now in every CRL signed, the mappings removed); then the CRL, CCD entry, material
 * and mappings (see `client-lifecycle.ts`); then `revoked`. Revoking again completes or repairs whatever is
 * missing and otherwise changes nothing.
 */
export async function revokeClient(
  deps: GatewayDeps,
  gateway: string,
  name: string,
  options: { force: boolean } = { force: false },
): Promise<ClientResponse & { operationId?: string }> {
  // The state is read once, by the conditional write that decides: a missing gateway or client is a 404
  // from it, a revocation already recorded leaves it unwritten (and is completed or repaired below), and a
  // missing CA refuses it before anything is recorded (no CRL could be signed). The CA is read first.
  const ca = await deps.secrets.getCa(gateway);
  const now = deps.clock();
  let removedMappings = false;
  const state = await updateState(deps.cluster, gateway, (s) => {
    removedMappings = false;
    const client = findClient(s, name);
    if (client.status === 'revoking' || client.status === 'revoked') return undefined;
    if (!ca) throw missingCa(gateway);
    const mapped = s.portMappings.filter((m) => m.client === name);
    if (mapped.length > 0 && !options.force)
      throw new ConflictError(
        `client '${name}' is the target of port mapping(s) ${mapped.map((m) => `${m.port}/${m.protocol}`).join(', ')}: remove them first or revoke with ?force=true`,
      );
    removedMappings = mapped.length > 0;
    const revoking: ClientRecord = {
      name: client.name,
      ip: client.ip,
      serial: client.serial,
      issuedAt: client.issuedAt,
      notAfter: client.notAfter,
      status: 'revoking',
      revokedAt: now.toISOString(),
      keySource: client.keySource,
      ...(client.keyType !== undefined ? { keyType: client.keyType } : {}),
      // Kept for the record; a client being revoked holds them until its CCD entry is gone.
      ...(client.subnets !== undefined ? { subnets: client.subnets } : {}),
    };
    return {
      ...removeMappingsOf(s, name),
      clients: s.clients.map((c) => (c === client ? revoking : c)),
      crl: { ...s.crl, number: s.crl.number + 1 },
    };
  });
  const done = await completeRevocation(deps, state, findClient(state, name), ca);
  const operationId = removedMappings ? await deps.operations.startLiveApply(gateway) : undefined;
  deps.log.info('client revoked', { gateway, client: name, serial: done.record.serial, operationId });
  return {
    ...clientView(gateway, done.record),
    ...(operationId ? { operationId } : {}),
  };
}
