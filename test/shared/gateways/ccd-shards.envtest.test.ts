/**
 * The move of a gateway from the legacy single `ccd` ConfigMap to the CCD shards, against a real kube-apiserver
 * (through the product's Kubernetes adapter) and the sandbox's embedded cluster: a legacy gateway keeps issuing
 * and revoking on its `ccd`, and a PUT that moves it while issues and revocations race it ends with every
 * entry the state wants in its shard, none elsewhere, and the legacy ConfigMap gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClient, revokeClient } from '../../../shared/gateways/clients.js';
import type { GatewayDeps } from '../../../shared/gateways/deps.js';
import { readState } from '../../../shared/gateways/gateway-state.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import type { Logger } from '../../../shared/logging.js';
import { CCD_SHARDS } from '../../../shared/model/names.js';
import type { ClusterBackend } from '../../support/cluster-backends.js';
import { depsOver, startEmbeddedBackend, startKubeApiserverBackend } from '../../support/cluster-backends.js';
import { storedCcdEntries } from '../../support/ccd-entries.js';
import { clientInvariantViolations } from '../../support/client-invariants.js';
import { makeLegacyCcd } from '../../support/legacy-ccd.js';

const ROUNDS = 3;
const CLIENTS = 24;
const BODY = { routes: ['10.0.0.0/16'], keyType: 'ec' as const };
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const BACKENDS: readonly { name: string; start: () => Promise<ClusterBackend> }[] = [
  { name: 'real kube-apiserver', start: startKubeApiserverBackend },
  { name: 'embedded cluster', start: () => startEmbeddedBackend('avg-ccd-move-') },
];

describe.each(BACKENDS)('the move to CCD shards ($name)', ({ start }) => {
  let backend: ClusterBackend;
  let deps: GatewayDeps;
  /** Entries each move's own convergence had to rewrite (a racing write that the switch would have lost). */
  const rewritten: number[] = [];

  beforeAll(async () => {
    backend = await start();
    deps = depsOver(backend.cluster, {
      ...quiet,
      info: (message, fields) => {
        if (message === 'gateway CCD moved to shards') rewritten.push(Number(fields?.['repairedEntries']));
      },
    });
  }, 300_000);

  afterAll(async () => {
    console.log(`entries rewritten by each move's convergence: ${JSON.stringify(rewritten)}`);
    await backend?.stop();
  });

  it('keeps every entry when issues and revocations race the PUT that moves a legacy gateway, every round', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      // GIVEN a legacy gateway whose clients were issued (and some revoked) on its single `ccd`
      const gateway = `move-${round}`;
      const ns = `vpn-${gateway}`;
      await putGateway(deps, gateway, BODY);
      await makeLegacyCcd(deps, gateway);
      for (let i = 0; i < CLIENTS; i += 1) await issueClient(deps, gateway, { name: `c${i}` });
      await revokeClient(deps, gateway, 'c0');
      const legacy = await deps.cluster.readConfigMap(ns, 'ccd');
      expect(Object.keys(legacy?.data ?? {})).toHaveLength(CLIENTS - 1);
      expect(await deps.cluster.readConfigMap(ns, 'ccd-0')).toBeUndefined();
      expect(await clientInvariantViolations(deps, gateway)).toStrictEqual([]);
      // WHEN the PUT that moves it races new issues and revocations, started across its steps
      const racing = [
        ...Array.from({ length: 6 }, (_, i) =>
          sleep(i * 15 * (round + 1)).then(() => issueClient(deps, gateway, { name: `new${i}` })),
        ),
        ...Array.from({ length: 4 }, (_, i) =>
          sleep(i * 20 * (round + 1)).then(() => revokeClient(deps, gateway, `c${i + 1}`)),
        ),
      ];
      await Promise.all([putGateway(deps, gateway, BODY), ...racing]);
      // THEN every request succeeded, the state records the shards, the legacy ConfigMap is gone, and the
      // shards hold exactly the active clients' entries, each in its own shard
      expect((await readState(deps.cluster, gateway)).ccdShards).toBe(CCD_SHARDS);
      expect(await deps.cluster.readConfigMap(ns, 'ccd')).toBeUndefined();
      const stored = await storedCcdEntries(deps.cluster, gateway);
      expect(stored.missing).toStrictEqual([]);
      expect(stored.misplaced).toStrictEqual([]);
      expect(Object.keys(stored.entries).sort()).toStrictEqual(
        [
          ...Array.from({ length: CLIENTS - 5 }, (_, i) => `c${i + 5}`),
          ...Array.from({ length: 6 }, (_, i) => `new${i}`),
        ].sort(),
      );
      expect(await clientInvariantViolations(deps, gateway)).toStrictEqual([]);
      const volumes = (
        (await deps.cluster.readRollout(ns, 'openvpn')).template as {
          spec: { volumes: { name: string; projected?: { sources: unknown[] } }[] };
        }
      ).spec.volumes;
      expect(volumes.find((v) => v.name === 'ccd-shards')?.projected?.sources).toHaveLength(CCD_SHARDS);
      expect(volumes.some((v) => v.name === 'ccd')).toBe(false);
      expect(rewritten).toHaveLength(round + 1);
      // AND a repeated PUT finds the gateway moved and rolled out as recorded: it changes nothing
      const generation = (await deps.cluster.readRollout(ns, 'openvpn')).generation;
      expect((await putGateway(deps, gateway, BODY)).operationId).toBeUndefined();
      expect((await deps.cluster.readRollout(ns, 'openvpn')).generation).toBe(generation);
      expect(rewritten).toHaveLength(round + 1);
    }
  }, 600_000);
});
