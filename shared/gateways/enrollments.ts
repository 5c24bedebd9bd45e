/**
 * Branch enrollment use-cases (README, "Branch enrollment"): an operator creates a one-time token that
 * reserves a client name and address; a branch holding only that token enrolls with a CSR and gets its
 * profile (without a key: the key never left the branch).
 *
 * Every decision is taken inside the conditional write of the `state` ConfigMap that records it, and taken
 * again on each retry of that write: creating checks the name and address against the clients and the
 * other reservations; enrolling checks the token (pending, not expired, hash equal) and records the
 * enrollment `used` and the client `pending` in ONE write, so of two uses of one token exactly one writes.
 * The pending client is then completed by the issue state machine of `client-lifecycle.ts`.
 */
import { ConflictError, InputError, NotFoundError, UnauthenticatedError } from '../errors.js';
import { allocateStaticIp, planAddresses } from '../openvpn/index.js';
import { issueClientCert, readCertificateInfo } from '../pki/index.js';
import type { CreateEnrollmentBody, EnrollmentResponse } from '../api/schemas.js';
import type { ClientRecord, EnrollmentRecord, GatewayState } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE, reserves } from '../model/gateway.js';
import type { GatewayDeps } from './deps.js';
import { completeIssue, renderProfile } from './client-lifecycle.js';
import { clusterCidrs, requireSubnetsAllowed, sortedSubnets } from './client-subnets.js';
import { reservations, requireNameNotReserved } from './enrollment-reservations.js';
import { newEnrollmentToken, parseEnrollmentToken, secretMatches } from './enrollment-token.js';
import { addDays, requireCa, wholeDaysUntil } from './gateway-pki.js';
import { findState, readState, updateState } from './gateway-state.js';

/** How long a used or expired enrollment stays visible before a later write of the state drops it. */
export const ENROLLMENT_RETENTION_DAYS = 7;
/** Most enrollment records one gateway keeps (pending, used, expired), so the state stays small. */
export const MAX_ENROLLMENTS = 500;

/** The one answer to every token that does not enroll: it never says why. */
export const INVALID_TOKEN_MESSAGE = 'the enrollment token is not valid';
export const invalidEnrollmentToken = (): UnauthenticatedError =>
  new UnauthenticatedError(INVALID_TOKEN_MESSAGE, {
    challenge: 'Bearer realm="enroll", error="invalid_token"',
  });

const enrollmentsOf = (s: GatewayState): readonly EnrollmentRecord[] => s.enrollments ?? [];

function statusAt(e: EnrollmentRecord, now: Date): EnrollmentResponse['status'] {
  if (e.status === 'used') return 'used';
  return reserves(e, now) ? 'pending' : 'expired';
}

function enrollmentView(state: GatewayState, e: EnrollmentRecord, now: Date): EnrollmentResponse {
  return {
    id: e.id,
    gateway: state.spec.name,
    client: e.client,
    ip: e.ip,
    status: statusAt(e, now),
    createdAt: e.createdAt,
    expiresAt: e.expiresAt,
    ...(e.validityDays !== undefined ? { validityDays: e.validityDays } : {}),
    subnets: e.subnets ?? [],
    ...(e.usedAt !== undefined ? { usedAt: e.usedAt } : {}),
    ...(e.usedFrom !== undefined ? { usedFrom: e.usedFrom } : {}),
    keyType: state.spec.keyType ?? DEFAULT_KEY_TYPE,
  };
}

/** Whether a record is still kept at `now`: pending ones, and used or expired ones for the retention time. */
function kept(e: EnrollmentRecord, now: Date): boolean {
  const ended = Date.parse(e.status === 'used' ? (e.usedAt ?? e.expiresAt) : e.expiresAt);
  return addDays(new Date(ended), ENROLLMENT_RETENTION_DAYS).getTime() > now.getTime();
}

/** The state without the enrollment records past their retention, or undefined when none is. */
function pruned(s: GatewayState, now: Date): GatewayState | undefined {
  const all = enrollmentsOf(s);
  const keep = all.filter((e) => kept(e, now));
  return keep.length === all.length ? undefined : { ...s, enrollments: keep };
}

/** The validity asked for must end before the CA does, also when the branch enrolls at the last moment. */
async function requireValidityWithinCa(
  deps: GatewayDeps,
  gateway: string,
  validityDays: number | undefined,
  latestEnroll: Date,
): Promise<void> {
  if (validityDays === undefined) return;
  const caNotAfter = readCertificateInfo((await requireCa(deps, gateway)).certPem).notAfter;
  if (addDays(latestEnroll, validityDays) > caNotAfter)
    throw new InputError(`validityDays ${validityDays} outlives the gateway's CA`, [
      {
        path: '/validityDays',
        message: `must end before the CA expires (${caNotAfter.toISOString()}) when enrolled at ${latestEnroll.toISOString()}`,
      },
    ]);
}

export interface CreatedEnrollment {
  readonly enrollment: EnrollmentResponse;
  /** The one-time token: in this answer only. */
  readonly token: string;
}

/**
 * POST /gateways/{gateway}/enrollments: records a pending enrollment with the token's hash, reserving the
 * client name and an address in the same conditional write (and dropping records past their retention).
 */
export async function createEnrollment(
  deps: GatewayDeps,
  gateway: string,
  input: CreateEnrollmentBody,
): Promise<CreatedEnrollment> {
  const now = deps.clock();
  const expiresAt = new Date(now.getTime() + input.expiresInMinutes * 60_000);
  await requireValidityWithinCa(deps, gateway, input.validityDays, expiresAt);
  const subnets = sortedSubnets(input.subnets ?? []);
  const cluster = subnets.length > 0 ? await clusterCidrs(deps) : [];
  const { id, token, tokenHash } = newEnrollmentToken(gateway);
  let record: EnrollmentRecord | undefined;
  const written = await updateState(deps.cluster, gateway, (current) => {
    const s = pruned(current, now) ?? current;
    if (s.clients.some((c) => c.name === input.client))
      throw new ConflictError(`client '${input.client}' already exists on gateway '${gateway}'`);
    requireNameNotReserved(s, input.client, now);
    if (enrollmentsOf(s).length >= MAX_ENROLLMENTS)
      throw new ConflictError(
        `gateway '${gateway}' holds ${MAX_ENROLLMENTS} enrollments: revoke pending ones or wait for old ones to be dropped`,
      );
    const reserved = reservations(s, now);
    const ip = allocateStaticIp(
      planAddresses(s.spec.vpnSubnet),
      [...s.clients.map((c) => c.ip), ...reserved.ips],
      input.staticIp,
    );
    requireSubnetsAllowed(s, input.client, subnets, cluster, '/subnets', reserved.subnets);
    record = {
      id,
      client: input.client,
      ip,
      tokenHash,
      createdAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      ...(input.validityDays !== undefined ? { validityDays: input.validityDays } : {}),
      ...(subnets.length > 0 ? { subnets } : {}),
      status: 'pending',
    };
    return { ...s, enrollments: [...enrollmentsOf(s), record] };
  });
  if (!record) throw new ConflictError('the enrollment was not recorded');
  deps.log.info('enrollment created', { gateway, enrollment: id, client: record.client, ip: record.ip });
  return { enrollment: enrollmentView(written, record, now), token };
}

/** GET /gateways/{gateway}/enrollments: every kept enrollment, oldest first (never a token or its hash). */
export async function listEnrollments(deps: GatewayDeps, gateway: string): Promise<EnrollmentResponse[]> {
  const state = await readState(deps.cluster, gateway);
  const now = deps.clock();
  return enrollmentsOf(state)
    .filter((e) => kept(e, now))
    .map((e) => enrollmentView(state, e, now));
}

function findEnrollment(s: GatewayState, id: string): EnrollmentRecord {
  const e = enrollmentsOf(s).find((x) => x.id === id);
  if (!e) throw new NotFoundError(`enrollment '${id}' does not exist on gateway '${s.spec.name}'`);
  return e;
}

/** GET /gateways/{gateway}/enrollments/{id}: `pending`, `used` (when, from where) or `expired`. */
export async function getEnrollment(
  deps: GatewayDeps,
  gateway: string,
  id: string,
): Promise<EnrollmentResponse> {
  const state = await readState(deps.cluster, gateway);
  const now = deps.clock();
  const e = findEnrollment(state, id);
  if (!kept(e, now)) throw new NotFoundError(`enrollment '${id}' does not exist on gateway '${gateway}'`);
  return enrollmentView(state, e, now);
}

/**
 * DELETE /gateways/{gateway}/enrollments/{id}: revokes a pending (or expired) enrollment: its record goes,
 * so the token is refused and the name and address are free. A used one is refused (409): the client it
 * issued is revoked with DELETE …/clients/{client}.
 */
export async function revokeEnrollment(deps: GatewayDeps, gateway: string, id: string): Promise<void> {
  const now = deps.clock();
  await updateState(deps.cluster, gateway, (current) => {
    const s = pruned(current, now) ?? current;
    const e = findEnrollment(s, id);
    if (e.status === 'used')
      throw new ConflictError(
        `enrollment '${id}' was used: client '${e.client}' exists; revoke the client instead`,
      );
    return { ...s, enrollments: enrollmentsOf(s).filter((x) => x !== e) };
  });
  deps.log.info('enrollment revoked', { gateway, enrollment: id });
}

/** Drops enrollment records past their retention (the reconciler; every enrollment write does it too). */
export async function pruneEnrollments(deps: GatewayDeps, gateway: string): Promise<number> {
  const now = deps.clock();
  let dropped = 0;
  const state = await readState(deps.cluster, gateway);
  // A gateway being deleted takes its enrollments with it: nothing to drop, and its state refuses writes.
  if (state.deleting || !pruned(state, now)) return 0;
  await updateState(deps.cluster, gateway, (s) => {
    const next = pruned(s, now);
    dropped = next ? enrollmentsOf(s).length - enrollmentsOf(next).length : 0;
    return next;
  });
  return dropped;
}

/** The enrollment `token` names, if it may enroll at `now`: pending, not expired, the secret's hash equal. */
function usableEnrollment(
  s: GatewayState | undefined,
  token: { id: string; secret: string },
  now: Date,
): EnrollmentRecord | undefined {
  const e = s ? enrollmentsOf(s).find((x) => x.id === token.id) : undefined;
  // Compared whatever was found, so an unknown id costs what a wrong secret does.
  const matches = secretMatches(token.secret, e?.tokenHash);
  return e && matches && reserves(e, now) ? e : undefined;
}

export interface EnrollRequest {
  /** The bearer token as sent. */
  readonly token: string;
  /** Reads and checks the CSR (PEM); called only once the token is known good. InputError when bad. */
  readonly csr: () => Promise<string>;
  /** The address the request came from (recorded with the enrollment). */
  readonly from?: string | undefined;
}

export interface EnrollResult {
  readonly gateway: string;
  readonly enrollment: string;
  readonly client: string;
  /** The `.ovpn` without `<key>`: the key stays where the CSR was made. */
  readonly profile: string;
}

/**
 * POST /enroll. A token that does not enroll (malformed, unknown, used, expired, revoked, another gateway's)
 * is refused with the same UnauthenticatedError before anything is written. With a good token the CSR is
 * read and signed (a bad CSR: InputError, the token stays unused), then ONE conditional write checks the
 * token again and records the enrollment `used` and the client `pending` with its CSR; the issue is then
 * completed as any CSR issue is (`completeIssue`).
 */
export async function enrollBranch(deps: GatewayDeps, request: EnrollRequest): Promise<EnrollResult> {
  const token = parseEnrollmentToken(request.token);
  if (!token) throw invalidEnrollmentToken();
  const { gateway } = token;
  const now = deps.clock();
  const before = usableEnrollment(await findState(deps.cluster, gateway), token, now);
  if (!before) throw invalidEnrollmentToken();
  const csrPem = await request.csr();
  const ca = await requireCa(deps, gateway);
  const state = await readState(deps.cluster, gateway);
  const validityDays =
    before.validityDays ??
    Math.min(
      state.spec.clientCertValidityDays,
      wholeDaysUntil(now, readCertificateInfo(ca.certPem).notAfter),
    );
  const cert = await issueClientCert(ca, { commonName: before.client, validityDays, csrPem, now });
  const cluster = before.subnets?.length ? await clusterCidrs(deps) : [];

  let record: ClientRecord | undefined;
  const written = await updateState(deps.cluster, gateway, (s) => {
    record = undefined;
    // Our own write, seen again when the adapter retried a write whose answer was lost: already done.
    const ours = s.clients.find((c) => c.serial === cert.serial);
    if (ours && enrollmentsOf(s).some((e) => e.id === token.id && e.status === 'used')) {
      record = ours;
      return undefined;
    }
    const e = usableEnrollment(s, token, now);
    if (!e) throw invalidEnrollmentToken();
    // Cannot happen while the reservation holds (issuing refuses a reserved name): refused, not overwritten.
    if (s.clients.some((c) => c.name === e.client || c.ip === e.ip))
      throw new ConflictError(`client '${e.client}' or address ${e.ip} is taken on gateway '${gateway}'`);
    // The subnets were reserved, but a gateway change since may clash with them (409 or 400, token unused).
    if (e.subnets?.length)
      requireSubnetsAllowed(s, e.client, e.subnets, cluster, '/subnets', reservations(s, now).subnets);
    record = {
      name: e.client,
      ip: e.ip,
      serial: cert.serial,
      issuedAt: now.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      status: 'pending',
      keySource: 'csr',
      keyType: cert.keyType,
      ...(e.subnets?.length ? { subnets: e.subnets } : {}),
      csr: csrPem,
    };
    const used: EnrollmentRecord = {
      ...e,
      status: 'used',
      usedAt: now.toISOString(),
      ...(request.from !== undefined ? { usedFrom: request.from } : {}),
    };
    return {
      ...s,
      clients: [...s.clients, record],
      enrollments: enrollmentsOf(s).map((x) => (x === e ? used : x)),
    };
  });
  if (!record) throw new ConflictError('the enrollment was not recorded');
  const issued = await completeIssue(deps, written, record, cert);
  deps.log.info('branch enrolled', {
    gateway,
    enrollment: token.id,
    client: issued.name,
    ip: issued.ip,
    serial: issued.serial,
  });
  return {
    gateway,
    enrollment: token.id,
    client: issued.name,
    profile: await renderProfile(deps, written, cert.certPem),
  };
}
