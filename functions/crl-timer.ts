// The CRL and certificate-expiry timer: an expired CRL locks every client out, so every gateway's CRL
// is re-signed well before its nextUpdate; expiring certificates are reported in the logs. It runs the
// reconciler first, which completes issues and revocations that crashed requests left half-done, and
// last resumes the roll a gateway is owed after a crash (see shared/gateways/owed-rolls.ts).
import type { InvocationContext, Timer } from '@azure/functions';
import type { Composition } from '../shared/composition.js';
import { DEFAULT_CRL_TIMER_SCHEDULE } from '../shared/config.js';

/** The timer's Azure Functions name. */
export const CRL_TIMER = 'crlTimer';

/**
 * The timer's schedule: the app setting when there is one (infra sets it; `%…%` is resolved by the host),
 * else the default: a `%…%` naming a missing setting would stop the host from indexing the function.
 */
export function crlTimerSchedule(env: NodeJS.ProcessEnv): string {
  return env['CRL_TIMER_SCHEDULE'] ? '%CRL_TIMER_SCHEDULE%' : DEFAULT_CRL_TIMER_SCHEDULE;
}

export function makeCrlTimerHandler(composition: Pick<Composition, 'deps'>) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    // Loaded on the first run (the use-cases' modules), not when the host starts.
    const [{ refreshCrls }, { resumeOwedRolls }, { reconcileGateways }, deps] = await Promise.all([
      import('../shared/gateways/crl.js'),
      import('../shared/gateways/owed-rolls.js'),
      import('../shared/gateways/reconcile.js'),
      composition.deps(context),
    ]);
    const reconciled = await reconcileGateways(deps);
    const reports = await refreshCrls(deps);
    deps.log.info('CRL refresh done', {
      gateways: reports.length,
      renewed: reports.filter((r) => r.renewed).length,
      failed: reports.filter((r) => r.error !== undefined).length,
      expiringCertificates: reports.reduce((n, r) => n + r.expiring.length, 0),
    });
    const rolls = await resumeOwedRolls(deps);
    deps.log.info('owed rolls checked', {
      gateways: rolls.length,
      rolling: rolls.filter((r) => r.operationId !== undefined).length,
      failed: rolls.filter((r) => r.error !== undefined).length,
    });
    const failed = reports.filter((r) => r.error !== undefined).map((r) => r.gateway);
    const unsettled = reconciled.filter((r) => r.errors.length > 0).map((r) => r.gateway);
    const unrolled = rolls.filter((r) => r.error !== undefined).map((r) => r.gateway);
    const problems = [
      ...(failed.length > 0 ? [`CRL refresh failed for ${failed.join(', ')}`] : []),
      ...(unsettled.length > 0 ? [`reconcile left work undone on ${unsettled.join(', ')}`] : []),
      ...(unrolled.length > 0 ? [`owed roll not resumed for ${unrolled.join(', ')}`] : []),
    ];
    if (problems.length > 0) throw new Error(`${problems.join('; ')}: the next run retries`);
  };
}
