/**
 * The invariants a crash or a fault must never break, checked on what is stored (through the cluster
 * port and the directory secret store's files), for the crash test and the soak alike:
 * - `addresses`: every client's address is unique and in its gateway's static range;
 * - `ccd`: the CCD entries are exactly the active clients, each pushing the client's address;
 * - `crl`: the deployed CRL (the `server-pki` Secret the pod mounts) lists every revoked serial;
 * - `secrets`: the secret store matches the index (the `state`): the CA of every gateway, the material of
 *   every client with its serial (enabled while active, disabled once revoked), nothing else;
 * - `tmp-files`: no temporary file is left in the secret store or the cluster's files;
 * - `mappings`: every port mapping targets an active client and has its Service, and no mapping Service
 *   outlives its mapping;
 * - `gateways`: no gateway namespace without a state, and no gateway still marked for deletion (the
 *   callers check once every deletion they asked for has ended);
 * - `acknowledged`: no acknowledged write is lost (see AcknowledgedWrites).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import forge from 'node-forge';
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import type { GatewayState } from '../../shared/model/gateway.js';
import {
  OBJECTS,
  PORT_MAPPING_SERVICE_PREFIX,
  SERVER_PKI_KEYS,
  domainKeys,
  namespaceOf,
  portMappingServiceName,
} from '../../shared/model/names.js';
import { planAddresses, renderCcdEntry } from '../../shared/openvpn/index.js';
import type { AcknowledgedWrites } from './acknowledged-writes.js';
import { readStoredState } from './stored-state.js';
import { storedCcdEntries } from './ccd-entries.js';

export const INVARIANTS = [
  'addresses',
  'ccd',
  'crl',
  'secrets',
  'tmp-files',
  'mappings',
  'gateways',
  'acknowledged',
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  readonly invariant: InvariantName;
  readonly gateway: string;
  readonly detail: string;
}

/** What the checks read of the cluster: the port's reads (the embedded cluster, the adapter, a fake). */
export type ClusterReader = Pick<ClusterPort, 'readConfigMap' | 'readSecret' | 'list'>;

export interface InvariantInput {
  readonly cluster: ClusterReader;
  readonly labelDomain: string;
  /** The directory secret store's root: its files are all the store holds. */
  readonly secretsDir: string;
  /** More directories that must hold no temporary file (the embedded cluster's). */
  readonly tmpDirs?: readonly string[];
  readonly acknowledged?: AcknowledgedWrites | undefined;
}

/** The directory store's files of one gateway: its CA and each client's serial and enabled flag. */
interface StoredGateway {
  ca: boolean;
  readonly clients: Map<string, { serial: string; enabled: boolean }>;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function tempFiles(dir: string): Promise<string[]> {
  try {
    const all = await readdir(dir, { recursive: true });
    return all.filter((f) => f.endsWith('.tmp')).map((f) => join(dir, f));
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Reads the directory store's layout: `<gateway>/ca.json`, `<gateway>/clients/<client>.json`. */
async function storedSecrets(secretsDir: string): Promise<Map<string, StoredGateway>> {
  const out = new Map<string, StoredGateway>();
  for (const gateway of await entries(secretsDir)) {
    if (gateway.endsWith('.tmp')) continue;
    const stored: StoredGateway = { ca: false, clients: new Map() };
    stored.ca = (await entries(join(secretsDir, gateway))).includes('ca.json');
    const clientsDir = join(secretsDir, gateway, 'clients');
    for (const file of await entries(clientsDir)) {
      if (!file.endsWith('.json')) continue;
      const parsed = JSON.parse(await readFile(join(clientsDir, file), 'utf8')) as {
        info: { serial: string; enabled: boolean };
      };
      stored.clients.set(file.slice(0, -'.json'.length), parsed.info);
    }
    out.set(gateway, stored);
  }
  return out;
}

const normalSerial = (hex: string) => hex.toLowerCase().replace(/^0+/, '');

/** The serials a PEM CRL lists (its revokedCertificates), read with forge's ASN.1 parser. */
export function revokedSerials(crlPem: string): Set<string> {
  const der = Buffer.from(crlPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const crl = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  const tbs = (crl.value as forge.asn1.Asn1[])[0]?.value as forge.asn1.Asn1[];
  const { Class, Type } = forge.asn1;
  const universal = (a: forge.asn1.Asn1, type: forge.asn1.Type) =>
    a.tagClass === Class.UNIVERSAL && a.type === type;
  // version?, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] extensions
  const afterTimes = tbs.findLastIndex(
    (a) => universal(a, Type.UTCTIME) || universal(a, Type.GENERALIZEDTIME),
  );
  const revoked = tbs[afterTimes + 1];
  const serials = new Set<string>();
  if (!revoked || !universal(revoked, Type.SEQUENCE)) return serials;
  for (const entry of revoked.value as forge.asn1.Asn1[]) {
    const serial = (entry.value as forge.asn1.Asn1[])[0];
    if (serial) serials.add(normalSerial(forge.util.bytesToHex(serial.value as string)));
  }
  return serials;
}

const toInt = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);

/** Checks one gateway that has a state. */
async function checkGateway(
  input: InvariantInput,
  state: GatewayState,
  stored: StoredGateway | undefined,
  out: Violation[],
): Promise<void> {
  const gateway = state.spec.name;
  const ns = namespaceOf(gateway);
  const add = (invariant: InvariantName, detail: string) => out.push({ invariant, gateway, detail });
  if (state.deleting)
    add(
      'gateways',
      `marked for deletion since ${state.deleting.since} (operation ${state.deleting.operation}), still there`,
    );
  const plan = planAddresses(state.spec.vpnSubnet);
  const [first, last] = [toInt(plan.staticRange.first), toInt(plan.staticRange.last)];
  const seen = new Map<string, string>();
  for (const c of state.clients) {
    const n = toInt(c.ip);
    if (n < first || n > last) add('addresses', `client ${c.name} has ${c.ip}, outside the static range`);
    const other = seen.get(c.ip);
    if (other !== undefined) add('addresses', `clients ${other} and ${c.name} share ${c.ip}`);
    seen.set(c.ip, c.name);
  }

  const active = state.clients.filter((c) => c.status === 'active');
  const ccdStored = await storedCcdEntries(input.cluster, gateway);
  const ccd = ccdStored.entries;
  for (const entry of ccdStored.misplaced) add('ccd', `CCD entry ${entry} sits in a wrong shard`);
  for (const c of active) {
    if (ccd[c.name] === undefined) add('ccd', `active client ${c.name} has no CCD entry`);
    else if (ccd[c.name] !== renderCcdEntry(plan, c.ip, c.subnets))
      add('ccd', `CCD entry of ${c.name} does not push ${c.ip} and its subnets`);
  }
  for (const name of Object.keys(ccd))
    if (!active.some((c) => c.name === name)) add('ccd', `CCD entry ${name} belongs to no active client`);

  const revoked = state.clients.filter((c) => c.status === 'revoked');
  const crlPem = (await input.cluster.readSecret(ns, OBJECTS.serverPki))?.data[SERVER_PKI_KEYS.crlPem];
  if (crlPem === undefined) {
    if (revoked.length > 0) add('crl', 'no deployed CRL while clients are revoked');
  } else {
    const listed = revokedSerials(crlPem);
    for (const c of revoked)
      if (!listed.has(normalSerial(c.serial)))
        add('crl', `revoked client ${c.name} (serial ${c.serial}) is not in the deployed CRL`);
  }

  if (!stored?.ca) add('secrets', 'the gateway has no CA in the secret store');
  for (const c of state.clients) {
    const s = stored?.clients.get(c.name);
    if (!s) add('secrets', `${c.status} client ${c.name} has no material in the secret store`);
    else if (s.serial !== c.serial)
      add('secrets', `material of ${c.name} is serial ${s.serial}, the index says ${c.serial}`);
    else if (s.enabled !== (c.status === 'active'))
      add('secrets', `material of ${c.status} client ${c.name} is ${s.enabled ? 'enabled' : 'disabled'}`);
  }
  for (const name of stored?.clients.keys() ?? [])
    if (!state.clients.some((c) => c.name === name))
      add('secrets', `orphan material of ${name}: no such client in the index`);

  const label = domainKeys(input.labelDomain).gatewayLabel;
  const services = new Set(
    (await input.cluster.list('Service', ns, `${label}=${gateway}`)).map((s) => s.metadata.name),
  );
  for (const m of state.portMappings) {
    if (!active.some((c) => c.name === m.client))
      add('mappings', `mapping ${m.port} targets ${m.client}, which is not an active client`);
    if (!services.has(portMappingServiceName(m.port)))
      add('mappings', `mapping ${m.port} has no Service ${portMappingServiceName(m.port)}`);
  }
  for (const s of services)
    if (
      s.startsWith(PORT_MAPPING_SERVICE_PREFIX) &&
      !state.portMappings.some((m) => portMappingServiceName(m.port) === s)
    )
      add('mappings', `Service ${s} outlives its mapping`);
}

/** Every invariant over every gateway the cluster, the secret store or the acknowledged log knows of. */
export async function checkInvariants(input: InvariantInput): Promise<Violation[]> {
  const out: Violation[] = [];
  const label = domainKeys(input.labelDomain).gatewayLabel;
  const namespaces = await input.cluster.list('Namespace', undefined, label);
  const secrets = await storedSecrets(input.secretsDir);
  const names = new Set([
    ...namespaces.map((n) => n.metadata.labels?.[label] ?? ''),
    ...secrets.keys(),
    ...(input.acknowledged?.names() ?? []),
  ]);
  names.delete('');
  const states = new Map<string, GatewayState | undefined>();
  for (const gateway of [...names].sort()) {
    const state = await readStoredState(input.cluster, gateway);
    states.set(gateway, state);
    if (state) {
      await checkGateway(input, state, secrets.get(gateway), out);
      continue;
    }
    if (namespaces.some((n) => n.metadata.labels?.[label] === gateway))
      out.push({ invariant: 'gateways', gateway, detail: 'a gateway namespace without a state' });
    if (secrets.has(gateway))
      out.push({ invariant: 'secrets', gateway, detail: 'orphan secrets of a gateway that does not exist' });
  }
  for (const dir of [input.secretsDir, ...(input.tmpDirs ?? [])])
    for (const tmp of await tempFiles(dir))
      out.push({ invariant: 'tmp-files', gateway: '-', detail: `temporary file left: ${tmp}` });
  if (input.acknowledged) out.push(...input.acknowledged.check(states));
  return out;
}

/** Violations counted by invariant (every invariant listed, zeros included). */
export function countByInvariant(violations: readonly Violation[]): Record<InvariantName, number> {
  const counts = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<InvariantName, number>;
  for (const v of violations) counts[v.invariant] += 1;
  return counts;
}
