/**
 * "A change accepted while a roll runs is rolled out by that roll or by one it starts", made true at every
 * replay step of the roll. The requests go through the use-cases and DurableOperations, over the real
 * durable-functions client and a local server speaking the extension's HTTP API; that server's host runs
 * each started instance through durable-functions' own orchestration executor (the replay engine), with
 * the real activities over an in-memory cluster, and delivers raised events as the host does. After each
 * episode of the first roll (before its new actions run, or before its end is reported) a second request
 * joins; once every instance has ended, its change must be deployed.
 */
import azureFunctions from '@azure/functions';
import type { OrchestrationHandler } from 'durable-functions';
import df from 'durable-functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { putGateway, restartGateway } from '../../../shared/gateways/gateways.js';
import { RESTARTED_AT_ANNOTATION } from '../../../shared/model/names.js';
import { makeActivities } from '../../../shared/operations/activities.js';
import { DurableOperations } from '../../../shared/operations/durable-operations.js';
import type { Timing } from '../../../shared/operations/orchestrators.js';
import {
  ACTIVITY,
  ORCHESTRATOR,
  deleteOrchestrator,
  provisionOrchestrator,
  rollOrchestrator,
} from '../../../shared/operations/orchestrators.js';
import { runOrchestration } from '../../support/replay-engine.js';
import type { FakeInstance } from '../../fakes/durable-extension-server.js';
import { DurableExtensionServer } from '../../fakes/durable-extension-server.js';
import type { Harness } from '../gateways/harness.js';
import { makeHarness } from '../gateways/harness.js';

const { InvocationContext } = azureFunctions;

const timing: Timing = { pollSeconds: 5, timeoutSeconds: 60, activityAttempts: 3, retryDelaySeconds: 2 };
const HASH = 'vpn.aks-gateways.io/config-hash';
const ORCHESTRATORS: Readonly<Record<string, OrchestrationHandler>> = {
  [ORCHESTRATOR.roll]: rollOrchestrator,
  [ORCHESTRATOR.provision]: provisionOrchestrator,
  [ORCHESTRATOR.delete]: deleteOrchestrator,
};

/** The Durable host: runs each started instance through the replay engine on a virtual clock. */
class ReplayHost {
  private readonly runs: Promise<void>[] = [];
  private clock = new Date('2026-11-22T12:00:00Z').getTime();
  /** Awaited after each episode of each instance. */
  afterEpisode: (instance: FakeInstance, episode: number) => Promise<void> = () => Promise.resolve();
  /** Roll instances in the order they were started. */
  readonly rolls: string[] = [];

  constructor(
    private readonly extension: DurableExtensionServer,
    private readonly deps: () => GatewayDeps,
  ) {
    extension.host = (instance) => this.run(instance);
  }

  private now = () => new Date((this.clock += 1000));

  private run(instance: FakeInstance): void {
    const handler = ORCHESTRATORS[instance.name];
    if (!handler) throw new Error(`no orchestrator ${instance.name}`);
    if (instance.name === ORCHESTRATOR.roll) this.rolls.push(instance.instanceId);
    const eventsOf = () => this.extension.events.filter((e) => e.instanceId === instance.instanceId);
    // events raised on an earlier instance under the same id were that instance's
    let delivered = eventsOf().length;
    this.runs.push(
      runOrchestration(handler, {
        name: instance.name,
        instanceId: instance.instanceId,
        input: instance.input,
        activities: makeActivities(this.deps()),
        now: this.now,
        waitUntil: (fireAt) => {
          this.clock = Math.max(this.clock, fireAt.getTime());
          return Promise.resolve();
        },
        onEpisode: () => (instance.runtimeStatus = 'Running'),
        // events raised on the instance reach its next episode, as the host delivers them
        raisedBefore: () => {
          const mine = eventsOf();
          const fresh = mine.slice(delivered);
          delivered = mine.length;
          return fresh;
        },
        afterEpisode: (episode) => this.afterEpisode(instance, episode),
      }).then((result) => {
        instance.runtimeStatus = result.status === 'Succeeded' ? 'Completed' : 'Failed';
        instance.output = result.status === 'Succeeded' ? (result.output ?? null) : result.error;
      }),
    );
  }

  /** Waits until every instance started so far, and every one they led to, has ended. */
  async settled(): Promise<void> {
    for (let i = 0; i < this.runs.length; i += 1) await this.runs[i];
  }
}

describe('a change that joins a running roll at any replay step (Durable Functions)', () => {
  const extension = new DurableExtensionServer();
  let h: Harness;
  let deps: GatewayDeps;
  let host: ReplayHost;
  /** Pod-template patches in order, with the restartedAt each left. */
  const patches: { at: number; restartedAt: string | undefined }[] = [];

  beforeAll(async () => {
    await extension.start();
    h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const binding = df.input.durableClient();
    const context = new InvocationContext({
      functionName: 'putGateway',
      options: { extraInputs: [binding] },
    });
    context.extraInputs.set(binding, extension.clientData());
    const operations = new DurableOperations({
      client: df.getClient(context),
      timing,
      ledger: { cluster: h.cluster, labelDomain: h.deps.config.LABEL_DOMAIN },
    });
    deps = { ...h.deps, operations };
    host = new ReplayHost(extension, () => deps);
    const patch = h.cluster.patchPodTemplateAnnotations.bind(h.cluster);
    h.cluster.patchPodTemplateAnnotations = async (namespace, deployment, annotations) => {
      const rollout = await patch(namespace, deployment, annotations);
      patches.push({ at: patches.length, restartedAt: rollout.templateAnnotations[RESTARTED_AT_ANNOTATION] });
      return rollout;
    };
  });
  afterAll(() => extension.stop());

  const deployedHash = async () =>
    (await h.cluster.readRollout('vpn-gw', 'openvpn')).templateAnnotations[HASH];
  const desiredHash = () => makeActivities(deps)[ACTIVITY.desiredConfigHash]!('gw');

  /**
   * Starts a roll with a config change, and at `step` (the first roll's episode after which to join)
   * runs `join`. Resolves with whether the join happened (false once the roll has fewer episodes).
   */
  async function rollJoinedAt(step: number, round: number, join: () => Promise<unknown>): Promise<boolean> {
    let joined = false;
    const rollsBefore = host.rolls.length;
    host.afterEpisode = async (instance, episode) => {
      if (joined || instance.instanceId !== host.rolls[rollsBefore] || episode !== step) return;
      joined = true;
      await join();
    };
    await putGateway(deps, 'gw', { extraRoutes: [`192.168.${round}.0/24`] });
    await host.settled();
    host.afterEpisode = () => Promise.resolve();
    return joined;
  }

  it('rolls out a config change that joins after any replay step, including the last one', async () => {
    let round = 0;
    let steps = 0;
    for (let step = 1; ; step += 1) {
      round += 2;
      const joinRound = round + 1;
      const joined = await rollJoinedAt(step, round, () =>
        putGateway(deps, 'gw', { extraRoutes: [`192.168.${joinRound}.0/24`] }),
      );
      if (!joined) break;
      steps = step;
      // THEN the joined change is what runs, and every roll ended well
      expect({ step, deployed: await deployedHash() }).toStrictEqual({ step, deployed: await desiredHash() });
      expect(
        [...extension.instances.values()]
          .filter((i) => i.runtimeStatus !== 'Completed')
          .map((i) => i.instanceId),
      ).toStrictEqual([]);
    }
    // a round is at least: enter, read template, begin, read rollout, desired hash, finish, end
    expect(steps).toBeGreaterThanOrEqual(7);
  });

  it('makes a new pod for a restart that joins after any replay step, including the last one', async () => {
    let round = 100;
    let steps = 0;
    for (let step = 1; ; step += 1) {
      round += 1;
      let askedAt = -1;
      const joined = await rollJoinedAt(step, round, () => {
        askedAt = patches.length;
        return restartGateway(deps, 'gw');
      });
      if (!joined) break;
      steps = step;
      // THEN a patch after the restart was asked for gave the pod template a new restartedAt
      const before = patches.filter((p) => p.at < askedAt).at(-1)?.restartedAt;
      const after = patches.filter((p) => p.at >= askedAt).map((p) => p.restartedAt);
      expect({ step, restarted: after.some((r) => r !== undefined && r !== before) }).toStrictEqual({
        step,
        restarted: true,
      });
      expect(await deployedHash()).toBe(await desiredHash());
    }
    expect(steps).toBeGreaterThanOrEqual(7);
  });
});
