/**
 * The soak's driver: random operations through the use-cases, a few at a time on different gateways
 * (create, update, restart and, with a runner that carries deletions out, delete gateways; issue with
 * generated keys and CSRs, revoke, force-revoke mapped clients, replace port mappings, read profiles). A
 * failed operation is repeated as a caller would: a few times while faults go on, then, once the caller
 * turns them off, until it is answered. Every answer is recorded in an AcknowledgedWrites log for the
 * invariant check.
 */
import { ConflictError, DomainError, NotFoundError, UpstreamError } from '../../shared/errors.js';
import { getClientProfile, issueClient, revokeClient } from '../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../shared/gateways/deps.js';
import { deleteGateway, putGateway, restartGateway } from '../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../shared/gateways/port-mappings.js';
import type { PortMapping } from '../../shared/model/gateway.js';
import type { Operation as LongRunning } from '../../shared/model/operations-port.js';
import { AcknowledgedWrites } from './acknowledged-writes.js';
import type { SeededRandom } from './seeded-random.js';

/** Attempts of a failed operation while faults go on (then it waits until they stop). */
const ATTEMPTS_UNDER_FAULTS = 3;

type Operation =
  | { kind: 'createGateway'; gateway: string; vpnSubnet: string }
  | { kind: 'updateGateway'; gateway: string; extraRoutes: string[] }
  | { kind: 'restart'; gateway: string }
  | { kind: 'deleteGateway'; gateway: string }
  | { kind: 'issue'; gateway: string; client: string; csr: boolean }
  | { kind: 'revoke'; gateway: string; client: string; force: boolean }
  | { kind: 'mappings'; gateway: string; mappings: PortMapping[] }
  | { kind: 'profile'; gateway: string; client: string };

interface WorldGateway {
  readonly vpnSubnet: string;
  readonly clients: Map<string, 'active' | 'revoked' | 'unknown'>;
  mappings: readonly PortMapping[];
  deleting: boolean;
}

export interface SoakOptions {
  /** The use-cases' dependencies, their ports wrapped in fault injectors. */
  readonly deps: GatewayDeps;
  /** Turned off by the driver once the random operations are done. */
  readonly faults: { enabled: boolean };
  readonly rng: SeededRandom;
  readonly operations: number;
  /** A CSR for the issues that bring their own key (its subject is ignored). */
  readonly csrPem: string;
  readonly maxGateways?: number | undefined;
  /** The runner of long-running operations; without it no gateway is deleted. */
  readonly runner?:
    { drain(): Promise<void>; getOperation(id: string): Promise<LongRunning | undefined> } | undefined;
}

export interface SoakResult {
  readonly ledger: AcknowledgedWrites;
  readonly planned: number;
  readonly calls: number;
  readonly failedAttempts: number;
  /** Answers other than success (refusals), for the figures. */
  readonly unexpected: readonly string[];
  /** Operations still failing after the faults stopped. */
  readonly unanswered: readonly string[];
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const { deps, faults, rng, csrPem } = o;
  const ledger = new AcknowledgedWrites();
  const world = new Map<string, WorldGateway>();
  const deletions = new Map<string, string>();
  const figures = { calls: 0, succeeded: 0, failedAttempts: 0, unexpected: [] as string[] };
  let sequence = 0;

  /** Runs one operation once; records what an answer acknowledges. */
  async function attempt(op: Operation): Promise<void> {
    figures.calls += 1;
    const g = world.get(op.gateway);
    switch (op.kind) {
      case 'createGateway':
        await putGateway(deps, op.gateway, {
          publicHost: `${op.gateway}.example.com`,
          vpnSubnet: op.vpnSubnet,
        });
        ledger.gatewayPut(op.gateway);
        world.set(op.gateway, {
          vpnSubnet: op.vpnSubnet,
          clients: new Map(),
          mappings: [],
          deleting: false,
        });
        return;
      case 'updateGateway':
        await putGateway(deps, op.gateway, {
          publicHost: `${op.gateway}.example.com`,
          vpnSubnet: g?.vpnSubnet,
          extraRoutes: op.extraRoutes,
        });
        ledger.gatewayPut(op.gateway);
        return;
      case 'restart':
        await restartGateway(deps, op.gateway);
        return;
      case 'deleteGateway':
        try {
          deletions.set(op.gateway, (await deleteGateway(deps, op.gateway)).operationId);
        } catch (e: unknown) {
          // Asked again after an earlier attempt got through: gone is what was asked for.
          if (!(e instanceof NotFoundError)) throw e;
          deletions.delete(op.gateway);
          ledger.gatewayDeleted(op.gateway);
        }
        return;
      case 'issue': {
        const view = await issueClient(deps, op.gateway, {
          name: op.client,
          ...(op.csr ? { csr: csrPem } : {}),
        });
        ledger.clientIssued(op.gateway, view);
        g?.clients.set(op.client, 'active');
        return;
      }
      case 'revoke':
        await revokeClient(deps, op.gateway, op.client, { force: op.force });
        ledger.clientRevoked(op.gateway, op.client);
        g?.clients.set(op.client, 'revoked');
        if (g) g.mappings = g.mappings.filter((m) => m.client !== op.client);
        return;
      case 'mappings': {
        const view = await replacePortMappings(deps, op.gateway, op.mappings);
        ledger.mappingsReplaced(op.gateway, view.mappings);
        if (g) g.mappings = view.mappings;
        return;
      }
      case 'profile':
        await getClientProfile(deps, op.gateway, op.client);
        return;
    }
  }

  /** A failure a caller repeats: an injected fault, or any transient upstream failure. */
  const retryable = (e: unknown) =>
    e instanceof UpstreamError || (e instanceof ConflictError && e.message.includes('injected'));

  /**
   * Runs `op` up to `attempts` times; true once it is answered (a success, or a refusal, which the
   * figures list). An issue repeated after an attempt that got as far as the record finds its name
   * taken: the invariants say whether what that attempt left is whole.
   */
  async function run(op: Operation, attempts: number): Promise<boolean> {
    const what = `${op.kind} ${op.gateway}${'client' in op ? `/${op.client}` : ''}`;
    let last = '';
    for (let i = 1; i <= attempts; i += 1) {
      try {
        await attempt(op);
        figures.succeeded += 1;
        return true;
      } catch (e: unknown) {
        figures.failedAttempts += 1;
        last = e instanceof DomainError ? e.message : String(e);
        if (retryable(e)) continue;
        if (op.kind === 'issue') world.get(op.gateway)?.clients.set(op.client, 'unknown');
        figures.unexpected.push(`${what} (attempt ${i}): ${last}`);
        return true;
      }
    }
    if (!faults.enabled) figures.unexpected.push(`${what} still fails without faults: ${last}`);
    return false;
  }

  function plan(): Operation[] {
    const out: Operation[] = [];
    const live = [...world.entries()].filter(([, g]) => !g.deleting).map(([n]) => n);
    if (live.length < 2 || (world.size < (o.maxGateways ?? 8) && rng.chance(0.04))) {
      sequence += 1;
      out.push({
        kind: 'createGateway',
        gateway: `s${sequence}`,
        vpnSubnet: `10.${100 + sequence}.0.0/24`,
      });
      return out;
    }
    const gateway = rng.pick(live);
    const g = world.get(gateway) as WorldGateway;
    const active = [...g.clients].filter(([, s]) => s === 'active').map(([c]) => c);
    const roll = rng.next();
    if (o.runner && live.length >= 3 && roll < 0.01) {
      g.deleting = true;
      out.push({ kind: 'deleteGateway', gateway });
    } else if (roll < 0.45 || active.length < 3) {
      sequence += 1;
      const client = `c${sequence}`;
      g.clients.set(client, 'unknown');
      out.push({ kind: 'issue', gateway, client, csr: rng.chance(0.8) });
    } else if (roll < 0.6) {
      const client = rng.pick(active);
      g.clients.set(client, 'unknown');
      out.push({ kind: 'revoke', gateway, client, force: g.mappings.some((m) => m.client === client) });
    } else if (roll < 0.72) {
      const targets = rng.shuffle(active).slice(0, rng.int(1, 3));
      out.push({
        kind: 'mappings',
        gateway,
        mappings: targets.map((client, i) => ({
          port: 8000 + rng.int(0, 9) * 10 + i,
          client,
          targetPort: rng.pick([22, 80, 443]),
          protocol: 'tcp',
        })),
      });
    } else if (roll < 0.9) {
      out.push({ kind: 'profile', gateway, client: rng.pick(active) });
    } else if (roll < 0.96) {
      out.push({ kind: 'updateGateway', gateway, extraRoutes: rng.chance(0.5) ? ['172.16.0.0/16'] : [] });
    } else out.push({ kind: 'restart', gateway });
    return out;
  }

  // Rounds of up to 4 concurrent operations on different gateways.
  const later: Operation[] = [];
  let planned = 0;
  while (planned < o.operations) {
    const batch: Operation[] = [];
    const gateways = new Set<string>();
    for (let i = rng.int(1, 4); i > 0 && planned < o.operations; i -= 1) {
      const [op] = plan();
      if (!op || gateways.has(op.gateway)) continue;
      gateways.add(op.gateway);
      batch.push(op);
      planned += 1;
    }
    const done = await Promise.all(batch.map((op) => run(op, ATTEMPTS_UNDER_FAULTS)));
    batch.forEach((op, i) => {
      if (!done[i]) later.push(op);
    });
    // An unanswered operation is repeated before the next batch can touch its gateway.
    if (later.length > 0) {
      const waiting = later.splice(0);
      for (const op of waiting) if (!(await run(op, ATTEMPTS_UNDER_FAULTS))) later.push(op);
    }
  }

  // The faults stop: everything unanswered is repeated until answered, deletions are seen through.
  faults.enabled = false;
  const unanswered: string[] = [];
  for (const op of later) if (!(await run(op, 5))) unanswered.push(`${op.kind} ${op.gateway}`);
  await o.runner?.drain();
  for (const [gateway, id] of [...deletions]) {
    let status = (await o.runner?.getOperation(id))?.status;
    // An interrupted or failed deletion is asked for again (404 once an earlier one got through).
    for (let i = 0; status !== 'Succeeded' && deletions.has(gateway) && i < 3; i += 1) {
      await run({ kind: 'deleteGateway', gateway }, 5);
      await o.runner?.drain();
      const again = deletions.get(gateway);
      status = again === undefined ? 'Succeeded' : (await o.runner?.getOperation(again))?.status;
    }
    if (!deletions.has(gateway)) continue;
    if (status === 'Succeeded') ledger.gatewayDeleted(gateway);
    else figures.unexpected.push(`deletion of ${gateway} ended ${status ?? 'unknown'}`);
  }
  await o.runner?.drain();

  return {
    ledger,
    planned,
    calls: figures.calls,
    failedAttempts: figures.failedAttempts,
    unexpected: figures.unexpected,
    unanswered,
  };
}
