import { describe, expect, it } from 'vitest';
import { StaticClusterInfo } from '../../../shared/aks/static-cluster-info.js';
import { putGateway } from '../../../shared/gateways/gateways.js';
import { makeHarness } from '../gateways/harness.js';

describe('StaticClusterInfo', () => {
  it('makes gateways default to DEFAULT_ROUTES and says so in their status', async () => {
    const h = makeHarness({ DEFAULT_ROUTES: '10.96.0.0/12,10.32.0.0/16' });
    h.clusterInfo.info = await new StaticClusterInfo({
      defaultRoutes: h.deps.config.DEFAULT_ROUTES,
    }).describe();
    const { gateway } = await putGateway(h.deps, 'gw', {});
    expect(gateway.routes).toStrictEqual(['10.96.0.0/12', '10.32.0.0/16']);
    expect(gateway.status.message).toContain('DEFAULT_ROUTES');
  });
});
