/**
 * The roll ledger's conditional writes, against a real kube-apiserver through the Kubernetes adapter and
 * over the sandbox's embedded cluster: concurrent requests claim one roll, a request racing the roll's
 * finish is either seen by it or starts the next roll, and a takeover decided on an older version loses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { namespaceOf } from '../../../shared/model/names.js';
import { gatewayActivities } from '../../../shared/operations/activities.js';
import type { RollInput, Timing } from '../../../shared/operations/orchestrators.js';
import type { LedgerStore } from '../../../shared/operations/roll-ledger.js';
import {
  readLedger,
  replaceLedgerIfUnchanged,
  updateLedger,
} from '../../../shared/operations/roll-ledger.js';
import type { RollRuntime } from '../../../shared/operations/roll-requests.js';
import { requestRoll } from '../../../shared/operations/roll-requests.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { depsOver, startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';

const ROUNDS = 12;
const CONCURRENT = 12;
const timing: Timing = { pollSeconds: 5, timeoutSeconds: 600, activityAttempts: 5, retryDelaySeconds: 2 };
const LABEL_DOMAIN = 'vpn.aks-gateways.io';

type Backend = ClusterBackend;

const BACKENDS: readonly { name: string; start: () => Promise<Backend> }[] = [
  {
    name: 'real kube-apiserver',
    start: startKubeApiserverBackend,
  },
  {
    name: 'embedded cluster',
    start: () => startEmbeddedBackend('avg-ledger-'),
  },
];

/** A runner that records the instances it starts; they stay active until a test ends them. */
function recordingRuntime() {
  const started: { id: string; input: RollInput }[] = [];
  const ended = new Set<string>();
  const runtime: RollRuntime = {
    state: (id) =>
      Promise.resolve(ended.has(id) ? 'ended' : started.some((s) => s.id === id) ? 'active' : 'missing'),
    start: (id, input) => {
      if (!started.some((s) => s.id === id && !ended.has(id))) started.push({ id, input });
      return Promise.resolve();
    },
  };
  return { runtime, started, ended };
}

describe.each(BACKENDS)('the roll ledger on the $name', ({ start }) => {
  let backend: Backend;
  let store: LedgerStore;
  let deps: GatewayDeps;

  beforeAll(async () => {
    backend = await start();
    store = { cluster: backend.cluster, labelDomain: LABEL_DOMAIN };
    deps = depsOver(backend.cluster);
  });
  afterAll(() => backend?.stop());

  async function gateway(name: string): Promise<string> {
    await backend.cluster.apply([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespaceOf(name) } },
    ]);
    return name;
  }

  it('gives concurrent first requests one roll: one claims and starts it, the others join it', async () => {
    const gw = await gateway('ledger-burst');
    const { runtime, started } = recordingRuntime();
    const ids = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        requestRoll(store, runtime, { gateway: gw, reason: 'config-change', force: i === 3 }, timing),
      ),
    );
    expect(started).toHaveLength(1);
    expect(new Set(ids)).toStrictEqual(new Set([started[0]?.id]));
    const { ledger } = await readLedger(store, gw);
    expect(ledger).toMatchObject({ requested: CONCURRENT, rolled: 0, running: started[0]?.id, entered: 0 });
    expect(ledger.forced).toBeGreaterThan(0);
  });

  it("has every request that races the roll's finish seen by that finish or start the next roll", async () => {
    const gw = await gateway('ledger-race');
    const { runtime, started, ended } = recordingRuntime();
    const activities = gatewayActivities(deps);
    const request = () => requestRoll(store, runtime, { gateway: gw, reason: 'joins', force: false }, timing);
    for (let round = 1; round <= ROUNDS; round += 1) {
      // GIVEN a roll that owns the ledger and is about to finish the generation it read when it began
      const owner = await requestRoll(store, runtime, { gateway: gw, reason: 'first', force: false }, timing);
      const generation = (await readLedger(store, gw)).ledger.requested;
      const finish = () => activities.finishRoll({ gateway: gw, instanceId: owner, generation });
      const startsBefore = started.length;
      // WHEN a request comes before the finish, after it, or at the same time
      const order = (['request first', 'finish first', 'together'] as const)[round % 3] ?? 'together';
      let finished: { again: boolean };
      let joined: string;
      if (order === 'request first') {
        joined = await request();
        finished = await finish();
      } else if (order === 'finish first') {
        finished = await finish();
        joined = await request();
      } else [finished, joined] = await Promise.all([finish(), request()]);
      // THEN either the finish saw the request (it rolls again; the request joined it) or the request
      // found the ledger released and started a roll of its own
      const outcome = {
        round,
        again: finished.again,
        joinedOwner: joined === owner,
        startedNew: started.length > startsBefore,
      };
      expect(outcome).toStrictEqual(
        finished.again
          ? { round, again: true, joinedOwner: true, startedNew: false }
          : { round, again: false, joinedOwner: false, startedNew: true },
      );
      if (order !== 'together') expect(finished.again).toBe(order === 'request first');
      // the roll that owns the ledger now finishes everything, so the next round begins idle
      const current = (await readLedger(store, gw)).ledger;
      const last = await activities.finishRoll({
        gateway: gw,
        instanceId: current.running ?? '',
        generation: current.requested,
      });
      expect(last.again).toBe(false);
      ended.add(owner);
      ended.add(joined);
      expect((await readLedger(store, gw)).ledger.running).toBeUndefined();
    }
  });

  it("refuses a takeover decided on a version older than the owner's entry", async () => {
    const gw = await gateway('ledger-takeover');
    const { runtime } = recordingRuntime();
    const owner = await requestRoll(store, runtime, { gateway: gw, reason: 'first', force: false }, timing);
    const seen = await readLedger(store, gw);
    // the owner enters its roll (a write) after the takeover's decision was made on `seen`
    expect(await gatewayActivities(deps).enterRoll({ gateway: gw, instanceId: owner })).toBe(true);
    expect(
      await replaceLedgerIfUnchanged(store, gw, seen, {
        ...seen.ledger,
        running: 'roll-ledger-takeover-new',
      }),
    ).toBe(false);
    expect((await readLedger(store, gw)).ledger).toMatchObject({ running: owner, entered: 1 });
    // a roll that is not the owner does not enter
    expect(await gatewayActivities(deps).enterRoll({ gateway: gw, instanceId: 'roll-someone-else' })).toBe(
      false,
    );
  });

  it('refuses a ledger for a gateway that does not exist', async () => {
    await expect(updateLedger(store, 'no-such-gateway', (l) => ({ ...l, requested: 1 }))).rejects.toThrow(
      /gateway 'no-such-gateway' does not exist/,
    );
  });
});
