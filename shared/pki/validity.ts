/** Certificate validity periods: defaults, the backdating, and the checks against the CA's own expiry. */
import { InputError } from '../errors.js';

export const DAY_MS = 86_400_000;
/** Certificates start a little in the past so a peer whose clock lags slightly still accepts them. */
const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_SERVER_VALIDITY_DAYS = 1825;
/** One year; the gateway API's `clientCertValidityDays` default is the same. */
export const DEFAULT_CLIENT_VALIDITY_DAYS = 365;

export interface ValidityPeriod {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The period of a certificate valid `days` from `now`, refused when it would outlive `notAfterLimit`. */
export function validity(now: Date, days: number, what: string, notAfterLimit?: Date): ValidityPeriod {
  if (!Number.isInteger(days) || days <= 0)
    throw new InputError(`${what} validity must be a whole number of days above 0 (got ${days})`, [
      { path: '/validityDays', message: 'must be a whole number above 0' },
    ]);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + days * DAY_MS);
  if (notAfterLimit && notAfter > notAfterLimit)
    throw new InputError(
      `${what} validity of ${days} days would end after the CA's own expiry (${notAfterLimit.toISOString()})`,
      [{ path: '/validityDays', message: `must end before the CA expires (${notAfterLimit.toISOString()})` }],
    );
  return { notBefore, notAfter };
}
