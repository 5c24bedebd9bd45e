/**
 * The product's roll (use-case → InProcessOperations → roll orchestrator → activities → KubeCluster) against
 * a real kube-apiserver v1.20.2 with kube-controller-manager and the fake kubelet: the Deployment controller,
 * not the sandbox's imitation of it, decides when a roll is complete.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../shared/config.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { getGateway, putGateway } from '../../../shared/gateways/gateways.js';
import type { ClusterPort, RolloutStatus } from '../../../shared/model/cluster-port.js';
import { rolloutComplete } from '../../../shared/model/cluster-port.js';
import { KubeCluster } from '../../../shared/kube/kube-cluster.js';
import type { Logger } from '../../../shared/logging.js';
import { InProcessOperations } from '../../../sandbox/in-process-operations.js';
import { timingFrom } from '../../../shared/operations/timing.js';
import type { Operation } from '../../../shared/model/operations-port.js';
import { DirectorySecretStore } from '../../../shared/secrets/directory-store.js';
import type { Envtest } from '../../support/envtest.js';
import { startEnvtest, startFakeKubelet } from '../../support/envtest.js';
import { eventually } from '../kube/cluster-contract.js';

const GATEWAY = 'roll-gw';
const NAMESPACE = 'vpn-roll-gw';
const DEPLOYMENT = 'openvpn';
// Short roll settings, through the same configuration keys production reads.
const config = loadConfig({ ROLL_POLL_SECONDS: '1', ROLL_TIMEOUT_SECONDS: '10' });
const HASH = `${config.LABEL_DOMAIN}/config-hash`;
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let envtest: Envtest;
let kubelet: ReturnType<typeof startFakeKubelet>;
let dir: string;
let deps: GatewayDeps;
let operations: InProcessOperations;
/** Every rollout status the roll's activities read, in order. */
const observed: RolloutStatus[] = [];

/** The adapter, recording what `readRollout` returns (the roll orchestration's view of progress). */
function recordingRollouts(cluster: ClusterPort): ClusterPort {
  return new Proxy(cluster, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'readRollout' || typeof value !== 'function') return value;
      return async (namespace: string, deployment: string) => {
        const status = await target.readRollout(namespace, deployment);
        observed.push(status);
        return status;
      };
    },
  });
}

async function settled(id: string): Promise<Operation> {
  await operations.drain();
  const op = await operations.getOperation(id);
  if (!op) throw new Error(`no operation ${id}`);
  return op;
}

const rollout = () => deps.cluster.readRollout(NAMESPACE, DEPLOYMENT);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roll-envtest-'));
  envtest = await startEnvtest();
  kubelet = startFakeKubelet(envtest.kubeConfigYaml);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(envtest.api.kubeConfigYaml);
  operations = new InProcessOperations({ deps: () => deps, timing: timingFrom(config), log: quiet });
  deps = {
    cluster: recordingRollouts(new KubeCluster({ kubeConfig, fieldManager: 'aks-vpn-gateways' })),
    secrets: new DirectorySecretStore({ directory: join(dir, 'secrets') }),
    clusterInfo: {
      describe: () => Promise.resolve({ serviceCidr: '10.0.0.0/16', podCidr: '10.244.0.0/16', notes: [] }),
    },
    operations,
    config,
    clock: () => new Date(),
    log: quiet,
  };
  const { operationId } = await putGateway(deps, GATEWAY, { routes: ['10.0.0.0/16'] });
  expect((await settled(operationId!)).status).toBe('Succeeded');
  await eventually(
    () => getGateway(deps, GATEWAY),
    (g) => g.status.phase === 'Ready',
  );
});

afterAll(async () => {
  await operations?.drain();
  await kubelet?.stop();
  await envtest?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the roll orchestration against a real kube-apiserver', () => {
  it('rolls to a new config hash, reporting progress while the new pod is not ready yet', async () => {
    // GIVEN the running gateway, and new pods held unready until released
    const before = await rollout();
    const previousHash = before.templateAnnotations[HASH];
    kubelet.failPodsWhere((annotations) => annotations[HASH] !== previousHash);
    observed.splice(0);
    let id: string;
    try {
      // WHEN a spec change starts a roll
      const { operationId } = await putGateway(deps, GATEWAY, { routes: ['10.0.0.0/16', '10.1.0.0/16'] });
      id = operationId!;
      // THEN the orchestration sees the Deployment controller's mid-roll status: the surge pod exists,
      // updated but not available, the old pod still serving
      const midway = (r: RolloutStatus) =>
        r.templateAnnotations[HASH] !== previousHash && r.totalReplicas === 2;
      await eventually(
        () => Promise.resolve(observed),
        (seen) => seen.some(midway),
      );
      const progress = observed.find(midway);
      expect(progress).toMatchObject({
        replicas: 1,
        totalReplicas: 2,
        updatedReplicas: 1,
        availableReplicas: 1,
      });
      expect(rolloutComplete(progress!)).toBe(false);
      expect(await operations.getOperation(id)).toMatchObject({ kind: 'roll', status: 'Running' });
    } finally {
      kubelet.clearFailures();
    }
    // WHEN the new pod becomes ready THEN the roll completes on the new hash, and the last status read
    // is the complete one
    const op = await settled(id);
    const last = observed.at(-1)!;
    expect(op).toMatchObject({ kind: 'roll', gateway: GATEWAY, status: 'Succeeded' });
    const after = await rollout();
    expect(after.templateAnnotations[HASH]).not.toBe(previousHash);
    expect(after.generation).toBeGreaterThan(before.generation);
    expect(rolloutComplete(after)).toBe(true);
    expect(rolloutComplete(last)).toBe(true);
    expect(last.templateAnnotations[HASH]).toBe(after.templateAnnotations[HASH]);
  });

  it('fails a roll whose new pod never becomes ready and puts the previous template back', async () => {
    // GIVEN the running gateway, and pods of any other config hash never ready
    const before = await eventually(rollout, rolloutComplete);
    const previousHash = before.templateAnnotations[HASH];
    kubelet.failPodsWhere((annotations) => annotations[HASH] !== previousHash);
    observed.splice(0);
    try {
      // WHEN a spec change starts a roll
      const { operationId } = await putGateway(deps, GATEWAY, { routes: ['10.0.0.0/16', '10.2.0.0/16'] });
      // THEN after ROLL_TIMEOUT_SECONDS the operation fails, saying it rolled back
      const op = await settled(operationId!);
      expect(op.status).toBe('Failed');
      expect(op.error?.message).toMatch(
        /^roll of gateway 'roll-gw' failed and was rolled back: not complete after 10 s \(generation \d+, observed \d+, updated 1\/1, available 1, total 2\)$/,
      );
      // (every poll of the new template saw it incomplete, on one new hash)
      const polled = observed.filter((r) => r.templateAnnotations[HASH] !== previousHash);
      expect(polled.length).toBeGreaterThan(1);
      expect(new Set(polled.map((r) => r.templateAnnotations[HASH])).size).toBe(1);
      expect(polled.some(rolloutComplete)).toBe(false);
      // AND the Deployment's template is the previous one again: the controller finishes on the old pod
      const restored = await eventually(rollout, rolloutComplete);
      expect(restored.templateAnnotations).toStrictEqual(before.templateAnnotations);
      expect(restored.template).toStrictEqual(before.template);
      expect(restored.totalReplicas).toBe(1);
    } finally {
      kubelet.clearFailures();
    }
  });
});
