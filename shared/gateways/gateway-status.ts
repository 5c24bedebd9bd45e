/**
 * What the running pod reports it runs: its `status` ConfigMap, patched by the entrypoint's status reporter
 * with the pod's own ServiceAccount token (the API only reads it). From it: the connected clients, and
 * whether the pod has applied the latest port mappings, CRL and config hash.
 */
import type { GatewayDeps } from './deps.js';
import { resolvePortMappings } from './gateway-objects.js';
import { readState } from './gateway-state.js';
import type { AppliedView, GatewayState } from '../model/gateway.js';
import { OBJECTS, STATUS_KEYS, namespaceOf } from '../model/names.js';
import { portMappingsSetHash } from '../openvpn/index.js';

/** One connected client as the pod reports it. */
export interface Connection {
  /** The certificate's common name: the client's name. */
  readonly client: string;
  /** Where the client connects from (address:port as OpenVPN sees it). */
  readonly realAddress: string;
  /** Its address inside the tunnel. */
  readonly tunnelAddress?: string | undefined;
  readonly connectedSince: string;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A pod's report, parsed; undefined fields were not reported. */
export interface PodReport {
  readonly connections: readonly Connection[];
  readonly portMappingsSet?: string | undefined;
  readonly crlNumber?: number | undefined;
  readonly configHash?: string | undefined;
  readonly watcherError?: string | undefined;
  readonly pod?: string | undefined;
  readonly reportedAt?: string | undefined;
}

const CONNECTION_LINE = /^([a-z0-9][-a-z0-9]*) (\S+) (\S+) (\d+) (\d+) (\d+)$/;

/** Parses the `clients` lines; a line that does not parse is skipped (the reporter filters them already). */
function parseConnections(text: string | undefined): Connection[] {
  return (text ?? '').split('\n').flatMap((line) => {
    const m = CONNECTION_LINE.exec(line.trim());
    if (!m) return [];
    const [, client, realAddress, tunnel, since, bytesIn, bytesOut] = m as unknown as string[];
    return [
      {
        client: client!,
        realAddress: realAddress!,
        ...(tunnel !== '-' ? { tunnelAddress: tunnel } : {}),
        connectedSince: new Date(Number(since) * 1000).toISOString(),
        bytesIn: Number(bytesIn),
        bytesOut: Number(bytesOut),
      },
    ];
  });
}

const nonEmpty = (v: string | undefined) => (v !== undefined && v !== '' ? v : undefined);

/** The pod's report from the `status` ConfigMap's data. */
export function parsePodReport(data: Readonly<Record<string, string>>): PodReport {
  const k = STATUS_KEYS;
  const crl = nonEmpty(data[k.crlNumber]);
  const reportedAt = nonEmpty(data[k.reportedAt]);
  return {
    connections: parseConnections(data[k.clients]),
    portMappingsSet: nonEmpty(data[k.portMappings]),
    crlNumber: crl !== undefined && /^\d+$/.test(crl) ? Number(crl) : undefined,
    configHash: nonEmpty(data[k.configHash]),
    watcherError: nonEmpty(data[k.watcherError]),
    pod: nonEmpty(data[k.pod]),
    reportedAt: reportedAt !== undefined && !Number.isNaN(Date.parse(reportedAt)) ? reportedAt : undefined,
  };
}

/** The pod's latest report; undefined when it has not reported (or the gateway predates reporting). */
export async function readPodReport(deps: GatewayDeps, gateway: string): Promise<PodReport | undefined> {
  const cm = await deps.cluster.readConfigMap(namespaceOf(gateway), OBJECTS.status);
  if (!cm || nonEmpty(cm.data[STATUS_KEYS.reportedAt]) === undefined) return undefined;
  return parsePodReport(cm.data);
}

/** The set hash the pod reports once it applied the state's port mappings. */
export function wantedPortMappingsSet(state: GatewayState): string {
  return portMappingsSetHash(resolvePortMappings(state));
}

export function appliedView(
  state: GatewayState,
  report: PodReport | undefined,
  templateHash: string | undefined,
): AppliedView {
  return {
    portMappings: report?.portMappingsSet === wantedPortMappingsSet(state),
    // The deployed CRL's number only grows; a higher one was signed from a later state and lists as much.
    crl: report?.crlNumber !== undefined && report.crlNumber >= state.crl.number,
    ...(templateHash !== undefined ? { configHash: report?.configHash === templateHash } : {}),
    ...(report?.reportedAt ? { reportedAt: report.reportedAt } : {}),
    ...(report?.pod ? { pod: report.pod } : {}),
    ...(report?.watcherError ? { watcherError: report.watcherError } : {}),
  };
}

/** A one-line account of a report, for an operation that waits on it. */
export function describeReport(report: PodReport | undefined): string {
  if (!report) return 'the pod has not reported yet';
  const parts = [
    `pod ${report.pod ?? '(unnamed)'} reported at ${report.reportedAt ?? '?'}`,
    `port mapping set ${report.portMappingsSet ?? 'none'}`,
    `CRL ${report.crlNumber ?? 'none'}`,
    `config hash ${report.configHash ?? 'none'}`,
    ...(report.watcherError ? [`watcher error: ${report.watcherError}`] : []),
  ];
  return parts.join(', ');
}

/** Whether the pod has applied the latest port mappings, and what it last reported (the live-apply poll). */
export async function portMappingsApplied(
  deps: GatewayDeps,
  gateway: string,
): Promise<{ applied: boolean; summary: string; wanted: string }> {
  const state = await readState(deps.cluster, gateway);
  const report = await readPodReport(deps, gateway);
  const wanted = wantedPortMappingsSet(state);
  return { applied: report?.portMappingsSet === wanted, summary: describeReport(report), wanted };
}

/** GET /gateways/{gateway}/connections */
export async function listConnections(
  deps: GatewayDeps,
  gateway: string,
): Promise<{ value: readonly Connection[]; reportedAt?: string | undefined }> {
  await readState(deps.cluster, gateway);
  const report = await readPodReport(deps, gateway);
  return {
    value: report?.connections ?? [],
    ...(report?.reportedAt ? { reportedAt: report.reportedAt } : {}),
  };
}
