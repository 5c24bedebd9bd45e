/**
 * What each activity of the orchestrations takes and returns. The orchestrators call activities by name
 * and the host hands the input over as JSON, so each input has a schema, checked when the activity
 * starts; the implementations (`activities.ts`) are typed against the same table.
 */
import { z } from 'zod';

/** Activity names (also their Azure Functions names). */
export const ACTIVITY = Object.freeze({
  enterRoll: 'rollEnter',
  readTemplate: 'rollReadTemplate',
  beginRoll: 'rollBegin',
  readRoll: 'rollRead',
  rollBack: 'rollBack',
  desiredConfigHash: 'rollDesiredHash',
  finishRoll: 'rollFinish',
  readApplied: 'gatewayReadApplied',
  readAddress: 'gatewayReadAddress',
  readClientNames: 'gatewayReadClientNames',
  deleteNamespace: 'gatewayDeleteNamespace',
  deleteSecrets: 'gatewayDeleteSecrets',
  namespaceGone: 'gatewayNamespaceGone',
});

const gateway = z.string().min(1);
const instanceId = z.string().min(1);
const generation = z.int().nonnegative();

/** The input of each activity. */
export const ACTIVITY_INPUTS = {
  enterRoll: z.strictObject({ gateway, instanceId }),
  readTemplate: gateway,
  /** `since`: the ledger generation rolled out before this round (a restart requested after it forces the round). */
  beginRoll: z.strictObject({ gateway, since: generation, restartedAt: z.iso.datetime() }),
  readRoll: gateway,
  rollBack: z.strictObject({ gateway, template: z.unknown() }),
  desiredConfigHash: gateway,
  /** `generation`: the ledger generation the round rolled out. */
  finishRoll: z.strictObject({ gateway, instanceId, generation }),
  readApplied: gateway,
  readAddress: gateway,
  deleteNamespace: gateway,
  readClientNames: gateway,
  /** The gateway's clients, read from its state after its deletion mark, before the namespace went. */
  deleteSecrets: z.strictObject({ gateway, clients: z.array(z.string()).readonly() }),
  namespaceGone: gateway,
} as const satisfies Record<keyof typeof ACTIVITY, z.ZodType>;

export type ActivityKey = keyof typeof ACTIVITY;
export type ActivityInput<K extends ActivityKey> = z.output<(typeof ACTIVITY_INPUTS)[K]>;

export interface BeginRollResult {
  /** The config hash the pod template now carries. */
  readonly targetHash: string;
  /** Whether the template changed (a rollout started). */
  readonly changed: boolean;
  /** The ledger generation read before the desired configuration: every request up to it is in this round. */
  readonly generation: number;
  /** Whether the round makes a new pod even when nothing changed (a restart was requested since the last round). */
  readonly forced: boolean;
}

export interface FinishRollResult {
  /** A request came after the round's generation: roll once more (the ledger stays with this roll). */
  readonly again: boolean;
}

export interface RollProgress {
  readonly complete: boolean;
  /** Set when the rollout can no longer succeed (e.g. ProgressDeadlineExceeded). */
  readonly failure?: string | undefined;
  readonly summary: string;
}

/** The result of each activity. */
export interface ActivityResults {
  /** Whether this instance owns the gateway's roll ledger (else another roll took it over: do nothing). */
  readonly enterRoll: boolean;
  /** The pod template before the roll, opaque; handed back to `rollBack`. */
  readonly readTemplate: unknown;
  readonly beginRoll: BeginRollResult;
  readonly readRoll: RollProgress;
  readonly rollBack: true;
  readonly desiredConfigHash: string;
  readonly finishRoll: FinishRollResult;
  /** Whether the pod reports the latest port mappings applied, and what it last reported. */
  readonly readApplied: { readonly applied: boolean; readonly summary: string };
  /** The address clients dial, null until the load balancer has one. */
  readonly readAddress: string | null;
  /**
   * Names of the clients of the gateway marked for deletion, read after the mark; null once its state is
   * gone (an earlier run deleted it: its secrets went before its namespace).
   */
  readonly readClientNames: readonly string[] | null;
  readonly deleteNamespace: true;
  readonly deleteSecrets: true;
  readonly namespaceGone: boolean;
}

/** The activities, typed. */
export type Activities = {
  readonly [K in ActivityKey]: (input: ActivityInput<K>) => Promise<ActivityResults[K]>;
};
