/**
 * Network namespaces, veth links and processes for the real-OpenVPN end-to-end suite. Every name
 * carries a per-run suffix so parallel runs never collide, and `teardown()` removes everything the
 * run created (processes first, then namespaces), even after a failure.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export class Netns {
  readonly suffix = Math.random().toString(16).slice(2, 6);
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];

  name(role: string): string {
    return `ov${role}-${this.suffix}`;
  }

  sh(command: string[], options: { ns?: string; allowFail?: boolean } = {}): string {
    const argv = options.ns ? ['ip', 'netns', 'exec', options.ns, ...command] : command;
    try {
      return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e: unknown) {
      if (options.allowFail) return '';
      const err = e as { stderr?: string; message: string };
      throw new Error(`${argv.join(' ')} failed: ${err.stderr ?? err.message}`);
    }
  }

  /** The body `url` answers from inside `ns` (curl), or '' when it does not answer within `maxSeconds`. */
  curl(ns: string, url: string, maxSeconds = 5): string {
    return this.sh(['curl', '-sS', '--max-time', String(maxSeconds), url], { ns, allowFail: true }).trim();
  }

  addNamespace(role: string): string {
    const ns = this.name(role);
    this.sh(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.sh(['ip', 'link', 'set', 'lo', 'up'], { ns });
    return ns;
  }

  /** A veth pair between two namespaces, each end addressed (CIDR) and up. */
  link(
    a: { ns: string; ip?: string },
    b: { ns: string; ip?: string },
    tag: string,
  ): { a: string; b: string } {
    const ifA = `va${tag}${this.suffix}`.slice(0, 15);
    const ifB = `vb${tag}${this.suffix}`.slice(0, 15);
    this.sh(['ip', 'link', 'add', ifA, 'netns', a.ns, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.ns]);
    for (const [ns, iface, ip] of [
      [a.ns, ifA, a.ip],
      [b.ns, ifB, b.ip],
    ] as const) {
      if (ip) this.sh(['ip', 'addr', 'add', ip, 'dev', iface], { ns });
      this.sh(['ip', 'link', 'set', iface, 'up'], { ns });
    }
    return { a: ifA, b: ifB };
  }

  /** Starts a long-running process inside a namespace, output to a log file. */
  start(ns: string, command: string[], logFile: string, env: Record<string, string> = {}): ChildProcess {
    const out = openSync(logFile, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, ...command], {
      stdio: ['ignore', out, out],
      detached: true,
      env: { ...process.env, ...env },
    });
    closeSync(out);
    this.processes.push(child);
    return child;
  }

  stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 3000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        process.kill(-child.pid!, signal);
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  async teardown(): Promise<void> {
    await Promise.all(this.processes.map((p) => this.stop(p, 'SIGKILL')));
    for (const ns of this.namespaces.reverse()) {
      // processes still inside (e.g. the entrypoint's watcher) die with SIGKILL first
      const pids = this.sh(['ip', 'netns', 'pids', ns], { allowFail: true }).split('\n').filter(Boolean);
      for (const pid of pids)
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      this.sh(['ip', 'netns', 'del', ns], { allowFail: true });
    }
  }
}

/** Waits until `logFile` matches `pattern` (after `fromOffset`), bounded. Returns the time it took. */
export async function waitForLog(
  logFile: string,
  pattern: RegExp,
  timeoutMs: number,
  fromOffset = 0,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8').slice(fromOffset);
    } catch {
      // not written yet
    }
    if (pattern.test(text)) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${pattern} in ${logFile}:\n${text.slice(-3000)}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function logSize(logFile: string): number {
  try {
    return readFileSync(logFile, 'utf8').length;
  } catch {
    return 0;
  }
}

/** Replaces `path` whole by a rename, as the kubelet swaps a mounted ConfigMap's files. */
export function atomicWrite(path: string, content: string): void {
  const temp = `${path}.tmp-${Math.random().toString(16).slice(2)}`;
  writeFileSync(temp, content);
  renameSync(temp, path);
}
