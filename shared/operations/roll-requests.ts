/**
 * The one rule both operations runners (Durable Functions, and the sandbox's in-process runner) follow
 * when a change needs a roll: "a change accepted while a roll runs is rolled out by that roll or by one
 * it starts". The request records itself in the gateway's roll ledger (one more generation requested)
 * with a resourceVersion precondition; in the same write it claims the ledger for a new roll when no roll
 * owns it. The roll's last step (`finishRoll`) releases the ledger only in a write that finds no
 * generation requested beyond the one it rolled, and otherwise rolls again. Both sides decide on the same
 * object, so every request is either seen by the owner's finish or finds the ledger free and starts a roll.
 *
 * What the ledger cannot see is whether its owner is alive: the runner answers that. An owner that was
 * claimed but never started (the claiming request died before starting it) is started by the next
 * request under the same id; an owner that ended without releasing the ledger (failed after its retries,
 * terminated) is replaced, in a write conditional on the ledger version read before its status was
 * (an owner that entered its roll since has written the ledger, so the takeover then loses).
 */
import { randomBytes } from 'node:crypto';
import { ConflictError } from '../errors.js';
import type { RollRequest } from '../model/operations-port.js';
import type { VersionedLedger } from '../model/roll-ledger.js';
import type { LedgerStore } from './roll-ledger.js';
import { readLedger, replaceLedgerIfUnchanged, updateLedger } from './roll-ledger.js';
import type { RollInput, Timing } from './orchestrators.js';

/** What a runner knows of a roll instance. */
export type RollInstanceState = 'active' | 'ended' | 'missing';

/** The part of an operations runner the rule needs. */
export interface RollRuntime {
  /** `active` while it is pending or running, `ended` once terminal, `missing` when no such instance exists. */
  state(instanceId: string): Promise<RollInstanceState>;
  /** Starts roll instance `instanceId`; one already active under that id is not an error. */
  start(instanceId: string, input: RollInput): Promise<void>;
}

/** A fresh roll instance id (one per claim of the ledger). */
export const newRollInstanceId = (gateway: string) => `roll-${gateway}-${randomBytes(6).toString('hex')}`;

/** Rounds of deciding before giving up on a ledger that keeps changing under the request. */
const MAX_DECISIONS = 10;

/** Records a request in the gateway's roll ledger and makes sure a live roll will see it; returns that roll's id. */
export async function requestRoll(
  store: LedgerStore,
  runtime: RollRuntime,
  request: RollRequest,
  timing: Timing,
): Promise<string> {
  const { gateway } = request;
  let recorded = false;
  for (let decision = 1; decision <= MAX_DECISIONS; decision += 1) {
    const candidate = newRollInstanceId(gateway);
    const seen = await updateLedger(store, gateway, (ledger) => {
      const requested = recorded
        ? ledger
        : {
            ...ledger,
            requested: ledger.requested + 1,
            forced: request.force ? ledger.requested + 1 : ledger.forced,
          };
      if (requested.running === undefined) return { ...requested, running: candidate };
      return recorded ? undefined : requested;
    });
    recorded = true;
    const input: RollInput = { gateway, reason: request.reason, timing, since: seen.ledger.rolled };
    if (seen.ledger.running === candidate) {
      await runtime.start(candidate, input);
      return candidate;
    }
    const live = await liveOwner(store, runtime, gateway, seen, input);
    if (live) return live;
  }
  throw new ConflictError(`the roll ledger of gateway '${gateway}' kept changing: try again`);
}

/**
 * Makes sure the roll the ledger names as its owner is alive, without recording a request: for the timer
 * (and a host's start), so a roll owed after a crash (its owner never started, or died before its finish)
 * runs without waiting for the next change. Returns the live owner's id, or undefined when none is owed.
 */
export async function resumeRoll(
  store: LedgerStore,
  runtime: RollRuntime,
  gateway: string,
  timing: Timing,
): Promise<string | undefined> {
  for (let decision = 1; decision <= MAX_DECISIONS; decision += 1) {
    const seen = await readLedger(store, gateway);
    if (seen.ledger.running === undefined) return undefined;
    const input: RollInput = { gateway, reason: 'resumed', timing, since: seen.ledger.rolled };
    const live = await liveOwner(store, runtime, gateway, seen, input);
    if (live) return live;
  }
  throw new ConflictError(`the roll ledger of gateway '${gateway}' kept changing: try again`);
}

/**
 * The id of a live roll that owns the ledger as `seen` (which names an owner): that owner while the runner
 * has it pending or running; started under its id when the runner never heard of it; replaced by a new
 * roll when it ended without releasing the ledger. Undefined when the ledger moved under a takeover
 * (decide again on what it holds now).
 */
async function liveOwner(
  store: LedgerStore,
  runtime: RollRuntime,
  gateway: string,
  seen: VersionedLedger,
  input: RollInput,
): Promise<string | undefined> {
  const owner = seen.ledger.running ?? '';
  const state = await runtime.state(owner);
  if (state === 'active') return owner;
  if (state === 'missing') {
    // claimed but not started (yet, or ever): starting it under its id is the same roll either way
    await runtime.start(owner, input);
    return owner;
  }
  const candidate = newRollInstanceId(gateway);
  if (!(await replaceLedgerIfUnchanged(store, gateway, seen, { ...seen.ledger, running: candidate })))
    return undefined;
  await runtime.start(candidate, input);
  return candidate;
}
