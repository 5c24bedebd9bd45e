/** An OperationsPort that records what was started, for domain tests (the orchestrations have their own tests). */
import type {
  Operation,
  OperationStatus,
  OperationsPort,
  RollRequest,
} from '../../shared/model/operations-port.js';

export class RecordingOperations implements OperationsPort {
  readonly started: (
    { kind: 'roll'; request: RollRequest } | { kind: 'provision' | 'delete' | 'live-apply'; gateway: string }
  )[] = [];
  /** The deletions started, by id: `Running` until a test says otherwise (nothing runs them here). */
  readonly deletions = new Map<string, { gateway: string; status: OperationStatus }>();

  startRoll(request: RollRequest): Promise<string> {
    this.started.push({ kind: 'roll', request });
    return Promise.resolve(`op-${this.started.length}`);
  }
  /** Gateways the timer asked to resume a roll for. */
  readonly resumed: string[] = [];
  resumeRoll(gateway: string): Promise<string | undefined> {
    this.resumed.push(gateway);
    return Promise.resolve(undefined);
  }
  startLiveApply(gateway: string): Promise<string> {
    this.started.push({ kind: 'live-apply', gateway });
    return Promise.resolve(`op-${this.started.length}`);
  }
  startProvision(gateway: string): Promise<string> {
    this.started.push({ kind: 'provision', gateway });
    return Promise.resolve(`op-${this.started.length}`);
  }
  startDeletion(gateway: string, id: string): Promise<string> {
    this.started.push({ kind: 'delete', gateway });
    this.deletions.set(id, { gateway, status: 'Running' });
    return Promise.resolve(id);
  }
  getOperation(id: string): Promise<Operation | undefined> {
    const deletion = this.deletions.get(id);
    if (!deletion) return Promise.resolve(undefined);
    const at = '2026-11-22T12:00:00.000Z';
    return Promise.resolve({
      id,
      kind: 'delete',
      gateway: deletion.gateway,
      status: deletion.status,
      createdAt: at,
      lastUpdatedAt: at,
    });
  }
}
