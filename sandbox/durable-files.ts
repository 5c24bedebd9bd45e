/**
 * Files that survive a crash: a write is complete only once its bytes and its directory entry are on
 * disk (temporary file, fsync, rename over the old one, fsync of the directory), so whatever the sandbox
 * acknowledges is still there after `kill -9` or a power cut, and a reader never sees half a file.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a directory's entries (a created, renamed or removed name) to disk. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates `dir` (and its parents) durably: each new entry is flushed in its parent. */
export async function makeDirectory(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await syncDirectory(dirname(d));
    if (d === first || dirname(d) === d) return;
  }
}

/** Replaces `file` with `content` atomically and durably; temporaries are dot-files ending `.tmp`. */
export async function writeDurably(file: string, content: string): Promise<void> {
  const dir = dirname(file);
  await makeDirectory(dir);
  const temp = join(dir, `.${basename(file)}.${randomUUID()}.tmp`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  await syncDirectory(dir);
}

/** Removes a file or a whole directory durably. */
export async function removeDurably(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
  await syncDirectory(dirname(path));
}
