// The patch formats of the sandbox API server as pure functions: JSON merge patch (RFC 7386), strategic
// merge patch (maps merge, merge-key lists merge by key, other lists replace, directives), JSON patch (RFC 6902).
import { describe, expect, it } from 'vitest';
import {
  jsonPatch,
  mergePatch,
  strategicMergePatch,
  type Json,
} from '../../../shared/sandbox/kube-api/json.js';
import { KubeStatusError } from '../../../shared/sandbox/kube-api/status.js';

describe('mergePatch', () => {
  it.each<{ name: string; target: Json; patch: Json; want: Json }>([
    { name: 'adds and replaces keys', target: { a: 1 }, patch: { a: 2, b: 3 }, want: { a: 2, b: 3 } },
    { name: 'removes keys set to null', target: { a: 1, b: 2 }, patch: { b: null }, want: { a: 1 } },
    {
      name: 'merges nested maps',
      target: { m: { x: 1, y: 2 } },
      patch: { m: { y: null, z: 3 } },
      want: { m: { x: 1, z: 3 } },
    },
    { name: 'replaces lists whole', target: { l: [1, 2, 3] }, patch: { l: [4] }, want: { l: [4] } },
    { name: 'replaces the document with a non-object', target: { a: 1 }, patch: [1], want: [1] },
  ])('$name', ({ target, patch, want }) => {
    expect(mergePatch(target, patch)).toStrictEqual(want);
  });
});

describe('strategicMergePatch', () => {
  it.each<{ name: string; target: Json; patch: Json; want: Json }>([
    {
      name: 'merges containers by name',
      target: {
        containers: [
          { name: 'a', image: 'x:1', ports: [{ containerPort: 1 }] },
          { name: 'b', image: 'y:1' },
        ],
      },
      patch: { containers: [{ name: 'a', image: 'x:2' }] },
      want: {
        containers: [
          { name: 'a', image: 'x:2', ports: [{ containerPort: 1 }] },
          { name: 'b', image: 'y:1' },
        ],
      },
    },
    {
      name: 'appends list items with a new key',
      target: { env: [{ name: 'A', value: '1' }] },
      patch: { env: [{ name: 'B', value: '2' }] },
      want: {
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
      },
    },
    {
      name: 'deletes a list item with $patch: delete',
      target: { volumes: [{ name: 'a' }, { name: 'b' }] },
      patch: { volumes: [{ name: 'a', $patch: 'delete' }] },
      want: { volumes: [{ name: 'b' }] },
    },
    {
      name: 'replaces lists without a merge key',
      target: { args: ['a', 'b'] },
      patch: { args: ['c'] },
      want: { args: ['c'] },
    },
    {
      name: 'replaces a map with $patch: replace',
      target: { template: { metadata: { labels: { a: '1' } }, spec: { x: 1 } } },
      patch: { template: { $patch: 'replace', spec: { y: 2 } } },
      want: { template: { spec: { y: 2 } } },
    },
    {
      name: 'merges service ports by port',
      target: { ports: [{ port: 443, targetPort: 443, nodePort: 31000 }] },
      patch: { ports: [{ port: 443, targetPort: 8443 }] },
      want: { ports: [{ port: 443, targetPort: 8443, nodePort: 31000 }] },
    },
    {
      name: 'removes map keys set to null',
      target: { metadata: { annotations: { a: '1', b: '2' } } },
      patch: { metadata: { annotations: { a: null } } },
      want: { metadata: { annotations: { b: '2' } } },
    },
  ])('$name', ({ target, patch, want }) => {
    expect(strategicMergePatch(target, patch)).toStrictEqual(want);
  });
});

describe('jsonPatch', () => {
  it.each<{ name: string; doc: Json; ops: Json; want: Json }>([
    {
      name: 'adds to a map',
      doc: { a: {} },
      ops: [{ op: 'add', path: '/a/b', value: 1 }],
      want: { a: { b: 1 } },
    },
    {
      name: 'appends with -',
      doc: { l: [1] },
      ops: [{ op: 'add', path: '/l/-', value: 2 }],
      want: { l: [1, 2] },
    },
    {
      name: 'inserts at an index',
      doc: { l: [1, 3] },
      ops: [{ op: 'add', path: '/l/1', value: 2 }],
      want: { l: [1, 2, 3] },
    },
    { name: 'removes', doc: { a: 1, b: 2 }, ops: [{ op: 'remove', path: '/a' }], want: { b: 2 } },
    { name: 'replaces', doc: { a: 1 }, ops: [{ op: 'replace', path: '/a', value: 5 }], want: { a: 5 } },
    { name: 'moves', doc: { a: 1 }, ops: [{ op: 'move', from: '/a', path: '/b' }], want: { b: 1 } },
    {
      name: 'copies',
      doc: { a: { x: 1 } },
      ops: [{ op: 'copy', from: '/a', path: '/b' }],
      want: { a: { x: 1 }, b: { x: 1 } },
    },
    {
      name: 'unescapes ~1 and ~0',
      doc: { m: {} },
      ops: [{ op: 'add', path: '/m/a~1b~0c', value: 1 }],
      want: { m: { 'a/b~c': 1 } },
    },
    {
      name: 'passes a matching test',
      doc: { a: [1] },
      ops: [{ op: 'test', path: '/a', value: [1] }],
      want: { a: [1] },
    },
  ])('$name', ({ doc, ops, want }) => {
    expect(jsonPatch(doc, ops)).toStrictEqual(want);
  });

  it.each<{ name: string; ops: Json; code: number }>([
    { name: 'a failed test', ops: [{ op: 'test', path: '/a', value: 2 }], code: 422 },
    { name: 'removing a missing path', ops: [{ op: 'remove', path: '/nope' }], code: 422 },
    { name: 'replacing a missing path', ops: [{ op: 'replace', path: '/x/y', value: 1 }], code: 422 },
    { name: 'a patch that is not a list', ops: { op: 'add' }, code: 400 },
    { name: 'an unknown operation', ops: [{ op: 'frob', path: '/a' }], code: 400 },
  ])('rejects $name with $code', ({ ops, code }) => {
    let caught: unknown;
    try {
      jsonPatch({ a: 1 }, ops);
    } catch (e: unknown) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(KubeStatusError);
    expect((caught as KubeStatusError).code).toBe(code);
  });
});
