/**
 * Long-running operations in the Azure LRO shape (`GET /api/operations/{id}`), and the port that
 * starts them. In Azure the Durable Functions client implements it; in the sandbox and in tests the
 * in-process runner executes the same orchestrator code.
 */

export type OperationStatus = 'NotStarted' | 'Running' | 'Succeeded' | 'Failed' | 'Canceled';

export interface Operation {
  readonly id: string;
  readonly status: OperationStatus;
  /** What the operation does, e.g. `roll`, `provision`, `delete`. */
  readonly kind: string;
  readonly gateway: string;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly lastUpdatedAt: string;
}

/**
 * A roll to start or join. It carries no config hash: the roll computes the hash from the gateway's
 * latest state when it begins and again before it ends, so a request that joins a running roll never
 * pins a hash that a later change has already made stale.
 */
export interface RollRequest {
  readonly gateway: string;
  /** Why: `config-change`, `restart`, … (recorded, and logged). */
  readonly reason: string;
  /** Forces new pods even when the config hash is unchanged (`kubectl.kubernetes.io/restartedAt`). */
  readonly force: boolean;
}

export interface OperationsPort {
  /** Starts (or joins, for the same gateway) a roll; returns the operation id to poll. */
  startRoll(request: RollRequest): Promise<string>;
  /**
   * Makes sure a roll the gateway is owed runs (its ledger names a roll that never started or ended
   * without finishing): returns the live roll's id, or undefined when no roll is owed.
   */
  resumeRoll(gateway: string): Promise<string | undefined>;
  /**
   * Waits until the running pod reports it applied the gateway's latest port mappings (a live change, no roll),
   * or fails after LIVE_APPLY_TIMEOUT_SECONDS naming what the pod last reported.
   */
  startLiveApply(gateway: string): Promise<string>;
  /** Waits for the LoadBalancer address and records it. */
  startProvision(gateway: string): Promise<string>;
  /**
   * Deletes the gateway's secrets and namespace and waits until gone, as operation `id` (the id recorded
   * in the gateway's deletion mark, so a repeated DELETE and the reconciler can ask whether it runs).
   * Returns the id.
   */
  startDeletion(gateway: string, id: string): Promise<string>;
  /** Undefined when no such operation exists. */
  getOperation(id: string): Promise<Operation | undefined>;
}
