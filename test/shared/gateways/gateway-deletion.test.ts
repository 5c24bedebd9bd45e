import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../shared/errors.js';
import { getClient, issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import { GatewayDeletingError, readState } from '../../../shared/gateways/gateway-state.js';
import {
  UNSTARTED_DELETION_MINUTES,
  deleteGateway,
  getGateway,
  listGateways,
  putGateway,
  restartGateway,
} from '../../../shared/gateways/gateways.js';
import { replacePortMappings } from '../../../shared/gateways/port-mappings.js';
import { reconcileGateway } from '../../../shared/gateways/reconcile.js';
import { makeHarness } from './harness.js';

describe('deleteGateway', () => {
  it('records the deletion mark before it starts the operation named in it, and GET shows Deleting', async () => {
    // GIVEN a gateway
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    // WHEN it is deleted
    const { operationId } = await deleteGateway(h.deps, 'gw');
    // THEN the state carries the mark with the operation started, and reads show the gateway as Deleting
    expect((await readState(h.cluster, 'gw')).deleting).toStrictEqual({
      since: '2026-11-22T12:00:00.000Z',
      operation: operationId,
    });
    expect([...h.operations.deletions.keys()]).toStrictEqual([operationId]);
    const view = await getGateway(h.deps, 'gw');
    expect(view.status.phase).toBe('Deleting');
    expect(view.status.message).toContain(`operation ${operationId}`);
    expect((await listGateways(h.deps)).map((g) => [g.name, g.status.phase])).toStrictEqual([
      ['gw', 'Deleting'],
    ]);
  });

  it('refuses every write with 409 once the gateway is marked, and changes nothing', async () => {
    // GIVEN a gateway with an active client, marked for deletion
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    await issueClient(h.deps, 'gw', { name: 'c1' });
    await deleteGateway(h.deps, 'gw');
    const cluster = h.cluster.snapshot();
    const secrets = h.secrets.snapshot();
    const started = h.operations.started.length;
    // WHEN every write use-case is tried
    const attempts: [string, Promise<unknown>][] = [
      ['issue', issueClient(h.deps, 'gw', { name: 'c2' })],
      ['revoke', revokeClient(h.deps, 'gw', 'c1')],
      ['port mappings', replacePortMappings(h.deps, 'gw', [mapping('c1')])],
      ['PUT changed', putGateway(h.deps, 'gw', { port: 1194 })],
      ['PUT unchanged', putGateway(h.deps, 'gw', {})],
      ['restart', restartGateway(h.deps, 'gw')],
    ];
    // THEN each is refused as a conflict naming the deletion, and nothing was written or started
    for (const [what, attempt] of attempts) {
      const error = await attempt.then(
        () => new Error(`${what} was accepted`),
        (e: unknown) => e,
      );
      expect(error, what).toBeInstanceOf(GatewayDeletingError);
      expect((error as Error).message, what).toMatch(/gateway 'gw' is being deleted/);
    }
    expect(h.cluster.snapshot()).toBe(cluster);
    expect(h.secrets.snapshot()).toBe(secrets);
    expect(h.operations.started).toHaveLength(started);
  });

  it('joins the running deletion on a repeated DELETE, and runs it again once its operation ended', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const first = await deleteGateway(h.deps, 'gw');
    // a repeat while the operation runs answers the same operation and starts nothing
    expect(await deleteGateway(h.deps, 'gw')).toStrictEqual(first);
    expect(h.operations.deletions.size).toBe(1);
    // once it failed (or was interrupted), a repeat runs the deletion again under a new operation
    h.operations.deletions.get(first.operationId)!.status = 'Failed';
    h.setNow(new Date('2026-11-22T12:05:00Z'));
    const second = await deleteGateway(h.deps, 'gw');
    expect(second.operationId).not.toBe(first.operationId);
    expect(h.operations.deletions.get(second.operationId)?.status).toBe('Running');
    // the mark keeps when the deletion was first asked for
    expect((await readState(h.cluster, 'gw')).deleting).toStrictEqual({
      since: '2026-11-22T12:00:00.000Z',
      operation: second.operationId,
    });
  });

  it('answers the same operation to two DELETEs racing on an unmarked gateway', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const [a, b] = await Promise.all([deleteGateway(h.deps, 'gw'), deleteGateway(h.deps, 'gw')]);
    expect(a).toStrictEqual(b);
    expect([...h.operations.deletions.keys()]).toStrictEqual([a.operationId]);
  });

  it('takes back the material of an issue admitted before the mark whose secret landed after it', async () => {
    // GIVEN an issue whose material is stored just as a DELETE of its gateway marks it
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = async (...args) => {
      await putClient(...args);
      await deleteGateway(h.deps, 'gw');
    };
    // WHEN the issue goes on to its last write
    const issue = issueClient(h.deps, 'gw', { name: 'late' });
    // THEN it is refused, and neither its material nor the gateway's CA is left in the store
    await expect(issue).rejects.toBeInstanceOf(GatewayDeletingError);
    expect(await h.secrets.listClients('gw', ['late'])).toStrictEqual([]);
    expect(await h.secrets.getCa('gw')).toBeUndefined();
    expect(
      h.logs.some((l) => l.includes('took back secrets written while the gateway was being deleted')),
    ).toBe(true);
  });

  it('leaves a pending issue of a marked gateway pending: a read answers without completing it', async () => {
    // GIVEN a client left pending (its material write failed), then the gateway marked
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const putClient = h.secrets.putClient.bind(h.secrets);
    h.secrets.putClient = () => Promise.reject(new UpstreamError('store unavailable'));
    await expect(issueClient(h.deps, 'gw', { name: 'stuck' })).rejects.toBeInstanceOf(UpstreamError);
    h.secrets.putClient = putClient;
    await deleteGateway(h.deps, 'gw');
    // WHEN the client is read (a read completes a pending issue of a gateway not being deleted)
    const view = await getClient(h.deps, 'gw', 'stuck');
    // THEN the read answers it pending, and no material reached the store
    expect(view.status).toBe('pending');
    expect(await h.secrets.listClients('gw', ['stuck'])).toStrictEqual([]);
  });
});

describe('the reconciler on a gateway marked for deletion', () => {
  it('runs the deletion again when its operation ended, and leaves a running one alone', async () => {
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const { operationId } = await deleteGateway(h.deps, 'gw');
    // running: nothing to do
    expect((await reconcileGateway(h.deps, 'gw')).deletionResumed).toBeUndefined();
    // interrupted (a restart): the deletion runs again under a new operation
    h.operations.deletions.get(operationId)!.status = 'Failed';
    const report = await reconcileGateway(h.deps, 'gw');
    expect(report.deletionResumed).toBeDefined();
    expect(report.deletionResumed).not.toBe(operationId);
    expect((await readState(h.cluster, 'gw')).deleting?.operation).toBe(report.deletionResumed);
    expect(report.errors).toStrictEqual([]);
  });

  it(`waits ${UNSTARTED_DELETION_MINUTES} minutes before it takes an unknown operation for one never started`, async () => {
    // GIVEN a mark whose operation the host does not know (the DELETE stopped before starting it)
    const h = makeHarness();
    await putGateway(h.deps, 'gw', {});
    const { operationId } = await deleteGateway(h.deps, 'gw');
    h.operations.deletions.delete(operationId);
    // THEN a young mark is left to its request, an old one is run again
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + UNSTARTED_DELETION_MINUTES * 60_000 - 1000));
    expect((await reconcileGateway(h.deps, 'gw')).deletionResumed).toBeUndefined();
    h.setNow(new Date(Date.parse('2026-11-22T12:00:00Z') + UNSTARTED_DELETION_MINUTES * 60_000));
    const resumed = (await reconcileGateway(h.deps, 'gw')).deletionResumed;
    expect(resumed).toBeDefined();
    expect(h.operations.deletions.get(resumed!)?.status).toBe('Running');
  });
});

function mapping(client: string) {
  return { port: 2222, client, targetPort: 22, protocol: 'tcp' as const };
}
