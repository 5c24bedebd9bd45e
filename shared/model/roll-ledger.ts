/**
 * The roll ledger of a gateway, kept in its `roll` ConfigMap and only ever written with a resourceVersion
 * precondition. Requests that need a roll and the roll that finishes decide on the same object, so a
 * change is either seen by the roll's finish (which then rolls once more) or finds the ledger idle (and
 * starts a roll itself): "a change accepted while a roll runs is rolled out by that roll or by one it
 * starts".
 */
import { z } from 'zod';
import { InternalError } from '../errors.js';
import { CONFIG_KEYS } from './names.js';

export interface RollLedger {
  /** Generation of the latest request that needs a roll: each such request adds one. */
  readonly requested: number;
  /** The generation the last finished roll covered: every request up to it is rolled out. */
  readonly rolled: number;
  /** Generation of the latest restart request: a round that covers it makes a new pod even when nothing changed. */
  readonly forced: number;
  /** Instance id of the roll that owns the ledger (the one that will finish it), while there is one. */
  readonly running?: string | undefined;
  /**
   * Times an owner entered its roll: each entry writes the ledger, so a takeover decided on an older
   * version (the owner looked dead) loses against an owner that has since started.
   */
  readonly entered: number;
}

/** A ledger as read or written, with the resourceVersion to make the next write conditional on. */
export interface VersionedLedger {
  readonly ledger: RollLedger;
  readonly resourceVersion: string;
}

export const IDLE_LEDGER: RollLedger = Object.freeze({ requested: 0, rolled: 0, forced: 0, entered: 0 });

const generation = z.int().nonnegative();
const ledgerSchema = z.strictObject({
  requested: generation,
  rolled: generation,
  forced: generation,
  running: z.string().min(1).optional(),
  entered: generation,
});

export function rollLedgerData(ledger: RollLedger): Record<string, string> {
  const { running, ...rest } = ledger;
  return { [CONFIG_KEYS.rollLedger]: JSON.stringify(running === undefined ? rest : { ...rest, running }) };
}

export function parseRollLedgerData(data: Readonly<Record<string, string>>): RollLedger {
  try {
    return ledgerSchema.parse(JSON.parse(data[CONFIG_KEYS.rollLedger] ?? ''));
  } catch (e: unknown) {
    throw new InternalError('the roll ledger (ConfigMap roll) is unreadable', { cause: e });
  }
}
