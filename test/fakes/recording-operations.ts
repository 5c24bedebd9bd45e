/** An OperationsPort that records what was started, for domain tests (the orchestrations have their own tests). */
import type { Operation, OperationsPort, RollRequest } from '../../shared/model/operations-port.js';

export class RecordingOperations implements OperationsPort {
  readonly started: (
    { kind: 'roll'; request: RollRequest } | { kind: 'provision' | 'delete'; gateway: string }
  )[] = [];

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
  startProvision(gateway: string): Promise<string> {
    this.started.push({ kind: 'provision', gateway });
    return Promise.resolve(`op-${this.started.length}`);
  }
  startDeletion(gateway: string): Promise<string> {
    this.started.push({ kind: 'delete', gateway });
    return Promise.resolve(`op-${this.started.length}`);
  }
  getOperation(): Promise<Operation | undefined> {
    return Promise.resolve(undefined);
  }
}
