/** Fault injection for tests: fail, delay or reset chosen requests to the sandbox API server. */

export interface FaultSpec {
  /** HTTP method to match (any when omitted). */
  readonly method?: string;
  /** Tested against the URL path (without the query string), e.g. `/\/configmaps\/state$/`. */
  readonly path: RegExp;
  /** The first matching request that is affected, 1-based (default 1). */
  readonly nth?: number;
  /** How many matching requests from the `nth` on are affected (default 1; `Infinity` for all). */
  readonly times?: number;
  /** Answer with this HTTP status and a Kubernetes `Status` body instead of serving the request. */
  readonly status?: number;
  /** Message of that Status (a sensible default per code otherwise). */
  readonly message?: string;
  /** `Retry-After` seconds (sent with 429/503 by default: 1). */
  readonly retryAfterSeconds?: number;
  /** Wait this long first (then fail, reset, or serve the request normally). */
  readonly delayMs?: number;
  /** Destroy the connection without an answer. */
  readonly reset?: boolean;
}

export interface Fault {
  readonly spec: FaultSpec;
  /** Matching requests seen so far. */
  readonly matched: number;
  /** Requests this fault acted on so far. */
  readonly triggered: number;
  remove(): void;
}

export interface Faults {
  add(spec: FaultSpec): Fault;
  clear(): void;
}

/** What to do with one request. */
export interface FaultAction {
  readonly delayMs: number;
  readonly reset: boolean;
  readonly status: number | undefined;
  readonly message: string | undefined;
  readonly retryAfterSeconds: number | undefined;
}

class FaultEntry implements Fault {
  matched = 0;
  triggered = 0;
  constructor(
    readonly spec: FaultSpec,
    private readonly onRemove: (f: FaultEntry) => void,
  ) {}
  remove(): void {
    this.onRemove(this);
  }
}

export class FaultTable implements Faults {
  private entries: FaultEntry[] = [];

  add(spec: FaultSpec): Fault {
    const entry = new FaultEntry(spec, (f) => {
      this.entries = this.entries.filter((e) => e !== f);
    });
    this.entries.push(entry);
    return entry;
  }

  clear(): void {
    this.entries = [];
  }

  /** Counts the request against every matching fault; the first one that fires decides. */
  match(method: string, path: string): FaultAction | undefined {
    let action: FaultAction | undefined;
    for (const e of this.entries) {
      if (e.spec.method !== undefined && e.spec.method.toUpperCase() !== method.toUpperCase()) continue;
      e.spec.path.lastIndex = 0;
      if (!e.spec.path.test(path)) continue;
      e.matched += 1;
      const first = e.spec.nth ?? 1;
      const times = e.spec.times ?? 1;
      if (action || e.matched < first || e.matched >= first + times) continue;
      e.triggered += 1;
      const status = e.spec.status;
      action = {
        delayMs: e.spec.delayMs ?? 0,
        reset: e.spec.reset ?? false,
        status,
        message: e.spec.message,
        retryAfterSeconds: e.spec.retryAfterSeconds ?? (status === 429 || status === 503 ? 1 : undefined),
      };
    }
    return action;
  }
}
