import { describe, expect, it } from 'vitest';
import { deferredCluster } from '../../../shared/kube/deferred-cluster.js';
import { MemoryCluster } from '../../fakes/memory-cluster.js';

describe('deferredCluster', () => {
  it('builds the adapter on first use, once, and retries a failed build', async () => {
    let builds = 0;
    const memory = new MemoryCluster();
    const port = deferredCluster(() => {
      builds += 1;
      return builds === 1 ? Promise.reject(new Error('ARM unreachable')) : Promise.resolve(memory);
    });
    expect(builds).toBe(0);
    await expect(port.namespaceExists('x')).rejects.toThrow('ARM unreachable');
    expect(await port.namespaceExists('x')).toBe(false);
    expect(await port.readConfigMap('ns', 'cm')).toBeUndefined();
    expect(builds).toBe(2);
  });
});
