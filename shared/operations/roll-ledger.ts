/**
 * Reading and writing a gateway's roll ledger (the `roll` ConfigMap), always with resourceVersion
 * preconditions. The ConfigMap is created by the first write that needs it (a gateway made before the
 * ledger existed gets one on its first roll); a missing namespace means the gateway does not exist.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import { buildRollLedgerConfigMap } from '../kube/manifests.js';
import type { ClusterPort } from '../model/cluster-port.js';
import { OBJECTS, namespaceOf } from '../model/names.js';
import type { RollLedger, VersionedLedger } from '../model/roll-ledger.js';
import { IDLE_LEDGER, parseRollLedgerData, rollLedgerData } from '../model/roll-ledger.js';

/** Where the ledgers live: the cluster, and the label domain its objects carry. */
export interface LedgerStore {
  readonly cluster: ClusterPort;
  readonly labelDomain: string;
}

/** The ledger as it is now (idle, at no version, when it was never written). */
export async function readLedger(store: LedgerStore, gateway: string): Promise<VersionedLedger> {
  const cm = await store.cluster.readConfigMap(namespaceOf(gateway), OBJECTS.roll);
  return cm
    ? { ledger: parseRollLedgerData(cm.data), resourceVersion: cm.resourceVersion }
    : { ledger: IDLE_LEDGER, resourceVersion: '' };
}

/**
 * Applies `mutate` to the latest ledger and writes the result with a resourceVersion precondition; on a
 * conflict the cluster port re-reads and calls `mutate` again, so the decision is always made on what is
 * written. `mutate` returning undefined means "no change". Returns the ledger as written (or as read).
 */
export async function updateLedger(
  store: LedgerStore,
  gateway: string,
  mutate: (current: RollLedger) => RollLedger | undefined,
): Promise<VersionedLedger> {
  const namespace = namespaceOf(gateway);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const written = await store.cluster.updateConfigMap(namespace, OBJECTS.roll, (current) => {
        const next = mutate(parseRollLedgerData(current.data));
        return next ? rollLedgerData(next) : undefined;
      });
      return { ledger: parseRollLedgerData(written.data), resourceVersion: written.resourceVersion };
    } catch (e: unknown) {
      if (!(e instanceof NotFoundError) || attempt > 1) throw gatewayGone(e, gateway);
    }
    try {
      await store.cluster.create(buildRollLedgerConfigMap(gateway, store.labelDomain, IDLE_LEDGER));
    } catch (e: unknown) {
      // another request created it first: write to theirs
      if (!(e instanceof ConflictError)) throw gatewayGone(e, gateway);
    }
  }
}

/**
 * Writes `next` only if the ledger is still exactly as `seen` (no re-read, no second decision): for a
 * decision that depends on something outside the ledger, read after `seen` was. False when it moved.
 */
export async function replaceLedgerIfUnchanged(
  store: LedgerStore,
  gateway: string,
  seen: VersionedLedger,
  next: RollLedger,
): Promise<boolean> {
  try {
    await store.cluster.replaceConfigMap(
      namespaceOf(gateway),
      OBJECTS.roll,
      rollLedgerData(next),
      seen.resourceVersion,
    );
    return true;
  } catch (e: unknown) {
    if (e instanceof ConflictError) return false;
    throw e;
  }
}

function gatewayGone(e: unknown, gateway: string): unknown {
  return e instanceof NotFoundError
    ? new NotFoundError(`gateway '${gateway}' does not exist`, { cause: e })
    : e;
}
