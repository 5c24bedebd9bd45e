/**
 * Preloaded (`node --import`) into the sandbox host by the crash test, never part of it: kills the process
 * (SIGKILL, its own pid) at a chosen step boundary, the k-th write to disk counted from the moment the
 * test arms it (SIGUSR2), just before or just after that write. A write is what makes a step durable in
 * both stores: a rename (the embedded cluster's objects, the secret files, the operation records) or a
 * removal. `CRASH_KILL_AT_WRITE=<k>:<before|after>`; without it nothing is wrapped.
 */
import fsPromises from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';

const spec = /^(\d+):(before|after)$/.exec(process.env['CRASH_KILL_AT_WRITE'] ?? '');

if (spec) {
  const at = Number(spec[1]);
  const after = spec[2] === 'after';
  let armed = false;
  let writes = 0;
  process.on('SIGUSR2', () => {
    armed = true;
    writes = 0;
  });
  const die = () => process.kill(process.pid, 'SIGKILL');
  const counted =
    <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const due = armed && (writes += 1) === at;
      if (due && !after) die();
      const result = await write(...args);
      if (due && after) die();
      return result;
    };
  fsPromises.rename = counted(fsPromises.rename);
  fsPromises.rm = counted(fsPromises.rm);
  // ESM imports of node:fs/promises see the wrapped functions from here on.
  syncBuiltinESMExports();
}
