/**
 * The sandbox has no pod, so no status reporter: this plays its part. When a gateway's mappings, CCD entries,
 * server PKI or Deployment change, the embedded cluster writes the `status` ConfigMap as the pod's reporter
 * would once it applied them: the mapping set of the file, the CRL number beside the CRL, the template's
 * config hash, and every client with a CCD entry shown connected from a documentation address (203.0.113.x,
 * RFC 5737) since it first appeared. All of it is simulated: nothing connects in the sandbox.
 */
import { createHash } from 'node:crypto';
import { CRL_NUMBER_KEY, OBJECTS, STATUS_KEYS, isCcdObjectName } from '../shared/model/names.js';
import { MAPPINGS_SET_PREFIX } from '../shared/openvpn/index.js';

/** The objects whose change a running pod would report (the status ConfigMap's own creation included). */
export function reportsOn(kind: string, name: string, data: Readonly<Record<string, string>> | undefined) {
  if (kind === 'ConfigMap' && name === OBJECTS.status) return Object.keys(data ?? {}).length === 0;
  return (
    (kind === 'ConfigMap' && (name === OBJECTS.portMappings || isCcdObjectName(name))) ||
    (kind === 'Secret' && name === OBJECTS.serverPki) ||
    (kind === 'Deployment' && name === OBJECTS.deployment)
  );
}

export interface SimulatedPodInput {
  readonly mappingsFile: string | undefined;
  readonly ccd: Readonly<Record<string, string>>;
  /** The `server-pki` Secret's data, decoded. */
  readonly serverPki: Readonly<Record<string, string>>;
  readonly templateAnnotations: Readonly<Record<string, string>>;
  /** The report written before, to keep each client's `connected since`. */
  readonly previous: Readonly<Record<string, string>>;
  readonly now: Date;
}

const documentationAddress = (client: string) =>
  `203.0.113.${((createHash('sha256').update(client).digest()[0] ?? 0) % 254) + 1}`;

/** The `status` ConfigMap's data a pod would write for these objects. */
export function simulatedPodReport(input: SimulatedPodInput): Record<string, string> {
  const since = new Map(
    (input.previous[STATUS_KEYS.clients] ?? '')
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => f.length === 6)
      .map((f) => [f[0], f[3]] as const),
  );
  const nowSeconds = String(Math.floor(input.now.getTime() / 1000));
  const clients = Object.entries(input.ccd)
    .sort(([a], [b]) => a.localeCompare(b))
    .flatMap(([client, entry]) => {
      const tunnel = /^ifconfig-push (\S+) /m.exec(entry)?.[1];
      if (!tunnel) return [];
      return [
        `${client} ${documentationAddress(client)}:1194 ${tunnel} ${since.get(client) ?? nowSeconds} 0 0`,
      ];
    });
  const set = (input.mappingsFile ?? '')
    .split('\n')
    .find((line) => line.startsWith(MAPPINGS_SET_PREFIX))
    ?.slice(MAPPINGS_SET_PREFIX.length);
  const hash = Object.entries(input.templateAnnotations).find(([key]) => key.endsWith('/config-hash'))?.[1];
  return {
    [STATUS_KEYS.clients]: clients.join('\n'),
    [STATUS_KEYS.portMappings]: set ?? '',
    [STATUS_KEYS.crlNumber]: input.serverPki[CRL_NUMBER_KEY] ?? '',
    [STATUS_KEYS.configHash]: hash ?? '',
    [STATUS_KEYS.watcherError]: '',
    [STATUS_KEYS.pod]: 'openvpn-sandbox (simulated)',
    [STATUS_KEYS.reportedAt]: input.now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
