/**
 * Client use-cases: issue (generated key or CSR), read, list, profile, revoke.
 *
 * Consistency: the `state` ConfigMap is the record of truth, written with resourceVersion preconditions,
 * so concurrent issues on one gateway each get a distinct address. CCD entries are merge-patched key by
 * key (patches of different keys commute), and the CRL is re-derived from the state after every write
 * until the CRL written matches the latest state, so no concurrent revocation is ever lost.
 */
import { ConflictError, NotFoundError, toDomainError } from '../errors.js';
import {
  allocateStaticIp,
  planAddresses,
  renderCcdEntry,
  renderClientProfile,
  renderPortMappingsFile,
  serverCommonName,
} from '../openvpn/index.js';
import type { CaMaterial, IssuedCert } from '../pki/index.js';
import { issueClientCert, readCertificateInfo } from '../pki/index.js';
import type { GatewayDeps } from './deps.js';
import { missingCa, readServerPki, requireCa, wholeDaysUntil } from './gateway-pki.js';
import { resolvePortMappings } from './gateway-objects.js';
import { readState, updateState } from './gateway-state.js';
import { writeCurrentCrl } from './crl.js';
import { gatewayAddress } from './gateways.js';
import { removeMappingsOf, syncPortMappings } from './port-mappings.js';
import type { ClientRecord, GatewayState } from '../model/gateway.js';
import { DEFAULT_KEY_TYPE } from '../model/gateway.js';
import type { ClientResponse, IssueClientBody } from '../api/schemas.js';
import { CONFIG_KEYS, OBJECTS, namespaceOf } from '../model/names.js';

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
  };
}

function findClient(state: GatewayState, name: string): ClientRecord {
  const client = state.clients.find((c) => c.name === name);
  if (!client) throw new NotFoundError(`client '${name}' does not exist on gateway '${state.spec.name}'`);
  return client;
}

/** POST /gateways/{gateway}/clients */
export async function issueClient(
  deps: GatewayDeps,
  gateway: string,
  input: IssueClientBody,
): Promise<ClientResponse> {
  let before = await readState(deps.cluster, gateway);
  const taken = before.clients.find((c) => c.name === input.name);
  if (taken) {
    if (!(await forgetIfAbandoned(deps, gateway, taken)))
      throw new ConflictError(`client '${input.name}' already exists on gateway '${gateway}'`);
    before = await readState(deps.cluster, gateway);
  }
  const plan = planAddresses(before.spec.vpnSubnet);
  // Fail fast on a bad or taken address before any key is made; re-checked against the latest state below.
  allocateStaticIp(
    plan,
    before.clients.map((c) => c.ip),
    input.staticIp,
  );
  const ca = await requireCa(deps, gateway);
  const now = deps.clock();
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
  // The address plan of the state the record is written into (a concurrent PUT may change the subnet).
  let written = plan;
  const after = await updateState(deps.cluster, gateway, (s) => {
    written = planAddresses(s.spec.vpnSubnet);
    const existing = s.clients.find((c) => c.name === input.name);
    // Our own write, seen again when the adapter retried a write whose answer was lost: already done.
    if (existing?.serial === cert.serial) {
      record = existing;
      return undefined;
    }
    if (existing) throw new ConflictError(`client '${input.name}' already exists on gateway '${gateway}'`);
    const ip = allocateStaticIp(
      written,
      s.clients.map((c) => c.ip),
      input.staticIp,
    );
    record = {
      name: input.name,
      ip,
      serial: cert.serial,
      issuedAt: now.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      status: 'active',
      keySource: input.csr !== undefined ? 'csr' : 'generated',
      keyType: cert.keyType,
    };
    return { ...s, clients: [...s.clients, record] };
  });
  if (!record) throw new ConflictError('client record was not written');
  const issued = record;
  try {
    await deps.cluster.patchConfigMapData(namespaceOf(gateway), OBJECTS.ccd, {
      [issued.name]: renderCcdEntry(written, issued.ip),
    });
    // Without an address yet (no load balancer, no publicHost) the profile is stored empty: it is
    // rendered again on every download anyway.
    const profile = await renderProfile(deps, after, cert.certPem, cert.keyPem).catch((e: unknown) => {
      if (e instanceof ConflictError) return '';
      throw e;
    });
    await deps.secrets.putClient(
      gateway,
      issued.name,
      { certPem: cert.certPem, ...(cert.keyPem ? { keyPem: cert.keyPem } : {}), profile },
      { serial: issued.serial, notAfter: issued.notAfter },
    );
  } catch (e: unknown) {
    await forgetClient(deps, gateway, issued).catch((cleanup: unknown) =>
      deps.log.error('could not roll back a half-issued client', {
        gateway,
        client: issued.name,
        error: toDomainError(cleanup).message,
      }),
    );
    throw e;
  }
  deps.log.info('client issued', { gateway, client: issued.name, ip: issued.ip, serial: issued.serial });
  return clientView(gateway, issued);
}

/** Undoes the state and CCD writes of an issue that failed half-way. */
async function forgetClient(deps: GatewayDeps, gateway: string, record: ClientRecord): Promise<void> {
  await deps.cluster.patchConfigMapData(namespaceOf(gateway), OBJECTS.ccd, { [record.name]: null });
  await updateState(deps.cluster, gateway, (s) =>
    s.clients.some((c) => c.serial === record.serial)
      ? { ...s, clients: s.clients.filter((c) => c.serial !== record.serial) }
      : undefined,
  );
}

/**
 * How long an issue may take between writing the client's record and storing its material. A record
 * still without material after this was left by an issue that crashed half-way: it is rolled back.
 */
export const ABANDONED_ISSUE_MINUTES = 10;

/**
 * Rolls back the record (and CCD entry) of an issue that crashed before the secret store had the
 * client's material, so the name can be issued again instead of being unusable for good: its private
 * key never left the crashed process, so the certificate can never be used. True when it did.
 */
async function forgetIfAbandoned(deps: GatewayDeps, gateway: string, client: ClientRecord): Promise<boolean> {
  if (client.status !== 'active') return false;
  const age = deps.clock().getTime() - Date.parse(client.issuedAt);
  if (age < ABANDONED_ISSUE_MINUTES * 60_000) return false;
  if ((await deps.secrets.getClient(gateway, client.name)) !== undefined) return false;
  deps.log.warn('rolling back an issue abandoned half-way', {
    gateway,
    client: client.name,
    serial: client.serial,
  });
  await forgetClient(deps, gateway, client);
  return true;
}

/** The profile of a client of `state` (the state this request already read: it is not read again). */
async function renderProfile(
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

/** GET /gateways/{gateway}/clients/{client} */
export async function getClient(deps: GatewayDeps, gateway: string, name: string): Promise<ClientResponse> {
  return clientView(gateway, findClient(await readState(deps.cluster, gateway), name));
}

/** GET /gateways/{gateway}/clients */
export async function listClients(deps: GatewayDeps, gateway: string): Promise<ClientResponse[]> {
  const state = await readState(deps.cluster, gateway);
  return state.clients.map((c) => clientView(gateway, c));
}

/**
 * GET /gateways/{gateway}/clients/{client}/profile: the `.ovpn`, rendered with the gateway's current
 * address and port (so it stays right after a port change). Only for active clients.
 */
export async function getClientProfile(deps: GatewayDeps, gateway: string, name: string): Promise<string> {
  const state = await readState(deps.cluster, gateway);
  const client = findClient(state, name);
  if (client.status !== 'active')
    throw new ConflictError(`client '${name}' is revoked: its profile is no longer available`);
  const bundle = await deps.secrets.getClient(gateway, name);
  if (!bundle && (await forgetIfAbandoned(deps, gateway, client)))
    throw new NotFoundError(
      `client '${name}' does not exist on gateway '${gateway}': its issue failed half-way and was rolled back`,
    );
  if (!bundle) throw new NotFoundError(`the material of client '${name}' is missing from the secret store`);
  return renderProfile(deps, state, bundle.certPem, bundle.keyPem);
}

/**
 * DELETE /gateways/{gateway}/clients/{client}: revokes. Refused while port mappings point at the client
 * unless `force` (which removes those mappings and rolls the pod). Revoking twice is not an error.
 */
export async function revokeClient(
  deps: GatewayDeps,
  gateway: string,
  name: string,
  options: { force: boolean } = { force: false },
): Promise<ClientResponse & { operationId?: string }> {
  // The state is read once, by the conditional write that decides: a missing gateway or client is a 404
  // from it, an already revoked client leaves it unwritten, and a missing CA refuses it (no CRL could be
  // signed). The CA is read first: a CA read failure is refused before anything is written.
  const ca = await deps.secrets.getCa(gateway);
  const now = deps.clock();
  let mappingsRemoved = false;
  let revokedNow = false;
  const state = await updateState(deps.cluster, gateway, (s) => {
    const client = findClient(s, name);
    if (client.status === 'revoked') return undefined;
    if (!ca) throw missingCa(gateway);
    const mapped = s.portMappings.filter((m) => m.client === name);
    if (mapped.length > 0 && !options.force)
      throw new ConflictError(
        `client '${name}' is the target of port mapping(s) ${mapped.map((m) => `${m.port}/${m.protocol}`).join(', ')}: remove them first or revoke with ?force=true`,
      );
    mappingsRemoved = mapped.length > 0;
    revokedNow = true;
    return {
      ...removeMappingsOf(s, name),
      clients: s.clients.map((c) =>
        c.name === name ? { ...c, status: 'revoked', revokedAt: now.toISOString() } : c,
      ),
      crl: { ...s.crl, number: s.crl.number + 1 },
    };
  });
  const revoked = findClient(state, name);
  if (!revokedNow || !ca) return finishRevocation(deps, state, revoked, ca);
  // Signed from the state just written, then re-signed from any newer one until they match.
  await writeCurrentCrl(deps, gateway, ca, state);
  await deps.cluster.patchConfigMapData(namespaceOf(gateway), OBJECTS.ccd, { [name]: null });
  await deps.secrets.revokeClient(gateway, name);
  const operationId = mappingsRemoved ? await syncPortMappings(deps, gateway, 'port-mappings') : undefined;
  deps.log.info('client revoked', { gateway, client: name, serial: revoked.serial, operationId });
  return { ...clientView(gateway, revoked), ...(operationId ? { operationId } : {}) };
}

/**
 * A repeated DELETE of a revoked client: completes whatever an earlier revocation left undone (it may
 * have failed after recording the revocation): a CRL signed before the revocation, the CCD entry, the
 * secret still enabled, port mappings removed from the state but still deployed. Changes nothing when
 * the revocation was complete.
 */
async function finishRevocation(
  deps: GatewayDeps,
  state: GatewayState,
  client: ClientRecord,
  ca: CaMaterial | undefined,
): Promise<ClientResponse & { operationId?: string }> {
  const gateway = state.spec.name;
  const ns = namespaceOf(gateway);
  // Every CRL signed at or after the revocation lists the client (it is signed from the state).
  if (client.revokedAt !== undefined && state.crl.thisUpdate < client.revokedAt) {
    if (!ca) throw missingCa(gateway);
    await writeCurrentCrl(deps, gateway, ca, state);
  }
  const ccd = await deps.cluster.readConfigMap(ns, OBJECTS.ccd);
  if (ccd?.data[client.name] !== undefined)
    await deps.cluster.patchConfigMapData(ns, OBJECTS.ccd, { [client.name]: null });
  await deps.secrets.revokeClient(gateway, client.name);
  const deployed = await deps.cluster.readConfigMap(ns, OBJECTS.portMappings);
  const operationId =
    deployed !== undefined &&
    deployed.data[CONFIG_KEYS.mappings] !== renderPortMappingsFile(resolvePortMappings(state))
      ? await syncPortMappings(deps, gateway, 'port-mappings')
      : undefined;
  return { ...clientView(gateway, client), ...(operationId ? { operationId } : {}) };
}
