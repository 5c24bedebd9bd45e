/**
 * Files that survive a crash: a write is complete only once its bytes and its directory entry are on
 * disk (temporary file, fsync, rename over the old one, fsync of the directory), so whatever was
 * acknowledged is still there after `kill -9` or a power cut, and a reader never sees half a file. The
 * directory secret store writes through it, and so does the sandbox beside the product.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface DurableWriteOptions {
  /** Readable by the owner only: the file 0600, directories it creates 0700 (secrets). */
  readonly ownerOnly?: boolean | undefined;
}

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
export async function makeDirectory(dir: string, options: DurableWriteOptions = {}): Promise<void> {
  const first = await mkdir(dir, { recursive: true, ...(options.ownerOnly ? { mode: 0o700 } : {}) });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await syncDirectory(dirname(d));
    if (d === first || dirname(d) === d) return;
  }
}

/** Replaces `file` with `content` atomically and durably; temporaries are dot-files ending `.tmp`. */
export async function writeDurably(
  file: string,
  content: string,
  options: DurableWriteOptions = {},
): Promise<void> {
  const dir = dirname(file);
  await makeDirectory(dir, options);
  const temp = join(dir, `.${basename(file)}.${randomUUID()}.tmp`);
  try {
    const handle = await open(temp, 'w', options.ownerOnly ? 0o600 : 0o644);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
    await syncDirectory(dir);
  } finally {
    // A failed write leaves no temporary behind (after the rename this finds nothing).
    await rm(temp, { force: true });
  }
}

/** Removes a file or a whole directory durably. */
export async function removeDurably(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
  await syncDirectory(dirname(path));
}
