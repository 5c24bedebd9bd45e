/**
 * Sealed chunks: a write of the state moves every full chunk of 256 clients to a ConfigMap of its own, named
 * after its text and never changed, so the state itself holds only the clients after the last full chunk
 * and the changes made to sealed clients since. Read back, the state is the same clients in the same order.
 */
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../../shared/errors.js';
import type { ClientRecord, GatewayState } from '../../../shared/model/gateway.js';
import type { SealedChunk, StateWrite } from '../../../shared/model/state-codec.js';
import {
  MissingSealedChunks,
  encodeStateWrite,
  parseStateConfigMapData,
  sealedChunkNames,
  stateConfigMapData,
} from '../../../shared/model/state-codec.js';
import { state } from './gateway-state.fixture.js';

const base = state.clients[0]!;
const clientsUpTo = (n: number): ClientRecord[] =>
  Array.from({ length: n }, (_, i) => ({ ...base, name: `site-${i}`, serial: (0x1000 + i).toString(16) }));
const withClients = (clients: readonly ClientRecord[]): GatewayState => ({ ...state, clients });
const revoked = (c: ClientRecord): ClientRecord => ({
  ...c,
  status: 'revoked',
  revokedAt: '2026-11-24T00:00:00.000Z',
});

/** A store of sealed chunk texts, as the cluster would hold them once created. */
function chunkStore() {
  const texts = new Map<string, string>();
  return {
    texts,
    lookup: (name: string) => texts.get(name),
    /** Writes `next` over `previous` as updateState does: creates what the write asks for, then writes. */
    write(next: GatewayState, previous?: Readonly<Record<string, string>>): StateWrite {
      const created = new Map<string, string>();
      const first = encodeStateWrite(next, previous, this.lookup, (text) => created.get(text));
      for (const { name, text } of first.create) {
        texts.set(name, text);
        created.set(text, name);
      }
      const again = encodeStateWrite(next, previous, this.lookup, (text) => created.get(text));
      expect(again.create).toStrictEqual([]);
      expect(again.chunks).toStrictEqual(first.chunks);
      return again;
    },
  };
}

const clientKeys = (data: Record<string, string>) =>
  Object.keys(data).filter((k) => k.startsWith('clients-'));

describe('state codec: sealed chunks', () => {
  it('seals every full chunk of 256 and keeps only the rest inline, and reads the same clients back', () => {
    const store = chunkStore();
    const clients = clientsUpTo(600);
    // WHEN a state of 600 clients is written
    const first = encodeStateWrite(withClients(clients), undefined, store.lookup, () => undefined);
    // THEN two chunks are to be created (each named after its text), and the state holds chunk 002 inline
    expect(first.create.map((c: SealedChunk) => c.name)).toHaveLength(2);
    for (const { name } of first.create) expect(name).toMatch(/^state-chunk-[0-9a-f]{16}-[0-9a-f]{8}$/);
    const write = store.write(withClients(clients));
    expect(clientKeys(write.data)).toStrictEqual(['clients-002.json.gz.b64']);
    expect(sealedChunkNames(write.data)).toStrictEqual(write.chunks);
    // AND read with the chunks, it is the state written; without them, the reader is told which to load
    expect(parseStateConfigMapData(write.data, store.lookup)).toStrictEqual(withClients(clients));
    expect(() => parseStateConfigMapData(write.data)).toThrow(MissingSealedChunks);
    try {
      parseStateConfigMapData(write.data);
    } catch (e: unknown) {
      expect((e as MissingSealedChunks).names).toStrictEqual(write.chunks);
    }
    // AND the state object is a few KB, not the size of 600 clients
    const inline = Object.values(write.data).reduce((n, v) => n + v.length, 0);
    const whole = Object.values(stateConfigMapData(withClients(clients))).reduce((n, v) => n + v.length, 0);
    expect(inline).toBeLessThan(whole / 2);
  });

  it('keeps the sealed chunks of the state it replaces, and records a revocation of a sealed client as a change', () => {
    const store = chunkStore();
    const first = store.write(withClients(clientsUpTo(600)));
    const read = parseStateConfigMapData(first.data, store.lookup);
    // WHEN client 10 (in sealed chunk 000) is revoked and one more client issued
    const next = withClients([
      ...read.clients.map((c, i) => (i === 10 ? revoked(c) : c)),
      clientsUpTo(601)[600]!,
    ]);
    const write = store.write(next, first.data);
    // THEN no chunk is created: the same chunks, the revocation stored in the state as a change of index 10
    expect(write.chunks).toStrictEqual(first.chunks);
    const sealed = JSON.parse(write.data['sealed.json'] ?? '') as { changes: [number, unknown[]][] };
    expect(sealed.changes.map(([i]) => i)).toStrictEqual([10]);
    const again = parseStateConfigMapData(write.data, store.lookup);
    expect(again).toStrictEqual(next);
    expect(again.clients[10]?.status).toBe('revoked');
  });

  it('seals the chunks again past 64 changes, as new objects, and the old ones are no longer referenced', () => {
    const store = chunkStore();
    const first = store.write(withClients(clientsUpTo(600)));
    let data = first.data;
    let current = parseStateConfigMapData(data, store.lookup);
    // WHEN 65 clients of chunk 001 are revoked one write at a time
    for (let i = 256; i < 256 + 65; i += 1) {
      const next = withClients(current.clients.map((c, j) => (j === i ? revoked(c) : c)));
      data = store.write(next, data).data;
      current = parseStateConfigMapData(data, store.lookup);
      expect(current).toStrictEqual(next);
    }
    // THEN chunk 001 was sealed again (a new name), chunk 000 kept, and no change is left in the state
    const names = sealedChunkNames(data);
    expect(names[0]).toBe(first.chunks[0]);
    expect(names[1]).not.toBe(first.chunks[1]);
    expect((JSON.parse(data['sealed.json'] ?? '') as { changes: unknown[] }).changes).toStrictEqual([]);
    expect(current.clients.filter((c) => c.status === 'revoked')).toHaveLength(65);
  });

  it('takes a chunk back inline when its clients drop below 256 (a pending issue rolled back), and seals it again when full', () => {
    const store = chunkStore();
    const full = store.write(withClients(clientsUpTo(256)));
    expect(full.chunks).toHaveLength(1);
    expect(clientKeys(full.data)).toStrictEqual(['clients-001.json.gz.b64']);
    // WHEN the 256th client is taken away, THEN no chunk is referenced and every client is inline again
    const fewer = store.write(withClients(clientsUpTo(255)), full.data);
    expect(fewer.chunks).toStrictEqual([]);
    expect(fewer.data['sealed.json']).toBeUndefined();
    expect(parseStateConfigMapData(fewer.data)).toStrictEqual(withClients(clientsUpTo(255)));
  });

  it('seals again every chunk after a client taken out of the middle (the chunks no longer line up)', () => {
    const store = chunkStore();
    const first = store.write(withClients(clientsUpTo(800)));
    const clients = clientsUpTo(800).filter((_, i) => i !== 100);
    const write = store.write(withClients(clients), first.data);
    expect(write.chunks).toHaveLength(3);
    expect(write.chunks.filter((n) => first.chunks.includes(n))).toStrictEqual([]);
    expect(parseStateConfigMapData(write.data, store.lookup)).toStrictEqual(withClients(clients));
  });

  it('refuses a chunk whose text is not the one its name was made from, and changes out of order', () => {
    const store = chunkStore();
    const write = store.write(withClients(clientsUpTo(300)));
    const [name] = write.chunks;
    const other = store.write(withClients(clientsUpTo(300).map((c) => ({ ...c, ip: '10.0.0.9' }))));
    const swapped = (n: string) => (n === name ? store.texts.get(other.chunks[0] ?? '') : store.lookup(n));
    expect(() => parseStateConfigMapData(write.data, swapped)).toThrow(
      /does not hold the text it is named after/,
    );
    const bad = {
      ...write.data,
      'sealed.json': JSON.stringify({ chunks: write.chunks, changes: [[300, ['x']]] }),
    };
    expect(() => parseStateConfigMapData(bad, store.lookup)).toThrow(InternalError);
  });

  it('refuses sealed chunks and an inline chunk of the same number', () => {
    const store = chunkStore();
    const write = store.write(withClients(clientsUpTo(300)));
    const inline = stateConfigMapData(withClients(clientsUpTo(300)));
    const both = { ...inline, 'sealed.json': write.data['sealed.json'] ?? '' };
    expect(() => parseStateConfigMapData(both, store.lookup)).toThrow(/also sealed/);
  });
});
