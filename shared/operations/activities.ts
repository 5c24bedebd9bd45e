/**
 * The activities of the orchestrations. Each is idempotent (it may run more than once) and throws on
 * failure so the orchestrator's retries apply. Each is one call into the use-cases' helpers or the
 * cluster port; the read-only ones (the template, the rollout, the desired hash, the address) write
 * nothing, so a retried or replayed read never changes the gateway.
 */
import type { z } from 'zod';
import type { GatewayDeps } from '../gateways/deps.js';
import { configHashAnnotation, desiredConfigHash } from '../gateways/gateway-objects.js';
import { readServerPki } from '../gateways/gateway-pki.js';
import { findState, readState } from '../gateways/gateway-state.js';
import { gatewayAddress } from '../gateways/gateways.js';
import { portMappingsApplied } from '../gateways/gateway-status.js';
import { ConflictError, UpstreamError } from '../errors.js';
import { rolloutComplete } from '../model/cluster-port.js';
import { OBJECTS, RESTARTED_AT_ANNOTATION, namespaceOf } from '../model/names.js';
import type { Activities, ActivityInput, ActivityKey, ActivityResults } from './activity-contract.js';
import { ACTIVITY, ACTIVITY_INPUTS } from './activity-contract.js';
import type { LedgerStore } from './roll-ledger.js';
import { readLedger, updateLedger } from './roll-ledger.js';

/** An activity as a host calls it: JSON in, JSON out. */
export type Activity = (input: unknown) => Promise<unknown>;

/** The activities, typed, over the use-cases' dependencies. */
export function gatewayActivities(deps: GatewayDeps): Activities {
  const { cluster } = deps;
  const ledger: LedgerStore = { cluster, labelDomain: deps.config.LABEL_DOMAIN };
  const rollout = (gateway: string) => cluster.readRollout(namespaceOf(gateway), OBJECTS.deployment);

  /**
   * The hash the pod template should carry for the gateway's latest state. Read-only: the use-case that
   * started the roll made sure the server PKI exists; if it vanished since, the roll fails (and a PUT of
   * the gateway repairs it) instead of a read quietly re-issuing certificates.
   */
  const currentDesiredHash = async (gateway: string) => {
    const state = await readState(cluster, gateway);
    const pki = await readServerPki(deps, gateway);
    if (!pki)
      throw new UpstreamError(
        `the server PKI of gateway '${gateway}' is missing: PUT the gateway again to repair it`,
      );
    return desiredConfigHash(deps, state, pki);
  };

  return {
    // A write even for the owner: it moves the ledger's version, so a takeover decided while this roll
    // looked dead (on an older version) fails.
    enterRoll: async ({ gateway, instanceId }) =>
      (
        await updateLedger(ledger, gateway, (l) =>
          l.running === instanceId ? { ...l, entered: l.entered + 1 } : undefined,
        )
      ).ledger.running === instanceId,
    readTemplate: async (gateway) => (await rollout(gateway)).template,
    beginRoll: async ({ gateway, since, restartedAt }) => {
      // The generation first, the configuration after: every request counted in it changed the state
      // before it was counted, so the hash below includes its change.
      const { ledger: current } = await readLedger(ledger, gateway);
      const generation = current.requested;
      const force = current.forced > since;
      const targetHash = await currentDesiredHash(gateway);
      const before = await rollout(gateway);
      const annotations: Record<string, string> = { [configHashAnnotation(deps)]: targetHash };
      if (force) annotations[RESTARTED_AT_ANNOTATION] = restartedAt;
      const changed = Object.entries(annotations).some(([k, v]) => before.templateAnnotations[k] !== v);
      if (changed)
        await cluster.patchPodTemplateAnnotations(namespaceOf(gateway), OBJECTS.deployment, annotations);
      deps.log.info('roll started', { gateway, targetHash, changed, force, generation });
      return { targetHash, changed, generation, forced: force };
    },
    readRoll: async (gateway) => {
      const r = await rollout(gateway);
      const stuck = r.conditions.find(
        (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
      );
      return {
        complete: rolloutComplete(r),
        ...(stuck ? { failure: stuck.message ?? 'progress deadline exceeded' } : {}),
        summary: `generation ${r.generation}, observed ${r.observedGeneration}, updated ${r.updatedReplicas}/${r.replicas}, available ${r.availableReplicas}, total ${r.totalReplicas}`,
      };
    },
    rollBack: async ({ gateway, template }) => {
      await cluster.restorePodTemplate(namespaceOf(gateway), OBJECTS.deployment, template);
      deps.log.warn('roll rolled back', { gateway });
      return true;
    },
    desiredConfigHash: currentDesiredHash,
    // Releases the ledger only if no request came after the round's generation, decided in the write
    // itself; a ledger another roll took over is left alone.
    finishRoll: async ({ gateway, instanceId, generation }) => {
      let again = false;
      await updateLedger(ledger, gateway, (l) => {
        again = l.running === instanceId && l.requested > generation;
        if (l.running !== instanceId || again) return undefined;
        const { running: _released, ...rest } = l;
        return { ...rest, rolled: Math.max(l.rolled, generation) };
      });
      deps.log.info(again ? 'roll goes on: requested again meanwhile' : 'roll finished', {
        gateway,
        generation,
      });
      return { again };
    },
    readApplied: async (gateway) => {
      const { applied, summary } = await portMappingsApplied(deps, gateway);
      return { applied, summary };
    },
    readAddress: async (gateway) =>
      (await gatewayAddress(deps, (await readState(cluster, gateway)).spec)) ?? null,
    deleteNamespace: async (gateway) => {
      await cluster.deleteNamespace(namespaceOf(gateway));
      return true;
    },
    namespaceGone: async (gateway) => !(await cluster.namespaceExists(namespaceOf(gateway))),
    // A state gone means an earlier run deleted the secrets (they go before the namespace); a state without
    // the mark is not being deleted (a gateway of the same name made since must keep its secrets).
    readClientNames: async (gateway) => {
      const state = await findState(cluster, gateway);
      if (!state) return null;
      if (!state.deleting)
        throw new ConflictError(`gateway '${gateway}' is not marked for deletion: DELETE it again`);
      return state.clients.map((c) => c.name);
    },
    deleteSecrets: async ({ gateway, clients }) => {
      await deps.secrets.deleteGateway(gateway, clients);
      return true;
    },
  };
}

/** The input schemas, indexed so each key's schema is typed with that key's input. */
const INPUTS: { readonly [K in ActivityKey]: z.ZodType<ActivityInput<K>> } = ACTIVITY_INPUTS;

/** Calls one typed activity with a JSON input, checked against its schema first. */
async function dispatch<K extends ActivityKey>(
  activities: Activities,
  key: K,
  input: unknown,
): Promise<ActivityResults[K]> {
  const activity: (input: ActivityInput<K>) => Promise<ActivityResults[K]> = activities[key];
  return activity(INPUTS[key].parse(input));
}

/** The activities by Azure Functions name, as the hosts call them (JSON in, JSON out). */
export function makeActivities(deps: GatewayDeps): Readonly<Record<string, Activity>> {
  const activities = gatewayActivities(deps);
  return Object.fromEntries(
    (Object.keys(ACTIVITY) as ActivityKey[]).map((key) => [
      ACTIVITY[key],
      (input: unknown) => dispatch(activities, key, input),
    ]),
  );
}
