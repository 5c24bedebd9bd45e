import { describe, expect, it } from 'vitest';
import {
  CCD_SHARDS,
  ccdObjectNames,
  ccdObjectOf,
  ccdShardIndex,
  isCcdObjectName,
} from '../../../shared/model/names.js';

describe('ccdShardIndex', () => {
  it.each([
    // FNV-1a 32-bit reference values (the hash itself, taken modulo 2^32)
    ['', 0x811c9dc5],
    ['a', 0xe40c292c],
    ['foobar', 0xbf9cf968],
  ])('is FNV-1a 32-bit of the name: %j', (name, hash) => {
    expect(ccdShardIndex(name, 2 ** 32)).toBe(hash);
    expect(ccdShardIndex(name, CCD_SHARDS)).toBe(hash % CCD_SHARDS);
  });

  it('spreads 2,000 client names evenly over the shards, the same on every call', () => {
    // GIVEN names as an operator would give them
    const names = Array.from({ length: 2000 }, (_, i) => `branch-${i}`);
    // WHEN each is placed
    const counts = new Array<number>(CCD_SHARDS).fill(0);
    for (const name of names) {
      const shard = ccdShardIndex(name, CCD_SHARDS);
      expect(ccdShardIndex(name, CCD_SHARDS)).toBe(shard);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    // THEN every shard holds within ±30% of the mean (125)
    for (const count of counts) expect(count).toBeGreaterThan(87);
    for (const count of counts) expect(count).toBeLessThan(163);
  });
});

describe('CCD object names', () => {
  it('names the legacy ConfigMap when no layout is recorded, and the shards otherwise', () => {
    expect(ccdObjectNames(undefined)).toStrictEqual(['ccd']);
    expect(ccdObjectNames(3)).toStrictEqual(['ccd-0', 'ccd-1', 'ccd-2']);
    expect(ccdObjectOf('a', undefined)).toBe('ccd');
    expect(ccdObjectOf('a', CCD_SHARDS)).toBe(`ccd-${0xe40c292c % CCD_SHARDS}`);
  });

  it.each([
    ['ccd', true],
    ['ccd-0', true],
    ['ccd-15', true],
    ['ccd-01', false],
    ['ccd-', false],
    ['ccd-x', false],
    ['state', false],
    ['port-mappings', false],
  ])('tells a CCD ConfigMap by its name: %s → %s', (name, is) => {
    expect(isCcdObjectName(name)).toBe(is);
  });
});
