/**
 * The activities of the orchestrations. Each is idempotent (it may run more than once) and throws on
 * failure so the orchestrator's retries apply. Built from the use-cases' dependencies.
 */
import type { GatewayDeps } from '../gateways/deps.js';
import { configHashAnnotation, desiredConfigHash } from '../gateways/gateway-objects.js';
import { ensurePki } from '../gateways/gateway-pki.js';
import { findState, readState } from '../gateways/gateway-state.js';
import { gatewayAddress } from '../gateways/gateways.js';
import { rolloutComplete } from '../model/cluster-port.js';
import type { BeginRollResult, DeleteSecretsInput, RollProgress } from './orchestrators.js';
import { ACTIVITY } from './orchestrators.js';
import { OBJECTS, RESTARTED_AT_ANNOTATION, namespaceOf } from '../model/names.js';

export type Activity = (input: unknown) => Promise<unknown>;

export function makeActivities(deps: GatewayDeps): Readonly<Record<string, Activity>> {
  const { cluster } = deps;
  const currentDesiredHash = async (gateway: string) => {
    const state = await readState(cluster, gateway);
    const { pki } = await ensurePki(deps, state);
    return desiredConfigHash(deps, state, pki);
  };

  return {
    [ACTIVITY.readTemplate]: async (input) =>
      (await cluster.readRollout(namespaceOf(input as string), OBJECTS.deployment)).template,
    [ACTIVITY.beginRoll]: async (input) => {
      const { gateway, force, restartedAt } = input as {
        gateway: string;
        force: boolean;
        restartedAt: string;
      };
      const ns = namespaceOf(gateway);
      const targetHash = await currentDesiredHash(gateway);
      const before = await cluster.readRollout(ns, OBJECTS.deployment);
      const annotations: Record<string, string> = { [configHashAnnotation(deps)]: targetHash };
      if (force) annotations[RESTARTED_AT_ANNOTATION] = restartedAt;
      const changed = Object.entries(annotations).some(([k, v]) => before.templateAnnotations[k] !== v);
      if (changed) await cluster.patchPodTemplateAnnotations(ns, OBJECTS.deployment, annotations);
      deps.log.info('roll started', { gateway, targetHash, changed, force });
      return { targetHash, changed } satisfies BeginRollResult;
    },
    [ACTIVITY.readRoll]: async (input) => {
      const r = await cluster.readRollout(namespaceOf(input as string), OBJECTS.deployment);
      const stuck = r.conditions.find(
        (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
      );
      return {
        complete: rolloutComplete(r),
        ...(stuck ? { failure: stuck.message ?? 'progress deadline exceeded' } : {}),
        summary: `generation ${r.generation}, observed ${r.observedGeneration}, updated ${r.updatedReplicas}/${r.replicas}, available ${r.availableReplicas}, total ${r.totalReplicas}`,
      } satisfies RollProgress;
    },
    [ACTIVITY.rollBack]: async (input) => {
      const { gateway, template } = input as { gateway: string; template: unknown };
      await cluster.restorePodTemplate(namespaceOf(gateway), OBJECTS.deployment, template);
      deps.log.warn('roll rolled back', { gateway });
      return true;
    },
    [ACTIVITY.desiredConfigHash]: async (input) => currentDesiredHash(input as string),
    [ACTIVITY.readAddress]: async (input) => {
      const state = await readState(cluster, input as string);
      return (await gatewayAddress(deps, state.spec)) ?? null;
    },
    [ACTIVITY.deleteNamespace]: async (input) => {
      await cluster.deleteNamespace(namespaceOf(input as string));
      return true;
    },
    [ACTIVITY.namespaceGone]: async (input) => !(await cluster.namespaceExists(namespaceOf(input as string))),
    // A state already gone (a deletion that ran before) leaves no names: only the CA is then deleted.
    [ACTIVITY.readClientNames]: async (input) =>
      (await findState(cluster, input as string))?.clients.map((c) => c.name) ?? [],
    [ACTIVITY.deleteSecrets]: async (input) => {
      const { gateway, clients } = input as DeleteSecretsInput;
      await deps.secrets.deleteGateway(gateway, clients);
      return true;
    },
  };
}
