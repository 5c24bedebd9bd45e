/**
 * Wraps the cluster and secret-store ports so a use-case can be stopped at any step boundary, as a crash
 * would stop it: the k-th write (counted across both ports) fails, before or after it reaches the store,
 * and every write after it fails too (the process is gone), until `disarm`. Reads pass through.
 */
import type { ClusterPort } from '../../shared/model/cluster-port.js';
import type { SecretStore } from '../../shared/model/secret-store.js';

/** The "crash": a plain Error, so no use-case mistakes it for a domain answer. */
export class StepCrash extends Error {
  override readonly name = 'StepCrash';
}

const CLUSTER_WRITES: ReadonlySet<string> = new Set([
  'apply',
  'create',
  'delete',
  'replaceConfigMap',
  'updateConfigMap',
  'patchConfigMapData',
  'patchSecretData',
  'patchPodTemplateAnnotations',
  'restorePodTemplate',
  'deleteNamespace',
]);
const SECRET_WRITES: ReadonlySet<string> = new Set(['putCa', 'putClient', 'revokeClient', 'deleteGateway']);

export type CrashPoint = 'before' | 'after';

export class StepFaults {
  /** Writes seen since the last `arm`/`count` (what each was, in order). */
  readonly writes: string[] = [];
  private failAt: number | undefined;
  private point: CrashPoint = 'before';
  private crashed = false;

  /** Counts writes without failing any (to learn how many steps an operation has). */
  count(): void {
    this.writes.length = 0;
    this.failAt = undefined;
    this.crashed = false;
  }

  /** The `k`-th write from now (1-based) crashes `point` reaching the store. */
  arm(k: number, point: CrashPoint): void {
    this.count();
    this.failAt = k;
    this.point = point;
  }

  disarm(): void {
    this.failAt = undefined;
    this.crashed = false;
  }

  get hasCrashed(): boolean {
    return this.crashed;
  }

  cluster(inner: ClusterPort): ClusterPort {
    return this.wrap(inner, CLUSTER_WRITES, 'cluster');
  }

  secrets(inner: SecretStore): SecretStore {
    return this.wrap(inner, SECRET_WRITES, 'secrets');
  }

  private wrap<T extends object>(inner: T, writes: ReadonlySet<string>, port: string): T {
    return new Proxy(inner, {
      get: (target, key, receiver) => {
        const value: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || typeof value !== 'function' || !writes.has(key)) return value;
        return async (...args: unknown[]) => {
          const what = `${port}.${key}(${typeof args[1] === 'string' ? args[1] : ''})`;
          if (this.crashed) throw new StepCrash(`after the crash: ${what}`);
          this.writes.push(what);
          const here = this.failAt === this.writes.length;
          if (here && this.point === 'before') {
            this.crashed = true;
            throw new StepCrash(`crash before write ${this.writes.length}: ${what}`);
          }
          // The process dies once the call has returned, whatever it answered (a write that stepped out
          // without writing, to load or create what it needs first, too).
          const crashAfter = () => {
            this.crashed = true;
            return new StepCrash(`crash after write ${this.writes.length}: ${what}`);
          };
          let result: unknown;
          try {
            result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } catch (e: unknown) {
            if (here) throw crashAfter();
            throw e;
          }
          if (here) throw crashAfter();
          return result;
        };
      },
    });
  }
}
