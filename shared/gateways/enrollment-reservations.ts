/**
 * What pending enrollments hold (README, "Branch enrollment"): from creation until used, revoked or expired,
 * an enrollment reserves its client name, its address and its LAN subnets, exactly as a client holds them.
 * Every write that hands out a name, an address or a subnet reads these from the state it writes into.
 */
import { ConflictError } from '../errors.js';
import type { GatewayState } from '../model/gateway.js';
import { reserves } from '../model/gateway.js';

/** LAN subnets a pending enrollment reserves for the client it will issue. */
export interface ReservedSubnets {
  readonly owner: string;
  readonly subnets: readonly string[];
}

export interface Reservations {
  readonly names: ReadonlySet<string>;
  readonly ips: readonly string[];
  readonly subnets: readonly ReservedSubnets[];
}

/** The names, addresses and subnets held at `now` by pending enrollments: no client may take them. */
export function reservations(s: GatewayState, now: Date): Reservations {
  const active = (s.enrollments ?? []).filter((e) => reserves(e, now));
  return {
    names: new Set(active.map((e) => e.client)),
    ips: active.map((e) => e.ip),
    subnets: active.flatMap((e) => (e.subnets?.length ? [{ owner: e.client, subnets: e.subnets }] : [])),
  };
}

/** ConflictError when an enrollment reserves `name` at `now` (issuing a client of that name must wait). */
export function requireNameNotReserved(s: GatewayState, name: string, now: Date): void {
  if (reservations(s, now).names.has(name))
    throw new ConflictError(
      `client name '${name}' is reserved by a pending enrollment on gateway '${s.spec.name}': revoke the enrollment or let it expire`,
    );
}
