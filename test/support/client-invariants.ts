/**
 * The client invariants of the README's state machine, checked on a gateway at rest: nothing half-done,
 * a CCD entry and enabled material (of the recorded serial) for exactly the active clients, and every
 * revoked serial in the CRL the pod reads, the deployed port mappings (ConfigMap and `pm-<port>` Services)
 * those of the state. Returns the violations (empty when all hold).
 */
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import type { SecretStore } from '../../shared/model/secret-store.js';
import {
  CONFIG_KEYS,
  OBJECTS,
  PORT_MAPPING_SERVICE_PREFIX,
  SERVER_PKI_KEYS,
  domainKeys,
  namespaceOf,
  portMappingServiceName,
} from '../../shared/model/names.js';
import { loadConfig } from '../../shared/config.js';
import { planAddresses, renderCcdEntry, renderPortMappingsFile } from '../../shared/openvpn/index.js';
import { resolvePortMappings } from '../../shared/gateways/gateway-objects.js';
import { canonicalSerial, crlSerials, readCertificateInfo } from '../../shared/pki/index.js';
import { storedCcdEntries } from './ccd-entries.js';
import { readStoredState } from './stored-state.js';

export async function clientInvariantViolations(
  ports: { cluster: ClusterPort; secrets: SecretStore },
  gateway: string,
): Promise<string[]> {
  const ns = namespaceOf(gateway);
  const violations: string[] = [];
  const state = await readStoredState(ports.cluster, gateway);
  if (!state) return [`gateway '${gateway}' has no state`];
  const stored = await storedCcdEntries(ports.cluster, gateway);
  const ccd = stored.entries;
  for (const entry of stored.misplaced) violations.push(`CCD entry ${entry} sits in a wrong shard`);
  const crlPem = (await ports.cluster.readSecret(ns, OBJECTS.serverPki))?.data[SERVER_PKI_KEYS.crlPem];
  const listed = crlPem ? crlSerials(crlPem) : new Set<string>();
  const plan = planAddresses(state.spec.vpnSubnet);
  const material = new Map(
    (
      await ports.secrets.listClients(
        gateway,
        state.clients.map((c) => c.name),
      )
    ).map((i) => [i.client, i]),
  );
  for (const c of state.clients) {
    const tag = `${c.name} (${c.status})`;
    if (c.status === 'pending' || c.status === 'revoking') violations.push(`${tag} is half-done`);
    const held = material.get(c.name);
    if (c.status === 'active') {
      if (ccd[c.name] !== renderCcdEntry(plan, c.ip, c.subnets))
        violations.push(`${tag} has no right CCD entry`);
      const bundle = await ports.secrets.getClient(gateway, c.name);
      if (!held?.enabled || held.serial !== c.serial || !bundle)
        violations.push(`${tag} has no enabled material of serial ${c.serial}`);
      else if (canonicalSerial(readCertificateInfo(bundle.certPem).serial) !== canonicalSerial(c.serial))
        violations.push(`${tag} has a stored certificate of another serial`);
    }
    if (c.status === 'revoked') {
      if (!listed.has(canonicalSerial(c.serial))) violations.push(`${tag} is missing from the deployed CRL`);
      if (ccd[c.name] !== undefined) violations.push(`${tag} still has a CCD entry`);
      if (held?.enabled) violations.push(`${tag} still has enabled material`);
    }
  }
  const mappings = (await ports.cluster.readConfigMap(ns, OBJECTS.portMappings))?.data[CONFIG_KEYS.mappings];
  if (mappings !== undefined && mappings !== renderPortMappingsFile(resolvePortMappings(state)))
    violations.push("the deployed port mappings are not the state's");
  const selector = `${domainKeys(loadConfig({}).LABEL_DOMAIN).gatewayLabel}=${gateway}`;
  const services = (await ports.cluster.list('Service', ns, selector))
    .map((o) => o.metadata.name)
    .filter((n) => n.startsWith(PORT_MAPPING_SERVICE_PREFIX))
    .sort();
  const wanted = resolvePortMappings(state)
    .map((m) => portMappingServiceName(m.port))
    .sort();
  if (mappings !== undefined && JSON.stringify(services) !== JSON.stringify(wanted))
    violations.push(`port-mapping Services ${services.join(',')} are not the state's ${wanted.join(',')}`);
  const names = new Set(state.clients.map((c) => c.name));
  for (const name of Object.keys(ccd))
    if (!names.has(name)) violations.push(`CCD entry '${name}' belongs to no client`);
  return violations;
}
