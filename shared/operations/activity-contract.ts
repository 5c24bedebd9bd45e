/**
 * What each activity of the orchestrations takes and returns. The orchestrators call activities by name
 * and the host hands the input over as JSON, so each input has a schema, checked when the activity
 * starts; the implementations (`activities.ts`) are typed against the same table.
 */
import { z } from 'zod';

/** Activity names (also their Azure Functions names). */
export const ACTIVITY = Object.freeze({
  readTemplate: 'rollReadTemplate',
  beginRoll: 'rollBegin',
  readRoll: 'rollRead',
  rollBack: 'rollBack',
  desiredConfigHash: 'rollDesiredHash',
  readAddress: 'gatewayReadAddress',
  readClientNames: 'gatewayReadClientNames',
  deleteNamespace: 'gatewayDeleteNamespace',
  deleteSecrets: 'gatewayDeleteSecrets',
  namespaceGone: 'gatewayNamespaceGone',
});

const gateway = z.string().min(1);

/** The input of each activity. */
export const ACTIVITY_INPUTS = {
  readTemplate: gateway,
  beginRoll: z.strictObject({ gateway, force: z.boolean(), restartedAt: z.iso.datetime() }),
  readRoll: gateway,
  rollBack: z.strictObject({ gateway, template: z.unknown() }),
  desiredConfigHash: gateway,
  readAddress: gateway,
  deleteNamespace: gateway,
  readClientNames: gateway,
  /** The gateway's clients, read from its state before the namespace (and the state with it) went. */
  deleteSecrets: z.strictObject({ gateway, clients: z.array(z.string()).readonly() }),
  namespaceGone: gateway,
} as const satisfies Record<keyof typeof ACTIVITY, z.ZodType>;

export type ActivityKey = keyof typeof ACTIVITY;
export type ActivityInput<K extends ActivityKey> = z.output<(typeof ACTIVITY_INPUTS)[K]>;

/** What the last step of a deletion deletes from the secret store. */
export type DeleteSecretsInput = ActivityInput<'deleteSecrets'>;

export interface BeginRollResult {
  /** The config hash the pod template now carries. */
  readonly targetHash: string;
  /** Whether the template changed (a rollout started). */
  readonly changed: boolean;
}

export interface RollProgress {
  readonly complete: boolean;
  /** Set when the rollout can no longer succeed (e.g. ProgressDeadlineExceeded). */
  readonly failure?: string | undefined;
  readonly summary: string;
}

/** The result of each activity. */
export interface ActivityResults {
  /** The pod template before the roll, opaque; handed back to `rollBack`. */
  readonly readTemplate: unknown;
  readonly beginRoll: BeginRollResult;
  readonly readRoll: RollProgress;
  readonly rollBack: true;
  readonly desiredConfigHash: string;
  /** The address clients dial, null until the load balancer has one. */
  readonly readAddress: string | null;
  /** Names of the gateway's clients (none once the state is gone). */
  readonly readClientNames: readonly string[];
  readonly deleteNamespace: true;
  readonly deleteSecrets: true;
  readonly namespaceGone: boolean;
}

/** The activities, typed. */
export type Activities = {
  readonly [K in ActivityKey]: (input: ActivityInput<K>) => Promise<ActivityResults[K]>;
};
