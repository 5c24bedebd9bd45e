/**
 * What kube-controller-manager, the kubelet and the cloud controller do, reduced to what a client observes:
 * Deployment rollouts converge (or get stuck and pass their progress deadline), LoadBalancer Services get
 * an address, and terminating namespaces lose their content and then disappear.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deepEqual, isObject, str, type Json, type JsonObject } from './json.js';
import { RESOURCE_TYPES, type ResourceType } from './resources.js';
import type { ObjectStore, WriteEvent } from './store.js';

export interface ControllerOptions {
  /** How long new pods take to become ready (a rollout's duration). */
  readonly rolloutDelayMs: number;
  /** How long the "cloud" takes to give a LoadBalancer Service its address. */
  readonly loadBalancerDelayMs: number;
  /** How long a terminating namespace takes to be emptied and removed. */
  readonly namespaceDeletionDelayMs: number;
  /** Overrides each Deployment's `spec.progressDeadlineSeconds` (tests of stuck rollouts). */
  readonly progressDeadlineMs?: number;
  /** How long the controller takes to notice a Deployment change (observedGeneration lags by this much). */
  readonly observeDelayMs?: number;
}

/** Which Deployments' new pods never become ready (failure mode for rollback tests). */
export interface RolloutFailureFilter {
  readonly namespace?: string;
  readonly name?: string;
}

const CONTROLLER_MANAGER = 'kube-controller-manager';
const CLOUD_CONTROLLER = 'cloud-controller-manager';
const LB_RANGE = '203.0.113.';

const typeOf = (kind: string): ResourceType => RESOURCE_TYPES.find((r) => r.kind === kind) as ResourceType;
const DEPLOYMENTS = typeOf('Deployment');
const SERVICES = typeOf('Service');
const NAMESPACES = typeOf('Namespace');
const PODS = typeOf('Pod');
const NODE_NAME = 'aks-sandbox-00000000-vmss000000';

/** Pods of one template the rollout wants: how many, and how many of them ready. */
interface PodGroup {
  readonly hash: string;
  readonly count: number;
  readonly ready: number;
}

const isReady = (status: JsonObject): boolean =>
  Array.isArray(status.conditions) &&
  status.conditions.some((c) => isObject(c) && c.type === 'Ready' && c.status === 'True');
const uuidFrom = (seed: string): string => {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};
const podIp = (seed: string): string => {
  const h = createHash('sha256').update(seed).digest();
  return `10.244.${h[0] ?? 0}.${((h[1] ?? 0) % 253) + 2}`;
};
const md = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
const spec = (o: JsonObject): JsonObject => (isObject(o.spec) ? o.spec : {});
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function canonical(v: Json | undefined): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** A pod-template-hash in the alphabet Kubernetes uses (no vowels, no look-alikes). */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Kubernetes' `SafeEncodeString`: each byte mapped into the alphabet. */
const safeEncode = (s: string | Buffer): string =>
  [...Buffer.from(s)].map((b) => SAFE_ALPHABET[b % SAFE_ALPHABET.length]).join('');

/** A pod-template-hash as the deployment controller forms it: a 32-bit hash, printed in decimal, safe-encoded. */
export function podTemplateHash(template: Json | undefined): string {
  return safeEncode(String(createHash('sha256').update(canonical(template)).digest().readUInt32BE(0)));
}

/** `maxSurge` / `maxUnavailable` as a pod count (percentages: surge rounds up, unavailable down). */
function resolveIntOrPercent(v: Json | undefined, total: number, roundUp: boolean): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.endsWith('%')) {
    const x = (Number(v.slice(0, -1)) * total) / 100;
    return roundUp ? Math.ceil(x) : Math.floor(x);
  }
  return 0;
}

interface Rollout {
  /** Template whose pods are ready (the last completed rollout), and how many. */
  readyHash: string | undefined;
  readyCount: number;
  /** The template being rolled out and when that started. */
  targetHash: string | undefined;
  targetGeneration: number;
  startedAt: number;
  /** Pod templates by hash (to create pods of the template being kept or rolled out). */
  templates: Map<string, Json>;
  /** `deployment.kubernetes.io/revision`: bumped for every new template. */
  revision: number;
}

const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
const revisionOf = (d: JsonObject): number => {
  const annotations = isObject(md(d).annotations) ? (md(d).annotations as JsonObject) : {};
  const n = Number(annotations[REVISION_ANNOTATION]);
  return Number.isInteger(n) && n > 0 ? n : 0;
};

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export class Controllers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly rollouts = new Map<string, Rollout>();
  private failures: RolloutFailureFilter[] = [];
  private stopped = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: ControllerOptions,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Subscribes to writes and picks up whatever the store already holds (after a restart). */
  start(): void {
    this.store.onWrite((e) => this.onWrite(e));
    for (const d of this.store.all(DEPLOYMENTS)) {
      const status = isObject(d.status) ? d.status : {};
      const complete =
        status.observedGeneration === md(d).generation &&
        (status.updatedReplicas ?? 0) === (spec(d).replicas ?? 1) &&
        (status.availableReplicas ?? 0) === (spec(d).replicas ?? 1);
      if (complete) {
        this.rollouts.set(str(md(d).uid), {
          readyHash: podTemplateHash(spec(d).template),
          readyCount: Number(spec(d).replicas ?? 1),
          targetHash: podTemplateHash(spec(d).template),
          targetGeneration: Number(md(d).generation),
          startedAt: Date.now(),
          templates: new Map([[podTemplateHash(spec(d).template), spec(d).template ?? null]]),
          revision: revisionOf(d),
        });
      } else
        this.schedule(`deploy/${str(md(d).namespace)}/${str(md(d).name)}`, 0, () =>
          this.reconcileDeployment(str(md(d).namespace), str(md(d).name)),
        );
    }
    for (const s of this.store.all(SERVICES)) this.onService(s, undefined);
    for (const n of this.store.all(NAMESPACES)) this.onNamespace(n);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** New pods of matching Deployments never become ready until `clearRolloutFailures`. */
  failNewPods(filter: RolloutFailureFilter = {}): void {
    this.failures.push(filter);
  }

  /** Heals the failure mode: stuck rollouts then complete. */
  clearRolloutFailures(): void {
    this.failures = [];
    for (const d of this.store.all(DEPLOYMENTS)) this.reconcileSoon(str(md(d).namespace), str(md(d).name), 0);
  }

  private schedule(key: string, delayMs: number, fn: () => void): void {
    if (this.stopped) return;
    const prior = this.timers.get(key);
    if (prior) clearTimeout(prior);
    const t = setTimeout(() => {
      this.timers.delete(key);
      if (this.stopped) return;
      try {
        fn();
      } catch (e: unknown) {
        // A controller step failing (e.g. its namespace is terminating) must never take the server down.
        console.error(`sandbox kube-api controller ${key}: ${e instanceof Error ? e.message : str(e)}`);
      }
    }, delayMs);
    this.timers.set(key, t);
  }

  private cancel(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }

  private onWrite(e: WriteEvent): void {
    if (e.rt === DEPLOYMENTS) {
      if (!e.object) {
        this.cancel(`deploy/${e.namespace}/${e.name}`);
        if (e.old) this.rollouts.delete(str(md(e.old).uid));
        this.syncPods(e.namespace, e.name, undefined, []);
        return;
      }
      if (e.old && md(e.old).generation === md(e.object).generation && deepEqual(e.old.spec, e.object.spec))
        return;
      // The controller sees a change a moment later: until then status still describes the previous generation.
      this.reconcileSoon(e.namespace, e.name, this.options.observeDelayMs ?? 0);
    } else if (e.rt === SERVICES) {
      if (!e.object) this.cancel(`svc/${e.namespace}/${e.name}`);
      else this.onService(e.object, e.old);
    } else if (e.rt === NAMESPACES && e.object) {
      this.onNamespace(e.object);
    }
  }

  // ---- deployments ---------------------------------------------------------------------------------------

  private reconcileSoon(namespace: string, name: string, delayMs: number): void {
    this.schedule(`deploy/${namespace}/${name}`, delayMs, () => this.reconcileDeployment(namespace, name));
  }

  private failing(namespace: string, name: string): boolean {
    return this.failures.some(
      (f) =>
        (f.namespace === undefined || f.namespace === namespace) && (f.name === undefined || f.name === name),
    );
  }

  private reconcileDeployment(namespace: string, name: string): void {
    const d = this.store.peek(DEPLOYMENTS, namespace, name);
    if (!d || md(d).deletionTimestamp) return;
    const uid = str(md(d).uid);
    const generation = Number(md(d).generation ?? 1);
    const desired = Number(spec(d).replicas ?? 1);
    const hash = podTemplateHash(spec(d).template);
    const now = Date.now();
    let r = this.rollouts.get(uid);
    if (!r) {
      r = {
        readyHash: undefined,
        readyCount: 0,
        targetHash: undefined,
        targetGeneration: 0,
        startedAt: now,
        templates: new Map(),
        revision: revisionOf(d),
      };
      this.rollouts.set(uid, r);
    }
    if (r.targetHash !== hash) {
      r.targetHash = hash;
      r.startedAt = now;
      r.revision += 1; // every template change (a rollback too) is a new revision
    }
    r.targetGeneration = generation;
    r.templates.set(hash, spec(d).template ?? null);
    for (const h of r.templates.keys()) if (h !== hash && h !== r.readyHash) r.templates.delete(h);
    const rsName = `${name}-${hash}`;

    if (r.readyHash === hash && (r.readyCount >= desired || !this.failing(namespace, name))) {
      if (r.readyCount < desired) {
        // Scaling up: the extra pods take a rollout delay to become ready.
        this.writeProgressing(d, generation, desired, r, rsName, false);
        const rr = r;
        this.reconcileLater(namespace, name, this.options.rolloutDelayMs, () => {
          rr.readyCount = desired;
        });
        return;
      }
      r.readyCount = desired;
      this.syncPods(namespace, name, r, [{ hash, count: desired, ready: desired }]);
      this.writeDeploymentStatus(d, {
        observedGeneration: generation,
        replicas: desired,
        updatedReplicas: desired,
        readyReplicas: desired,
        availableReplicas: desired,
        conditions: [
          {
            type: 'Available',
            status: 'True',
            reason: 'MinimumReplicasAvailable',
            message: 'Deployment has minimum availability.',
          },
          {
            type: 'Progressing',
            status: 'True',
            reason: 'NewReplicaSetAvailable',
            message: `ReplicaSet "${rsName}" has successfully progressed.`,
          },
        ],
      });
      return;
    }

    const deadlineMs =
      this.options.progressDeadlineMs ?? Number(spec(d).progressDeadlineSeconds ?? 600) * 1000;
    const timedOut = now - r.startedAt >= deadlineMs;
    this.writeProgressing(d, generation, desired, r, rsName, timedOut);
    if (this.failing(namespace, name)) {
      if (!timedOut)
        this.reconcileLater(namespace, name, Math.max(0, r.startedAt + deadlineMs - now), () => undefined);
      return;
    }
    const rr = r;
    this.reconcileLater(namespace, name, Math.max(0, r.startedAt + this.options.rolloutDelayMs - now), () => {
      if (rr.targetHash === hash) {
        rr.readyHash = hash;
        rr.readyCount = desired;
      }
    });
  }

  private reconcileLater(namespace: string, name: string, delayMs: number, before: () => void): void {
    this.schedule(`deploy/${namespace}/${name}`, delayMs, () => {
      before();
      this.reconcileDeployment(namespace, name);
    });
  }

  /** A rollout in progress: new pods not (yet) ready, old ones kept within the strategy's budget. */
  private writeProgressing(
    d: JsonObject,
    generation: number,
    desired: number,
    r: Rollout,
    rsName: string,
    timedOut: boolean,
  ): void {
    const strategy = isObject(spec(d).strategy) ? (spec(d).strategy as JsonObject) : {};
    const rolling = isObject(strategy.rollingUpdate) ? strategy.rollingUpdate : {};
    const sameTemplate = r.readyHash === r.targetHash;
    const oldReady = Math.min(r.readyHash ? r.readyCount : 0, sameTemplate ? r.readyCount : desired);
    let maxSurge = resolveIntOrPercent(rolling.maxSurge ?? '25%', desired, true);
    let maxUnavailable = resolveIntOrPercent(rolling.maxUnavailable ?? '25%', desired, false);
    if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
    let oldKept: number;
    let newPods: number;
    if (sameTemplate) {
      oldKept = 0;
      newPods = desired;
    } else if (strategy.type === 'Recreate') {
      oldKept = 0;
      newPods = desired;
      maxSurge = 0;
    } else {
      oldKept = Math.min(oldReady, Math.max(0, desired - maxUnavailable));
      newPods = Math.max(0, Math.min(desired, desired + maxSurge - oldKept));
    }
    const readyNew = sameTemplate ? oldReady : 0;
    const available = oldKept + readyNew;
    const minAvailable = desired - maxUnavailable;
    const groups: PodGroup[] = sameTemplate
      ? [{ hash: r.targetHash ?? '', count: newPods, ready: readyNew }]
      : [
          ...(r.readyHash ? [{ hash: r.readyHash, count: oldKept, ready: oldKept }] : []),
          { hash: r.targetHash ?? '', count: newPods, ready: 0 },
        ];
    this.syncPods(str(md(d).namespace), str(md(d).name), r, groups);
    this.writeDeploymentStatus(d, {
      observedGeneration: generation,
      replicas: oldKept + newPods,
      updatedReplicas: newPods,
      readyReplicas: available,
      availableReplicas: available,
      // As the deployment controller computes it: all ReplicaSets' replicas minus the available ones.
      unavailableReplicas: Math.max(0, oldKept + newPods - available),
      conditions: [
        available >= minAvailable
          ? {
              type: 'Available',
              status: 'True',
              reason: 'MinimumReplicasAvailable',
              message: 'Deployment has minimum availability.',
            }
          : {
              type: 'Available',
              status: 'False',
              reason: 'MinimumReplicasUnavailable',
              message: 'Deployment does not have minimum availability.',
            },
        timedOut
          ? {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: `ReplicaSet "${rsName}" has timed out progressing.`,
            }
          : {
              type: 'Progressing',
              status: 'True',
              reason: 'ReplicaSetUpdated',
              message: `ReplicaSet "${rsName}" is progressing.`,
            },
      ],
    });
  }

  /** Writes a DeploymentStatus the way the API serves it: zero counts omitted, condition times kept. */
  private writeDeploymentStatus(
    d: JsonObject,
    s: {
      observedGeneration: number;
      replicas: number;
      updatedReplicas: number;
      readyReplicas: number;
      availableReplicas: number;
      unavailableReplicas?: number;
      conditions: Condition[];
    },
  ): void {
    const prior =
      isObject(d.status) && Array.isArray(d.status.conditions) ? d.status.conditions.filter(isObject) : [];
    const now = rfc3339(this.clock());
    const conditions: Json[] = s.conditions.map((c) => {
      const old = prior.find((p) => p.type === c.type);
      const same = old?.status === c.status;
      const unchanged = same && old?.reason === c.reason && old?.message === c.message;
      return {
        type: c.type,
        status: c.status,
        lastUpdateTime: unchanged && typeof old?.lastUpdateTime === 'string' ? old.lastUpdateTime : now,
        lastTransitionTime:
          same && typeof old?.lastTransitionTime === 'string' ? old.lastTransitionTime : now,
        reason: c.reason,
        message: c.message,
      };
    });
    const status: JsonObject = { observedGeneration: s.observedGeneration };
    for (const k of [
      'replicas',
      'updatedReplicas',
      'readyReplicas',
      'availableReplicas',
      'unavailableReplicas',
    ] as const) {
      const v = s[k];
      if (v !== undefined && v > 0) status[k] = v;
    }
    status.conditions = conditions;
    const revision = this.rollouts.get(str(md(d).uid))?.revision ?? 1;
    this.store.writeStatus(DEPLOYMENTS, str(md(d).namespace), str(md(d).name), status, CONTROLLER_MANAGER, {
      [REVISION_ANNOTATION]: String(revision),
    });
  }

  // ---- pods (what the ReplicaSets and the kubelet would produce; read-only through the API) ----------------

  private syncPods(
    namespace: string,
    deployment: string,
    r: Rollout | undefined,
    groups: readonly PodGroup[],
  ): void {
    const mine = this.store.all(PODS, namespace).filter((p) => {
      const hash = isObject(md(p).labels) ? (md(p).labels as JsonObject)['pod-template-hash'] : undefined;
      const owners = Array.isArray(md(p).ownerReferences) ? (md(p).ownerReferences as Json[]) : [];
      return owners.some(
        (o) => isObject(o) && o.kind === 'ReplicaSet' && o.name === `${deployment}-${str(hash)}`,
      );
    });
    const manager = { fieldManager: CONTROLLER_MANAGER, dryRun: false };
    for (const p of mine) {
      const hash = str((md(p).labels as JsonObject)['pod-template-hash']);
      if (!groups.some((g) => g.hash === hash && g.count > 0))
        this.store.remove(PODS, namespace, str(md(p).name));
    }
    for (const g of groups) {
      const pods = mine
        .filter((p) => str((md(p).labels as JsonObject)['pod-template-hash']) === g.hash)
        .map((p) => str(md(p).name))
        .sort();
      for (const surplus of pods.splice(g.count)) this.store.remove(PODS, namespace, surplus);
      const template = r?.templates.get(g.hash);
      while (pods.length < g.count && isObject(template)) {
        const podName = `${deployment}-${g.hash}-${safeEncode(randomBytes(5))}`;
        const tmd = isObject(template.metadata) ? template.metadata : {};
        const rsName = `${deployment}-${g.hash}`;
        this.store.create(
          PODS,
          namespace,
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: {
              name: podName,
              namespace,
              labels: { ...(isObject(tmd.labels) ? tmd.labels : {}), 'pod-template-hash': g.hash },
              ...(isObject(tmd.annotations) ? { annotations: tmd.annotations } : {}),
              ownerReferences: [
                {
                  apiVersion: 'apps/v1',
                  kind: 'ReplicaSet',
                  name: rsName,
                  uid: uuidFrom(`${namespace}/${rsName}`),
                  controller: true,
                  blockOwnerDeletion: true,
                },
              ],
            },
            spec: { ...(isObject(template.spec) ? template.spec : {}), nodeName: NODE_NAME },
          },
          manager,
        );
        pods.push(podName);
      }
      pods.forEach((podName, i) => this.writePodStatus(namespace, podName, i < g.ready));
    }
  }

  private writePodStatus(namespace: string, name: string, ready: boolean): void {
    const pod = this.store.peek(PODS, namespace, name);
    if (!pod) return;
    const old = isObject(pod.status) ? pod.status : undefined;
    if (old && old.phase === 'Running' && isReady(old) === ready) return;
    const now = rfc3339(this.clock());
    const since = typeof old?.startTime === 'string' ? old.startTime : now;
    const flag = ready ? 'True' : 'False';
    const containers =
      isObject(pod.spec) && Array.isArray(pod.spec.containers) ? pod.spec.containers.filter(isObject) : [];
    const status: JsonObject = {
      phase: 'Running',
      conditions: [
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: since },
        {
          type: 'Ready',
          status: flag,
          lastProbeTime: null,
          lastTransitionTime: now,
          ...(ready
            ? {}
            : { reason: 'ContainersNotReady', message: 'containers with unready status: [openvpn]' }),
        },
        { type: 'ContainersReady', status: flag, lastProbeTime: null, lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: since },
      ],
      hostIP: '10.224.0.4',
      podIP: typeof old?.podIP === 'string' ? old.podIP : podIp(`${namespace}/${name}`),
      startTime: since,
      containerStatuses: containers.map((c) => ({
        name: str(c.name),
        state: { running: { startedAt: since } },
        lastState: {},
        ready,
        restartCount: 0,
        image: str(c.image),
        imageID: '',
        containerID: `containerd://${createHash('sha256')
          .update(`${namespace}/${name}/${str(c.name)}`)
          .digest('hex')}`,
        started: true,
      })),
      qosClass: 'BestEffort',
    };
    this.store.writeStatus(PODS, namespace, name, status, 'kubelet');
  }

  // ---- services --------------------------------------------------------------------------------------------

  private onService(s: JsonObject, old: JsonObject | undefined): void {
    const namespace = str(md(s).namespace);
    const name = str(md(s).name);
    const lb = isObject(s.status) && isObject(s.status.loadBalancer) ? s.status.loadBalancer : {};
    const hasIngress = Array.isArray(lb.ingress) && lb.ingress.length > 0;
    if (spec(s).type === 'LoadBalancer') {
      if (
        !hasIngress &&
        (!old || spec(old).type !== 'LoadBalancer' || !this.timers.has(`svc/${namespace}/${name}`))
      ) {
        this.schedule(`svc/${namespace}/${name}`, this.options.loadBalancerDelayMs, () =>
          this.assignAddress(namespace, name),
        );
      }
    } else {
      this.cancel(`svc/${namespace}/${name}`);
      if (hasIngress)
        this.store.writeStatus(SERVICES, namespace, name, { loadBalancer: {} }, CLOUD_CONTROLLER);
    }
  }

  private assignAddress(namespace: string, name: string): void {
    const s = this.store.peek(SERVICES, namespace, name);
    if (!s || spec(s).type !== 'LoadBalancer') return;
    const used = new Set<string>();
    for (const other of this.store.all(SERVICES)) {
      const lb =
        isObject(other.status) && isObject(other.status.loadBalancer) ? other.status.loadBalancer : {};
      for (const i of Array.isArray(lb.ingress) ? lb.ingress : [])
        if (isObject(i) && typeof i.ip === 'string') used.add(i.ip);
    }
    let ip: string | undefined;
    for (let n = 1; n < 255 && !ip; n += 1) if (!used.has(`${LB_RANGE}${n}`)) ip = `${LB_RANGE}${n}`;
    if (!ip) return; // the documentation range is exhausted: the Service stays pending, as with a full cloud quota
    this.store.writeStatus(
      SERVICES,
      namespace,
      name,
      { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } },
      CLOUD_CONTROLLER,
    );
  }

  // ---- namespaces ------------------------------------------------------------------------------------------

  private onNamespace(n: JsonObject): void {
    if (!md(n).deletionTimestamp) return;
    const name = str(md(n).name);
    if (this.timers.has(`ns/${name}`)) return;
    this.schedule(`ns/${name}`, this.options.namespaceDeletionDelayMs, () => this.finalizeNamespace(name));
  }

  private finalizeNamespace(name: string): void {
    for (const rt of RESOURCE_TYPES) {
      if (!rt.namespaced) continue;
      for (const o of this.store.all(rt, name)) this.store.remove(rt, name, str(md(o).name));
    }
    this.store.remove(NAMESPACES, '', name);
  }
}
