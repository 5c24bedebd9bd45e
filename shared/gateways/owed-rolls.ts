/**
 * The timer's roll check: a roll a gateway is owed (its ledger names a roll that never started, because
 * the request that claimed it died first, or one that ended without finishing) runs without waiting for
 * the next change to that gateway.
 */
import { toDomainError } from '../errors.js';
import type { GatewayDeps } from './deps.js';
import { managedGatewayNames } from './gateway-state.js';

export interface OwedRollReport {
  readonly gateway: string;
  /** The roll that now owns the gateway's ledger (running, started or taken over), when one is owed. */
  readonly operationId?: string | undefined;
  readonly error?: string | undefined;
}

/** Resumes the roll every managed gateway is owed, one gateway at a time; a failure is reported, not thrown. */
export async function resumeOwedRolls(deps: GatewayDeps): Promise<OwedRollReport[]> {
  const reports: OwedRollReport[] = [];
  for (const gateway of await managedGatewayNames(deps)) {
    try {
      const operationId = await deps.operations.resumeRoll(gateway);
      reports.push(operationId ? { gateway, operationId } : { gateway });
    } catch (e: unknown) {
      const error = toDomainError(e).message;
      deps.log.error('owed roll not resumed', { gateway, error });
      reports.push({ gateway, error });
    }
  }
  return reports;
}
