/**
 * The reconciler: completes what crashed requests left half-done, without their callers. For a gateway
 * marked for deletion it only runs the deletion again when its operation ended without deleting it (see
 * `resumeDeletion`): every other write is refused from the mark on. For any other gateway it
 * completes a creation left half-done (older than ABANDONED_CREATION_MINUTES) and every recorded intent
 * (pending issues, revocations in progress), then makes the deployed CRL list every revoked serial, the
 * CCD entries match the pending and active clients, and the deployed port mappings those of the state; it
 * drops enrollment records past their retention time and deletes sealed state chunks no state references
 * (older than ORPHAN_CHUNK_MINUTES: left by a write that crashed or lost). It
 * runs at host start and with the CRL timer (`functions/crl-timer.ts`), and for one client on every read
 * of it (`getClient`, `getClientProfile`). Safe to run beside requests: every step it takes is the
 * idempotent step the request itself would take.
 */
import { toDomainError } from '../errors.js';
import type { GatewayDeps } from './deps.js';
import { completeIssue, completeRevocation, ensureCrlDeployed } from './client-lifecycle.js';
import { convergeCcd } from './ccd-convergence.js';
import { collectStateChunks, findState, managedGatewayNames, readState } from './gateway-state.js';
import { pruneEnrollments } from './enrollments.js';
import { completeGatewayCreation, resumeDeletion } from './gateways.js';
import { mappingsDeployed, syncPortMappings } from './port-mappings.js';

export interface ReconcileReport {
  readonly gateway: string;
  /** Whether a creation left half-done (CA, server PKI or Deployment missing) was completed. */
  readonly gatewayRepaired: boolean;
  /** Pending issues completed. */
  readonly issued: readonly string[];
  /** Revocations completed. */
  readonly revoked: readonly string[];
  /** Whether the deployed CRL lacked a revoked serial and was re-signed. */
  readonly crlRewritten: boolean;
  /** CCD entries added or removed to match the state. */
  readonly ccdRepaired: number;
  /** Whether the deployed port mappings (ConfigMap, `pm-<port>` Services) differed from the state. */
  readonly mappingsRepaired: boolean;
  /** Used and expired enrollment records dropped past their retention time. */
  readonly enrollmentsDropped: number;
  /** Sealed state chunks no state references, left by a crashed or failed write, deleted. */
  readonly chunksCollected: number;
  /** The deletion run started again, when the gateway is marked for deletion and its operation ended. */
  readonly deletionResumed?: string | undefined;
  /** What could not be completed this time (the next run tries again). */
  readonly errors: readonly string[];
}

const nothingDone = (gateway: string, errors: readonly string[]): ReconcileReport => ({
  gateway,
  gatewayRepaired: false,
  issued: [],
  revoked: [],
  crlRewritten: false,
  ccdRepaired: 0,
  mappingsRepaired: false,
  enrollmentsDropped: 0,
  chunksCollected: 0,
  errors,
});

/** Completes or repairs everything half-done on one gateway; one failure does not stop the rest. */
export async function reconcileGateway(deps: GatewayDeps, gateway: string): Promise<ReconcileReport> {
  const issued: string[] = [];
  const revoked: string[] = [];
  const errors: string[] = [];
  const attempt = async <T>(what: string, step: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await step();
    } catch (e: unknown) {
      const error = `${what}: ${toDomainError(e).message}`;
      errors.push(error);
      deps.log.error('reconcile step failed', { gateway, error });
      return undefined;
    }
  };
  const marked = await findState(deps.cluster, gateway);
  if (marked?.deleting) {
    const deletionResumed = await attempt('deletion', () => resumeDeletion(deps, marked));
    return { ...nothingDone(gateway, errors), ...(deletionResumed ? { deletionResumed } : {}) };
  }
  const gatewayRepaired =
    (await attempt('gateway', () => completeGatewayCreation(deps, gateway))) !== undefined;
  const state = await findState(deps.cluster, gateway);
  if (!state) return { ...nothingDone(gateway, errors), gatewayRepaired };
  for (const client of state.clients) {
    if (client.status === 'pending')
      await attempt(`issue of '${client.name}'`, async () => {
        await completeIssue(deps, state, client);
        issued.push(client.name);
      });
    else if (client.status === 'revoking')
      await attempt(`revocation of '${client.name}'`, async () => {
        await completeRevocation(deps, state, client);
        revoked.push(client.name);
      });
  }
  const crlRewritten = (await attempt('CRL', () => ensureCrlDeployed(deps, gateway))) ?? false;
  const ccdRepaired = (await attempt('CCD', () => convergeCcd(deps, gateway))) ?? 0;
  // A mappings change (or a forced revocation) that stopped between the state and the cluster.
  const mappingsRepaired =
    (await attempt('port mappings', async () => {
      if (await mappingsDeployed(deps, await readState(deps.cluster, gateway))) return false;
      await syncPortMappings(deps, gateway);
      return true;
    })) ?? false;
  // Expired enrollments reserve nothing from their expiry on; their records go after the retention time.
  const enrollmentsDropped = (await attempt('enrollments', () => pruneEnrollments(deps, gateway))) ?? 0;
  const chunksCollected =
    (await attempt('state chunks', () => collectStateChunks(deps.cluster, gateway)))?.length ?? 0;
  const report: ReconcileReport = {
    gateway,
    gatewayRepaired,
    issued,
    revoked,
    crlRewritten,
    ccdRepaired,
    mappingsRepaired,
    enrollmentsDropped,
    chunksCollected,
    errors,
  };
  if (
    gatewayRepaired ||
    issued.length + revoked.length > 0 ||
    crlRewritten ||
    ccdRepaired > 0 ||
    mappingsRepaired ||
    chunksCollected > 0
  )
    deps.log.warn('reconciled half-done work', { ...report });
  return report;
}

/** Reconciles every gateway this API manages (at start and on the timer). */
export async function reconcileGateways(deps: GatewayDeps): Promise<ReconcileReport[]> {
  const reports: ReconcileReport[] = [];
  for (const gateway of await managedGatewayNames(deps)) {
    try {
      reports.push(await reconcileGateway(deps, gateway));
    } catch (e: unknown) {
      const error = toDomainError(e).message;
      deps.log.error('reconcile failed', { gateway, error });
      reports.push(nothingDone(gateway, [error]));
    }
  }
  return reports;
}
