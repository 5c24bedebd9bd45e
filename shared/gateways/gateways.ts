/**
 * Gateway use-cases: create or update (PUT), read, list, delete, restart.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { lanSubnetProblems, routesContaining, validateGatewaySpec } from '../openvpn/index.js';
import { readCertificateInfo } from '../pki/index.js';
import type { ClusterInfo } from '../model/cluster-info.js';
import type { RolloutStatus } from '../model/cluster-port.js';
import { rolloutComplete } from '../model/cluster-port.js';
import type { GatewayDeps } from './deps.js';
import {
  addDays,
  ensurePki,
  expiringCertificates,
  generatePki,
  readServerPki,
  wholeDaysUntil,
} from './gateway-pki.js';
import { serverPkiData, templateMountsCcd } from '../kube/manifests.js';
import {
  configHashAnnotation,
  desiredConfigHash,
  ensureStatusObject,
  gatewayObjects,
  stateObject,
} from './gateway-objects.js';
import {
  GatewayDeletingError,
  findState,
  managedGatewayNames,
  readState,
  requireNotDeleting,
  takeBackIfDeleting,
  updateState,
} from './gateway-state.js';
import { requireSpecKeepsSubnets } from './client-subnets.js';
import { ccdMoveNeeded, completeCcdMove } from './ccd-convergence.js';
import { appliedView, readPodReport } from './gateway-status.js';
import type { GatewaySpec, GatewayState, GatewayStatus, ServerPki } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';
import type { GatewayResponse, PutGatewayRequest } from '../api/schemas.js';
import { GATEWAY_BODY_DEFAULTS } from '../api/schemas.js';
import { CCD_SHARDS, OBJECTS, namespaceOf } from '../model/names.js';

/**
 * Applies defaults; routes default to the cluster's service and pod CIDRs (DEFAULT_ROUTES when the pod
 * CIDR cannot be discovered); `extraRoutes` are pushed on top of either.
 */
export async function resolveSpec(
  deps: GatewayDeps,
  name: string,
  input: PutGatewayRequest,
  loadBalancerAddress?: string,
): Promise<GatewaySpec> {
  let routes = input.routes ? [...input.routes] : defaultRoutes(deps, await deps.clusterInfo.describe());
  const base = [...new Set(routes)];
  const extras = [...new Set(input.extraRoutes ?? [])].filter((r) => !base.includes(r));
  routes = [...base, ...extras];
  if (routes.length === 0)
    throw new InputError('no routes given and none could be discovered from the cluster', [
      { path: '/routes', message: 'pass the CIDRs to push to clients, or set DEFAULT_ROUTES' },
    ]);
  const spec: GatewaySpec = {
    name,
    vpnSubnet: input.vpnSubnet ?? GATEWAY_BODY_DEFAULTS.vpnSubnet,
    routes,
    port: input.port ?? GATEWAY_BODY_DEFAULTS.port,
    ...(input.dnsLabel !== undefined ? { dnsLabel: input.dnsLabel } : {}),
    ...(input.publicHost !== undefined ? { publicHost: input.publicHost } : {}),
    loadBalancer: {
      internal: input.loadBalancer?.internal ?? false,
      sourceRanges: [...(input.loadBalancer?.sourceRanges ?? [])],
    },
    clientCertValidityDays: input.clientCertValidityDays ?? GATEWAY_BODY_DEFAULTS.clientCertValidityDays,
    keyType: input.keyType ?? GATEWAY_BODY_DEFAULTS.keyType,
  };
  try {
    validateGatewaySpec(spec);
    // The load balancer's address (known once provisioned) is the gateway's own address as much as a
    // publicHost IP: a route containing it would send the tunnel through itself.
    const covering = loadBalancerAddress ? routesContaining(routes, loadBalancerAddress) : [];
    if (covering.length > 0)
      throw new InputError(
        `a route contains the gateway's load balancer address ${loadBalancerAddress}`,
        covering.map((i) => ({
          path: `/routes/${i}`,
          message: `${routes[i]} contains the gateway's own address ${loadBalancerAddress}: clients would send the tunnel through itself`,
        })),
      );
  } catch (e: unknown) {
    if (!(e instanceof InputError)) throw e;
    // Point each route problem at what the caller sent: `/extraRoutes/j`, `/routes/i`, or the
    // discovered route by value.
    const problems = e.problems.map((p) => {
      const index = /^\/routes\/(\d+)$/.exec(p.path)?.[1];
      if (index === undefined) return p;
      const route = routes[Number(index)] ?? '';
      if (Number(index) >= base.length)
        return { ...p, path: `/extraRoutes/${input.extraRoutes?.indexOf(route) ?? 0}` };
      if (input.routes) return { ...p, path: `/routes/${input.routes.indexOf(route)}` };
      return { path: '/routes', message: `discovered cluster route ${route}: ${p.message}` };
    });
    throw new InputError(e.message, problems, { cause: e });
  }
  return spec;
}

/**
 * The routes a gateway gets when the PUT names none: the cluster's service and pod CIDRs, plus
 * DEFAULT_ROUTES when the pod CIDR cannot be discovered.
 */
function defaultRoutes(deps: Pick<GatewayDeps, 'config'>, info: ClusterInfo): string[] {
  const discovered = [info.serviceCidr, info.podCidr].filter((r): r is string => Boolean(r));
  return [...new Set([...discovered, ...(info.podCidr ? [] : deps.config.DEFAULT_ROUTES)])];
}

export interface PutGatewayResult {
  readonly gateway: GatewayResponse;
  readonly created: boolean;
  /** Set when the request started work (provisioning or a roll). */
  readonly operationId?: string | undefined;
}

/** PUT /gateways/{gateway}: creates the gateway, or updates its spec (a changed spec starts a roll). */
export async function putGateway(
  deps: GatewayDeps,
  name: string,
  input: PutGatewayRequest,
): Promise<PutGatewayResult> {
  const existing = await findState(deps.cluster, name);
  const loadBalancerAddress = existing
    ? await deps.cluster.readLoadBalancerAddress(namespaceOf(name), OBJECTS.service)
    : undefined;
  const spec = await resolveSpec(deps, name, input, loadBalancerAddress);
  if (!existing) {
    const created = await createGateway(deps, spec);
    if (created) return created;
  }
  return updateGateway(deps, spec);
}

/** The refusal of a creation whose gateway was marked for deletion (or deleted) while it ran. */
const deletingNow = (gateway: string) => new GatewayDeletingError(`gateway '${gateway}' is being deleted`);

/** Creates a new gateway; undefined when another request claimed the name first. */
async function createGateway(deps: GatewayDeps, spec: GatewaySpec): Promise<PutGatewayResult | undefined> {
  const now = deps.clock();
  const fresh = await generatePki(deps, spec.name, now);
  requireValidityWithinCa(spec, fresh.ca.certPem, now);
  const state: GatewayState = {
    spec,
    clients: [],
    portMappings: [],
    crl: fresh.crl,
    server: { serial: fresh.server.serial, notAfter: fresh.server.notAfter.toISOString() },
    createdAt: now.toISOString(),
    ccdShards: CCD_SHARDS,
  };
  const objects = gatewayObjects(deps, state, fresh.pki, 'all');
  const namespace = objects.filter((o) => o.kind === 'Namespace');
  await deps.cluster.apply(namespace);
  try {
    await deps.cluster.create(stateObject(deps, state, fresh.pki));
  } catch (e: unknown) {
    if (e instanceof ConflictError) return undefined;
    throw e;
  }
  await deps.secrets.putCa(spec.name, fresh.ca);
  // A DELETE that came after the state was created may have deleted the gateway's secrets before the CA
  // landed: read again, and take the CA back if so.
  if (await takeBackIfDeleting(deps, spec.name)) throw deletingNow(spec.name);
  await deps.cluster.apply(objects.filter((o) => o.kind !== 'Namespace'));
  await ensureStatusObject(deps, spec.name);
  const operationId = await deps.operations.startProvision(spec.name);
  deps.log.info('gateway created', { gateway: spec.name, operationId });
  return { gateway: await viewOf(deps, state), created: true, operationId };
}

/**
 * A gateway's default client validity must end before its CA does: otherwise every issue that relies on
 * the default would be refused on a field the caller never sent.
 */
function requireValidityWithinCa(spec: GatewaySpec, caPem: string, now: Date): void {
  const caNotAfter = readCertificateInfo(caPem).notAfter;
  // Strictly before: a default that ends with the CA would be refused a moment after this check.
  if (addDays(now, spec.clientCertValidityDays) >= caNotAfter)
    throw new InputError(`clientCertValidityDays ${spec.clientCertValidityDays} outlives the gateway's CA`, [
      {
        path: '/clientCertValidityDays',
        message: `must end before the CA expires (${caNotAfter.toISOString()}): less than ${wholeDaysUntil(now, caNotAfter)} days`,
      },
    ]);
}

/**
 * The state-dependent rules of a spec change: 409 when the gateway's clients (their addresses, their LAN
 * subnets) or mappings forbid it.
 */
function requireSpecChangeAllowed(state: GatewayState, spec: GatewaySpec): void {
  if (state.spec.vpnSubnet !== spec.vpnSubnet && state.clients.length > 0)
    throw new ConflictError(
      `vpnSubnet cannot change while the gateway has clients (their static addresses are in ${state.spec.vpnSubnet})`,
    );
  // Pending enrollments (expired ones too, until dropped) hold addresses of the old subnet as well.
  if (state.spec.vpnSubnet !== spec.vpnSubnet && state.enrollments?.some((e) => e.status === 'pending'))
    throw new ConflictError(
      `vpnSubnet cannot change while the gateway has pending enrollments (their reserved addresses are in ${state.spec.vpnSubnet}): revoke them first`,
    );
  if (state.portMappings.some((m) => m.port === spec.port))
    throw new ConflictError(`port ${spec.port} is used by a port mapping`);
  requireSpecKeepsSubnets(state, spec);
  // The subnets pending enrollments reserve are kept clear of the gateway's routes as clients' ones are.
  const reservedClashes = (state.enrollments ?? [])
    .filter((e) => e.status === 'pending' && e.subnets?.length)
    .flatMap((e) =>
      lanSubnetProblems(spec, e.subnets ?? [], []).map((p) => `enrollment of '${e.client}': ${p.message}`),
    );
  if (reservedClashes.length > 0)
    throw new ConflictError(
      `the change would overlap subnets of pending enrollments: ${reservedClashes.join('; ')}`,
    );
}

function sameSpec(a: GatewaySpec, b: GatewaySpec): boolean {
  return JSON.stringify(canonicalSpec(a)) === JSON.stringify(canonicalSpec(b));
}

function canonicalSpec(s: GatewaySpec): unknown {
  return {
    name: s.name,
    vpnSubnet: s.vpnSubnet,
    routes: [...s.routes],
    port: s.port,
    dnsLabel: s.dnsLabel ?? null,
    publicHost: s.publicHost ?? null,
    loadBalancer: { internal: s.loadBalancer.internal, sourceRanges: [...s.loadBalancer.sourceRanges] },
    clientCertValidityDays: s.clientCertValidityDays,
    keyType: s.keyType ?? DEFAULT_KEY_TYPE,
  };
}

/**
 * Updates a gateway to `spec`. Unless `keepCcdLayout` (the reconciler's completion of a creation, which must
 * not roll a pod nobody asked to roll), it also moves a gateway still on the legacy single `ccd` ConfigMap to
 * the CCD shards (README, "Upgrading"): the shards applied from the state in hand (before the layout is
 * recorded, so a writer that finds it recorded finds them), the layout recorded in the same conditional write
 * as the spec, the Deployment applied with the shards' projected volume (a new pod template: the Deployment
 * rolls), then the legacy ConfigMap deleted and the shards converged with the state (completeCcdMove).
 */
async function updateGateway(
  deps: GatewayDeps,
  spec: GatewaySpec,
  options: { readonly keepCcdLayout?: boolean } = {},
): Promise<PutGatewayResult> {
  const name = spec.name;
  const ns = namespaceOf(name);
  const current = await readState(deps.cluster, name);
  // Fail fast; the conditional write below refuses it again (a DELETE may come in between).
  requireNotDeleting(current);
  const moveCcd = !options.keepCcdLayout && (await ccdMoveNeeded(deps, current));
  const rollout = await readRolloutOrUndefined(deps, name);
  const deployedPki = rollout ? await readServerPki(deps, name) : undefined;
  // Unchanged and deployed as recorded: nothing to do. A spec recorded but never rolled out (the request
  // that wrote it stopped before its roll) has an old hash on the pod template: the repeat goes on and rolls.
  // The CCD volume too: a roll back to a template captured before the gateway's move to shards mounts the
  // deleted legacy ConfigMap under the same config hash.
  const rolledOut =
    deployedPki !== undefined &&
    rollout?.templateAnnotations[configHashAnnotation(deps)] ===
      desiredConfigHash(deps, current, deployedPki) &&
    templateMountsCcd(rollout.template, current.ccdShards);
  if (sameSpec(current.spec, spec) && rolledOut && !moveCcd) {
    return { gateway: await viewOf(deps, current, rollout), created: false };
  }
  // Fail fast before any PKI work; the same checks run again inside the conditional write below.
  requireSpecChangeAllowed(current, spec);
  const repaired = await ensurePki(deps, current);
  requireValidityWithinCa(spec, repaired.pki.caCrt, deps.clock());
  if (moveCcd)
    await deps.cluster.apply(
      gatewayObjects(deps, { ...current, ccdShards: CCD_SHARDS }, repaired.pki, 'ccd'),
    );
  // One decision per write: the checks that depend on the state run on the state being replaced, again
  // on every retry, so an issue or a port-mapping change that lands first is never overlooked.
  const state = await updateState(deps.cluster, name, (s) => {
    const layout = moveCcd && s.ccdShards !== CCD_SHARDS ? { ccdShards: CCD_SHARDS } : {};
    if (sameSpec(s.spec, spec) && !('ccdShards' in layout)) return undefined;
    if (!sameSpec(s.spec, spec)) requireSpecChangeAllowed(s, spec);
    return { ...s, spec, ...layout };
  });
  const pki: ServerPki = repaired.pki;
  const deployedHash = rollout?.templateAnnotations[configHashAnnotation(deps)];
  // Never the Namespace: the state lives in it, so it exists, unless a DELETE accepted after the state
  // write above removed it, and applying it then would bring back a namespace without a state.
  const objects = gatewayObjects(
    deps,
    state,
    pki,
    repaired.repaired || !rollout ? 'all' : 'spec',
    deployedHash,
  ).filter((o) => o.kind !== 'Namespace');
  await deps.cluster.apply(objects);
  if (moveCcd) {
    const repairedEntries = await completeCcdMove(deps, name);
    deps.log.info('gateway CCD moved to shards', { gateway: name, repairedEntries });
  }
  // A gateway created before the pod reported has no `status` ConfigMap yet: its pod's Role names it.
  await ensureStatusObject(deps, name);
  if (repaired.repaired) await deps.cluster.patchSecretData(ns, OBJECTS.serverPki, serverPkiData(pki));
  // A change the server does not read (client validity, load balancer settings) needs no roll.
  if (!repaired.repaired && deployedHash === desiredConfigHash(deps, state, pki)) {
    deps.log.info('gateway updated, no roll needed', { gateway: name });
    return { gateway: await viewOf(deps, state), created: false };
  }
  const operationId = await deps.operations.startRoll({
    gateway: name,
    reason: 'config-change',
    force: false,
  });
  deps.log.info('gateway updated', { gateway: name, operationId });
  return { gateway: await viewOf(deps, state), created: false, operationId };
}

/**
 * How old a gateway must be before the reconciler completes its creation: a younger one may still be
 * being created by its PUT, and two completions would each make a CA.
 */
export const ABANDONED_CREATION_MINUTES = 10;

/**
 * The reconciler's step for a gateway: completes a creation that stopped half-way (state recorded, but
 * the CA, the server PKI or the Deployment missing) by applying the recorded spec as a repeated PUT
 * would. Returns the roll it started, or undefined when nothing was missing (or the gateway is too young).
 */
export async function completeGatewayCreation(deps: GatewayDeps, name: string): Promise<string | undefined> {
  const state = await findState(deps.cluster, name);
  if (!state || state.deleting) return undefined;
  if (deps.clock().getTime() - Date.parse(state.createdAt) < ABANDONED_CREATION_MINUTES * 60_000)
    return undefined;
  const result = await updateGateway(deps, state.spec, { keepCcdLayout: true });
  if (result.operationId) deps.log.warn('completed a gateway creation left half-done', { gateway: name });
  return result.operationId;
}

async function readRolloutOrUndefined(
  deps: GatewayDeps,
  gateway: string,
): Promise<RolloutStatus | undefined> {
  try {
    return await deps.cluster.readRollout(namespaceOf(gateway), OBJECTS.deployment);
  } catch (e: unknown) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

/** GET /gateways/{gateway} */
export async function getGateway(deps: GatewayDeps, name: string): Promise<GatewayResponse> {
  return viewOf(deps, await readState(deps.cluster, name));
}

/** GET /gateways: every gateway this API manages on the cluster, by name. */
export async function listGateways(deps: GatewayDeps): Promise<GatewayResponse[]> {
  const names = await managedGatewayNames(deps);
  const views = await Promise.all(
    names.map(async (n) => {
      const state = await findState(deps.cluster, n);
      return state ? viewOf(deps, state) : undefined;
    }),
  );
  return views.filter((v): v is GatewayResponse => v !== undefined);
}

/**
 * DELETE /gateways/{gateway}: records the deletion's intent (the `deleting` mark) in a conditional write
 * of the state, then starts the operation that deletes the gateway's secrets and its namespace. From the
 * mark on every write to the gateway is refused (409), so the deletion, which reads the state after the
 * mark, sees every client whose material may exist. Repeating the DELETE joins the deletion while its
 * operation runs, and runs it again once it has ended without deleting the gateway.
 */
export async function deleteGateway(deps: GatewayDeps, name: string): Promise<{ operationId: string }> {
  const state = await readState(deps.cluster, name);
  if (state.deleting && (await operationRunning(deps, state.deleting.operation)))
    return { operationId: state.deleting.operation };
  const operationId = await runDeletion(deps, name, state.deleting?.operation);
  deps.log.info('gateway deletion started', { gateway: name, operationId });
  return { operationId };
}

/** Whether the operation runs (or is about to): false once it has ended, or when it is unknown. */
async function operationRunning(deps: GatewayDeps, id: string): Promise<boolean> {
  const status = (await deps.operations.getOperation(id))?.status;
  return status === 'Running' || status === 'NotStarted';
}

/**
 * Marks the gateway for deletion under a new operation id and starts that operation, unless the mark
 * names another operation than `seen` by the time of the write (a concurrent DELETE or the reconciler ran
 * it meanwhile): then that one is answered. Two runs at once would be harmless (each step is idempotent).
 */
async function runDeletion(deps: GatewayDeps, name: string, seen: string | undefined): Promise<string> {
  const operation = randomUUID();
  const written = await updateState(
    deps.cluster,
    name,
    (s) =>
      s.deleting?.operation !== seen
        ? undefined
        : { ...s, deleting: { since: s.deleting?.since ?? deps.clock().toISOString(), operation } },
    { duringDeletion: true },
  );
  const recorded = written.deleting?.operation ?? operation;
  if (recorded !== operation) return recorded;
  return deps.operations.startDeletion(name, operation);
}

/**
 * How long a deletion's operation may stay unknown to the operations host after its mark was written
 * before the reconciler takes it for never started (the DELETE stopped between its mark and the start).
 */
export const UNSTARTED_DELETION_MINUTES = 2;

/**
 * The reconciler's step for a gateway marked for deletion: runs the deletion again when its operation has
 * ended (failed, or interrupted by a restart) without deleting the gateway, or is still unknown
 * UNSTARTED_DELETION_MINUTES after the mark. Returns the operation it started, or undefined.
 */
export async function resumeDeletion(deps: GatewayDeps, state: GatewayState): Promise<string | undefined> {
  const mark = state.deleting;
  if (!mark) return undefined;
  const status = (await deps.operations.getOperation(mark.operation))?.status;
  if (status === 'Running' || status === 'NotStarted') return undefined;
  const age = deps.clock().getTime() - Date.parse(mark.since);
  if (status === undefined && age < UNSTARTED_DELETION_MINUTES * 60_000) return undefined;
  const operationId = await runDeletion(deps, state.spec.name, mark.operation);
  deps.log.warn('resumed a gateway deletion whose operation ended', {
    gateway: state.spec.name,
    previous: mark.operation,
    operationId,
  });
  return operationId;
}

/** POST /gateways/{gateway}/restart: rolls the pod even when nothing changed. */
export async function restartGateway(deps: GatewayDeps, name: string): Promise<{ operationId: string }> {
  // A restart writes no state: the mark is checked on the state read, so a restart racing the DELETE is
  // ordered before it (its roll then ends when the namespace goes).
  const state = await readState(deps.cluster, name);
  requireNotDeleting(state);
  // The roll reads the server PKI to compute the config hash: repair it first if it went missing.
  await ensurePki(deps, state);
  const operationId = await deps.operations.startRoll({ gateway: name, reason: 'restart', force: true });
  return { operationId };
}

/** The address clients dial: publicHost, the Azure DNS name, or the LoadBalancer address. */
export async function gatewayAddress(deps: GatewayDeps, spec: GatewaySpec): Promise<string | undefined> {
  if (spec.publicHost) return spec.publicHost;
  if (spec.dnsLabel) {
    const { location } = await deps.clusterInfo.describe();
    if (location) return `${spec.dnsLabel}.${location}.cloudapp.azure.com`;
  }
  return deps.cluster.readLoadBalancerAddress(namespaceOf(spec.name), OBJECTS.service);
}

async function viewOf(
  deps: GatewayDeps,
  state: GatewayState,
  knownRollout?: RolloutStatus,
): Promise<GatewayResponse> {
  const { spec } = state;
  const now = deps.clock();
  const [rollout, address, info, report] = await Promise.all([
    knownRollout ?? readRolloutOrUndefined(deps, spec.name),
    gatewayAddress(deps, spec),
    deps.clusterInfo.describe(),
    readPodReport(deps, spec.name),
  ]);
  const expiring = expiringCertificates(state, now, deps.config.EXPIRY_WARNING_DAYS);
  // The notes explain where default routes came from: they say nothing about routes the caller chose.
  const defaults = defaultRoutes(deps, info);
  const routesAreDefault = defaults.length > 0 && defaults.every((r) => spec.routes.includes(r));
  const messages = routesAreDefault ? [...info.notes] : [];
  // The timer re-signs a CRL once it is within CRL_RENEW_BEFORE_DAYS of its nextUpdate: one still that
  // close was not renewed, which is worth a warning (a fresh CRL is not).
  const renewBy = addDays(now, deps.config.CRL_RENEW_BEFORE_DAYS).toISOString();
  if (state.crl.nextUpdate <= renewBy)
    messages.push(`CRL expires at ${state.crl.nextUpdate} and has not been renewed`);
  if (expiring.length > 0)
    messages.push(`${expiring.length} certificate(s) expire within ${deps.config.EXPIRY_WARNING_DAYS} days`);
  const failed = rollout?.conditions.find((c) => c.type === 'Progressing' && c.status === 'False');
  let phase: GatewayStatus['phase'];
  if (state.deleting) {
    phase = 'Deleting';
    messages.unshift(`being deleted since ${state.deleting.since} (operation ${state.deleting.operation})`);
  } else if (!rollout) phase = 'Provisioning';
  else if (failed) {
    phase = 'Degraded';
    messages.push(failed.message ?? failed.reason ?? 'rollout is not progressing');
  } else if (!rolloutComplete(rollout)) phase = address ? 'Rolling' : 'Provisioning';
  else phase = address ? 'Ready' : 'Provisioning';
  const status: GatewayStatus = {
    phase,
    ...(address ? { address } : {}),
    ...(messages.length > 0 ? { message: messages.join('; ') } : {}),
    ...(rollout?.templateAnnotations[configHashAnnotation(deps)]
      ? { configHash: rollout.templateAnnotations[configHashAnnotation(deps)] }
      : {}),
    expiringCertificates: expiring,
    // Only once there is a Deployment, hence a pod to report: what it has applied of the latest state.
    ...(rollout
      ? { applied: appliedView(state, report, rollout.templateAnnotations[configHashAnnotation(deps)]) }
      : {}),
  };
  return {
    name: spec.name,
    vpnSubnet: spec.vpnSubnet,
    routes: spec.routes,
    port: spec.port,
    ...(spec.dnsLabel ? { dnsLabel: spec.dnsLabel } : {}),
    ...(spec.publicHost ? { publicHost: spec.publicHost } : {}),
    loadBalancer: spec.loadBalancer,
    clientCertValidityDays: spec.clientCertValidityDays,
    keyType: spec.keyType ?? DEFAULT_KEY_TYPE,
    createdAt: state.createdAt,
    clients: {
      active: state.clients.filter((c) => c.status === 'active').length,
      revoked: state.clients.filter((c) => c.status === 'revoked').length,
      pending: state.clients.filter((c) => c.status === 'pending').length,
      revoking: state.clients.filter((c) => c.status === 'revoking').length,
    },
    crl: state.crl,
    portMappings: state.portMappings,
    status,
  };
}
