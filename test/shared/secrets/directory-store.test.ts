import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../../shared/errors.js';
import { DirectorySecretStore } from '../../../shared/secrets/directory-store.js';
import { describeSecretStoreContract } from './secret-store-contract.js';

// The directory store reads a directory in one go (no pages), deletes for good (no soft delete) and does
// not retry: a local filesystem has no throttling, 5xx or dropped connections. So the contract generates
// no paged-store, soft-deleting-store or retrying-store cases for it; an outage it gets, made real by
// putting a plain file where the store's directory was.
describeSecretStoreContract('directory', { softDelete: false, retriedFaults: [] }, () => {
  const directory = join(mkdtempSync(join(tmpdir(), 'secrets-')), 'store');
  const away = `${directory}.away`;
  return Promise.resolve({
    store: new DirectorySecretStore({ directory }),
    reopen: () => new DirectorySecretStore({ directory }),
    close: () => Promise.resolve(rmSync(join(directory, '..'), { recursive: true, force: true })),
    faults: {
      startOutage: () => {
        renameSync(directory, away);
        writeFileSync(directory, 'not a directory');
      },
      clear: () => {
        if (!existsSync(away)) return;
        rmSync(directory, { force: true });
        renameSync(away, directory);
      },
      outageError: { type: InternalError, fields: { code: 'internal' } },
    },
  });
});

describe('DirectorySecretStore files', () => {
  it('are 0600 in 0700 per-gateway directories, with no temp files left behind', async () => {
    const root = mkdtempSync(join(tmpdir(), 'secrets-'));
    try {
      const directory = join(root, 'store');
      const store = new DirectorySecretStore({ directory });
      await store.putCa('gw', { certPem: 'c', keyPem: 'k' });
      await store.putClient(
        'gw',
        'c1',
        { certPem: 'c', profile: 'p' },
        { serial: '01', notAfter: '2027-01-01T00:00:00.000Z' },
      );
      const entries = readdirSync(directory, { recursive: true, encoding: 'utf8' }).sort();
      expect(entries).toStrictEqual(['gw', 'gw/ca.json', 'gw/clients', 'gw/clients/c1.json']);
      for (const d of ['.', 'gw', 'gw/clients'])
        expect(statSync(join(directory, d)).mode & 0o777).toBe(0o700);
      for (const f of ['gw/ca.json', 'gw/clients/c1.json'])
        expect(statSync(join(directory, f)).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('removes the temp files a crash left behind before its first read', async () => {
    const root = mkdtempSync(join(tmpdir(), 'secrets-'));
    try {
      // GIVEN the temp files of two writes interrupted by a crash (one holds a private key)
      const directory = join(root, 'store');
      await new DirectorySecretStore({ directory }).putCa('gw', { certPem: 'c', keyPem: 'k' });
      mkdirSync(join(directory, 'gw', 'clients'), { mode: 0o700 });
      writeFileSync(
        join(directory, 'gw', 'clients', 'c1.json.0a1b2c3d4e5f.tmp'),
        '{"bundle":{"keyPem":"K"}}',
      );
      writeFileSync(join(directory, 'gw', 'ca.json.0a1b2c3d4e5f.tmp'), '{"ca":');
      // WHEN the store restarts and is read
      expect(await new DirectorySecretStore({ directory }).listClients('gw', ['c1'])).toStrictEqual([]);
      // THEN no temp file is left
      expect(readdirSync(directory, { recursive: true, encoding: 'utf8' }).sort()).toStrictEqual([
        'gw',
        'gw/ca.json',
        'gw/clients',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('leaves no temp file behind when a write fails', async () => {
    const root = mkdtempSync(join(tmpdir(), 'secrets-'));
    try {
      const directory = join(root, 'store');
      const store = new DirectorySecretStore({ directory });
      await store.putCa('gw', { certPem: 'c', keyPem: 'k' });
      // a directory where the client's file belongs makes the rename fail
      mkdirSync(join(directory, 'gw', 'clients', 'c1.json'), { recursive: true });
      await expect(
        store.putClient(
          'gw',
          'c1',
          { certPem: 'c', keyPem: 'K', profile: 'p' },
          { serial: '01', notAfter: 'x' },
        ),
      ).rejects.toBeInstanceOf(InternalError);
      expect(readdirSync(join(directory, 'gw', 'clients'))).toStrictEqual(['c1.json']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses names that could escape the directory', async () => {
    const store = new DirectorySecretStore({ directory: join(tmpdir(), 'never-created') });
    await expect(store.getCa('../etc')).rejects.toThrow(/DNS label/);
  });
});
