import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDurably, writeDurably } from '../../../shared/secrets/durable-files.js';

let root = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'durable-files-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

describe('durable files', () => {
  it('replaces a file whole, creating its folders, and leaves no temporary behind', async () => {
    // GIVEN a file in folders that do not exist yet, written twice
    const file = join(root, 'a', 'b', 'object.yaml');
    await writeDurably(file, 'first');
    await writeDurably(file, 'second');
    // THEN the file holds the last content and its folder holds nothing else
    expect(await readFile(file, 'utf8')).toBe('second');
    expect(await readdir(join(root, 'a', 'b'))).toStrictEqual(['object.yaml']);
  });

  it('leaves the old entry and no temporary behind when the write cannot complete', async () => {
    // GIVEN a name taken by a directory, so the final rename fails
    const dir = join(root, 'taken');
    await mkdir(join(dir, 'inside'), { recursive: true });
    // WHEN a file is written over it THEN the write fails and the folder holds what it held
    await expect(writeDurably(dir, 'content')).rejects.toThrow();
    expect(await readdir(root)).not.toContainEqual(expect.stringMatching(/\.tmp$/));
    expect(await readdir(dir)).toStrictEqual(['inside']);
  });

  it('makes files 0600 in folders 0700 when they are for their owner only', async () => {
    const file = join(root, 'private', 'key.json');
    await writeDurably(file, '{}', { ownerOnly: true });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'private'))).mode & 0o777).toBe(0o700);
  });

  it('removes a whole folder, and a missing path is not an error', async () => {
    await writeDurably(join(root, 'gone', 'x.yaml'), 'x');
    await removeDurably(join(root, 'gone'));
    await removeDurably(join(root, 'gone'));
    expect(await readdir(root)).not.toContain('gone');
  });
});
