/**
 * The state's sealed chunks through updateState and findState: a write that fills a chunk of 256 clients
 * creates it (an immutable ConfigMap) before the state write that references it; changes to its clients
 * are recorded in the state until 64 of them seal it again, and the chunk replaced is deleted. A write
 * stopped at any step (a crash) leaves a state whose every chunk exists; what it created and never
 * referenced is collected by the reconciler once old. A reader that finds a chunk gone reads again.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  ORPHAN_CHUNK_MINUTES,
  collectStateChunks,
  findState,
  readState,
  updateState,
} from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { ConflictError } from '../../../shared/errors.js';
import { stateChunkConfigMap } from '../../../shared/kube/manifests.js';
import { reconcileGateway } from '../../../shared/gateways/reconcile.js';
import type { ClusterPort } from '../../../shared/model/cluster-port.js';
import type { ClientRecord, GatewayState } from '../../../shared/model/gateway.js';
import { sealedChunkNames } from '../../../shared/model/state-codec.js';
import { StepCrash, StepFaults } from '../../fakes/step-faults.js';
import type { CrashPoint } from '../../fakes/step-faults.js';
import { readStoredState } from '../../support/stored-state.js';
import { makeHarness } from './harness.js';
import type { MemoryCluster } from '../../fakes/memory-cluster.js';

const NS = 'vpn-gw';

const record = (i: number): ClientRecord => ({
  name: `site-${i}`,
  ip: `10.${140 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`,
  serial: (0x10000 + i).toString(16),
  issuedAt: '2026-11-22T12:00:00.000Z',
  notAfter: '2027-11-22T12:00:00.000Z',
  status: 'active',
  keySource: 'generated',
});
const revoked = (c: ClientRecord): ClientRecord => ({
  ...c,
  status: 'revoked',
  revokedAt: '2026-11-24T00:00:00.000Z',
});

/** Adds clients `from` … `to - 1` (each once: a retried write adds nothing twice). */
const addClients = (from: number, to: number) => (s: GatewayState) => {
  const names = new Set(s.clients.map((c) => c.name));
  const add = Array.from({ length: to - from }, (_, k) => record(from + k)).filter((c) => !names.has(c.name));
  return add.length === 0 ? undefined : { ...s, clients: [...s.clients, ...add] };
};
const revokeClients = (indexes: readonly number[]) => (s: GatewayState) => ({
  ...s,
  clients: s.clients.map((c, i) => (indexes.includes(i) && c.status === 'active' ? revoked(c) : c)),
});

async function chunkObjects(cluster: ClusterPort): Promise<string[]> {
  return (await cluster.list('ConfigMap', NS, ''))
    .map((o) => o.metadata.name)
    .filter((n) => n.startsWith('state-chunk-'))
    .sort();
}

async function referenced(cluster: ClusterPort): Promise<string[]> {
  return [...sealedChunkNames((await cluster.readConfigMap(NS, 'state'))?.data ?? {})].sort();
}

async function gatewayWith(clients: number) {
  const h = makeHarness();
  await putGateway(h.deps, 'gw', {});
  if (clients > 0) await updateState(h.deps.cluster, 'gw', addClients(0, clients));
  return h;
}

/**
 * The next replace of the state lands, but its answer is lost: the adapter's retry of the same replace (the
 * same resourceVersion) is refused with 409, and its next read finds the write already made.
 */
function loseNextStateAnswer(cluster: MemoryCluster): void {
  const replace = cluster.replaceConfigMap.bind(cluster);
  let lose = true;
  cluster.replaceConfigMap = async (ns, name, data, rv) => {
    const written = await replace(ns, name, data, rv);
    if (name === 'state' && lose) {
      lose = false;
      throw new ConflictError(`ConfigMap ${ns}/${name} was modified (a retry of a write that landed)`);
    }
    return written;
  };
}

describe('the state in sealed chunks', () => {
  it('seals a chunk when it fills, keeps the state object small, and reads the same clients without the process caches', async () => {
    // GIVEN a gateway at 255 clients (all inline)
    const h = await gatewayWith(255);
    expect(await chunkObjects(h.cluster)).toStrictEqual([]);
    // WHEN the 256th and 257th clients are written
    await updateState(h.deps.cluster, 'gw', addClients(255, 257));
    // THEN one chunk ConfigMap exists, immutable, referenced by the state, which holds one client inline
    const chunks = await chunkObjects(h.cluster);
    expect(chunks).toHaveLength(1);
    expect(await referenced(h.cluster)).toStrictEqual(chunks);
    const object = (await h.cluster.list('ConfigMap', NS, '')).find((o) => o.metadata.name === chunks[0]);
    expect(object?.['immutable']).toBe(true);
    const state = await readState(h.deps.cluster, 'gw');
    expect(state.clients.map((c) => c.name)).toStrictEqual(
      Array.from({ length: 257 }, (_, i) => `site-${i}`),
    );
    expect(await readStoredState(h.cluster, 'gw')).toStrictEqual(state);
    const bytes = Object.values((await h.cluster.readConfigMap(NS, 'state'))?.data ?? {}).join('').length;
    expect(bytes).toBeLessThan(2_000);
  });

  it('records revocations of sealed clients in the state, seals the chunk again past 64, and deletes the chunk replaced', async () => {
    const h = await gatewayWith(600);
    const [first, second] = await referenced(h.cluster);
    // WHEN 64 clients of chunk 001 are revoked (one write each), THEN the chunks stay as they were
    for (let i = 256; i < 320; i += 1) await updateState(h.deps.cluster, 'gw', revokeClients([i]));
    expect(await referenced(h.cluster)).toStrictEqual([first, second].sort());
    // WHEN one more is revoked, THEN chunk 001 is sealed again, the old one deleted, chunk 000 kept
    await updateState(h.deps.cluster, 'gw', revokeClients([320]));
    const now = await referenced(h.cluster);
    expect(now).toContain(first);
    expect(now).not.toContain(second);
    expect(await chunkObjects(h.cluster)).toStrictEqual(now);
    const state = await readStoredState(h.cluster, 'gw');
    expect(state?.clients.filter((c) => c.status === 'revoked').map((c) => c.name)).toStrictEqual(
      Array.from({ length: 65 }, (_, k) => `site-${256 + k}`),
    );
  });

  it('keeps the chunk of a write that landed without its answer (the retry of the replace got 409)', async () => {
    const h = await gatewayWith(255);
    // GIVEN a replace of the state that lands, but whose answer is lost: the retry of the same replace
    // (the same resourceVersion) is refused with 409, and the next read finds the write already made
    loseNextStateAnswer(h.cluster);
    // WHEN the 256th client (which seals the first chunk) is written
    await updateState(h.deps.cluster, 'gw', addClients(255, 256));
    // THEN the chunk the state references exists, and a process without it cached reads the gateway whole
    expect(await chunkObjects(h.cluster)).toStrictEqual(await referenced(h.cluster));
    expect(await referenced(h.cluster)).toHaveLength(1);
    vi.resetModules();
    const cold = await import('../../../shared/gateways/gateway-state.js');
    expect((await cold.findState(h.deps.cluster, 'gw'))?.clients).toHaveLength(256);
  });

  it('deletes the chunks an attempt that landed without its answer replaced, when the retry changes more', async () => {
    const h = await gatewayWith(300);
    await updateState(h.deps.cluster, 'gw', revokeClients(Array.from({ length: 64 }, (_, k) => k)));
    const [before] = await referenced(h.cluster);
    loseNextStateAnswer(h.cluster);
    // WHEN a write that seals chunk 000 again (the 65th change) lands without its answer, and the retry
    // on the landed state still has something to change (here: the CRL number, raised on every call)
    await updateState(h.deps.cluster, 'gw', (s) => ({
      ...revokeClients([64])(s),
      crl: { ...s.crl, number: s.crl.number + 1 },
    }));
    // THEN the chunk replaced by the landed attempt is gone, the new one is the only chunk, and it reads
    const now = await referenced(h.cluster);
    expect(now).toHaveLength(1);
    expect(now).not.toContain(before);
    expect(await chunkObjects(h.cluster)).toStrictEqual(now);
    const state = await readStoredState(h.cluster, 'gw');
    expect(state?.clients.filter((c) => c.status === 'revoked')).toHaveLength(65);
  });

  it('answers an internal error, not a conflict, when the state references a chunk that does not exist', async () => {
    const h = await gatewayWith(300);
    const [chunk] = await referenced(h.cluster);
    await h.cluster.delete({ kind: 'ConfigMap', namespace: NS, name: chunk ?? '' });
    vi.resetModules();
    const cold = await import('../../../shared/gateways/gateway-state.js');
    const { InternalError } = await import('../../../shared/errors.js');
    await expect(cold.findState(h.deps.cluster, 'gw')).rejects.toBeInstanceOf(InternalError);
    await expect(cold.updateState(h.deps.cluster, 'gw', revokeClients([1]))).rejects.toBeInstanceOf(
      InternalError,
    );
  });

  it('takes a chunk create retried after its answer was lost (409: it exists) as made', async () => {
    const h = await gatewayWith(255);
    const create = h.cluster.create.bind(h.cluster);
    let lose = true;
    h.cluster.create = async (object) => {
      await create(object);
      if (object.metadata.name.startsWith('state-chunk-') && lose) {
        lose = false;
        throw new ConflictError(`ConfigMap ${object.metadata.name} already exists`);
      }
    };
    await updateState(h.deps.cluster, 'gw', addClients(255, 256));
    expect(await chunkObjects(h.cluster)).toStrictEqual(await referenced(h.cluster));
    expect((await readStoredState(h.cluster, 'gw'))?.clients).toHaveLength(256);
  });

  it('lands two writers racing to fill a chunk, and deletes the chunk of the one that lost', async () => {
    const h = await gatewayWith(255);
    // GIVEN two requests that both read the state at 255 clients before either writes
    let waiting = 2;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    h.cluster.beforeConfigMapWrite = async (_ns, name) => {
      if (name !== 'state' || waiting === 0) return;
      waiting -= 1;
      if (waiting === 0) release();
      await bothRead;
    };
    // WHEN each adds its own 256th client
    await Promise.all([
      updateState(h.deps.cluster, 'gw', addClients(255, 256)),
      updateState(h.deps.cluster, 'gw', (s) => ({ ...s, clients: [...s.clients, record(900)] })),
    ]);
    h.cluster.beforeConfigMapWrite = undefined;
    // THEN both clients are there, and the only chunk left is the one the state references
    const state = await readStoredState(h.cluster, 'gw');
    expect(state?.clients).toHaveLength(257);
    expect(await chunkObjects(h.cluster)).toStrictEqual(await referenced(h.cluster));
    expect(await referenced(h.cluster)).toHaveLength(1);
  });

  const POINTS: readonly CrashPoint[] = ['before', 'after'];

  it.each([
    { what: 'the write that seals a chunk', clients: 255, write: addClients(255, 256) },
    {
      what: 'the write that seals a chunk again (65th change)',
      clients: 300,
      setup: revokeClients(Array.from({ length: 64 }, (_, k) => k)),
      write: revokeClients([64]),
    },
  ])('converges after a crash at every step of $what', async ({ clients, setup, write }) => {
    // How many writes it makes when nothing fails
    const probe = await gatewayWith(clients);
    if (setup) await updateState(probe.deps.cluster, 'gw', setup);
    const faults = new StepFaults();
    faults.count();
    await updateState(faults.cluster(probe.cluster), 'gw', write);
    const steps = faults.writes.length;
    expect(steps).toBeGreaterThanOrEqual(2);
    for (const point of POINTS)
      for (let k = 1; k <= steps; k += 1) {
        // GIVEN the write stopped at its k-th step
        const h = await gatewayWith(clients);
        if (setup) await updateState(h.deps.cluster, 'gw', setup);
        const expected = write(await readState(h.deps.cluster, 'gw'));
        faults.arm(k, point);
        // (a crash at the deletion of a replaced chunk, a courtesy, reaches no caller: the write landed)
        const answer = await updateState(faults.cluster(h.cluster), 'gw', write).catch((e: unknown) => e);
        if (!(answer instanceof StepCrash)) expect(faults.writes[k - 1]).toMatch(/^cluster\.delete/);
        expect(faults.hasCrashed).toBe(true);
        faults.disarm();
        // THEN the state as stored reads (every chunk it references exists)
        const stored = await readStoredState(h.cluster, 'gw');
        // AND the request retried lands it, with nothing left that the state does not reference but
        // chunks the reconciler collects once they are ORPHAN_CHUNK_MINUTES old
        await updateState(h.deps.cluster, 'gw', write);
        const after = await readStoredState(h.cluster, 'gw');
        expect(after?.clients).toStrictEqual(expected?.clients);
        if (stored) expect(stored.clients.length).toBeLessThanOrEqual(after?.clients.length ?? 0);
        expect(await collectStateChunks(h.cluster, 'gw')).toStrictEqual([]);
        const later = Date.now() + (ORPHAN_CHUNK_MINUTES + 1) * 60_000;
        await collectStateChunks(h.cluster, 'gw', later);
        expect(await chunkObjects(h.cluster)).toStrictEqual(await referenced(h.cluster));
        expect(await readStoredState(h.cluster, 'gw')).toStrictEqual(after);
      }
  });

  it('is collected by the reconciler only when no state references it and it is old', async () => {
    const h = await gatewayWith(300);
    const [kept] = await referenced(h.cluster);
    const orphan = 'state-chunk-0123456789abcdef-01234567';
    const made = stateChunkConfigMap(NS, orphan, 'H4sI');
    await h.cluster.create({
      ...made,
      metadata: { ...made.metadata, creationTimestamp: '2026-01-01T00:00:00Z' },
    });
    const young = 'state-chunk-0123456789abcdef-89abcdef';
    await h.cluster.create(stateChunkConfigMap(NS, young, 'H4sI'));
    const report = await reconcileGateway(h.deps, 'gw');
    expect(report.errors).toStrictEqual([]);
    const left = await chunkObjects(h.cluster);
    expect(left).toContain(kept);
    expect(left).toContain(young);
    expect(left).not.toContain(orphan);
    expect(report.chunksCollected).toBe(1);
  });

  it('reads again when a chunk of the state it read is gone (a write replaced it meanwhile)', async () => {
    const h = await gatewayWith(600);
    for (let i = 256; i < 320; i += 1) await updateState(h.deps.cluster, 'gw', revokeClients([i]));
    const [, second] = await referenced(h.cluster);
    // GIVEN a process that has never loaded a chunk (fresh modules), and a write that seals chunk 001
    // again right after that process read the state, before it loads chunk 001
    vi.resetModules();
    const cold = await import('../../../shared/gateways/gateway-state.js');
    let reads = 0;
    const racing: ClusterPort = Object.create(h.cluster) as ClusterPort;
    racing.readConfigMap = async (ns, name) => {
      if (name === second && reads++ === 0) await updateState(h.deps.cluster, 'gw', revokeClients([320]));
      return h.cluster.readConfigMap(ns, name);
    };
    // WHEN it reads the gateway, THEN it reads the state again and gets the latest, whole
    const state = await cold.findState(racing, 'gw');
    expect(reads).toBe(1);
    expect(state?.clients.filter((c) => c.status === 'revoked')).toHaveLength(65);
    expect(state).toStrictEqual(await findState(h.cluster, 'gw'));
  });
});
