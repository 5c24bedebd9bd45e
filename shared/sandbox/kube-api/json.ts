/**
 * JSON values and the three non-apply patch formats kube-apiserver accepts: JSON merge patch (RFC 7386),
 * strategic merge patch (Kubernetes' variant: maps merge, lists of known merge keys merge by key, other
 * lists replace, `$patch` directives) and JSON patch (RFC 6902).
 */
import { badRequest, KubeStatusError } from './status.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const clone = <T>(v: T): T => structuredClone(v);

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

/**
 * Merge keys of the lists Kubernetes declares `patchStrategy: merge` for, by field name (enough for the
 * core/apps types the sandbox serves). Other lists are replaced as a whole.
 */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  ownerReferences: 'uid',
};
/** `ports` merge by `containerPort` inside containers, by `port` in a Service spec. */
const mergeKeyOf = (field: string, items: readonly Json[]): string | undefined => {
  if (field === 'ports') {
    const first = items.find(isObject);
    if (first && 'containerPort' in first) return 'containerPort';
    return 'port';
  }
  return MERGE_KEYS[field];
};

function strategicList(field: string, target: Json | undefined, patch: Json[]): Json {
  const key = mergeKeyOf(field, patch);
  if (!key || !Array.isArray(target) || !patch.every(isObject)) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'delete')).map(stripDirectives);
  }
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map(stripDirectives);
  }
  const result: Json[] = clone(target);
  for (const p of patch) {
    const index = result.findIndex((t) => isObject(t) && deepEqual(t[key], p[key]));
    if (p.$patch === 'delete') {
      if (index >= 0) result.splice(index, 1);
    } else if (index >= 0) {
      result[index] = strategicMergePatch(result[index], p, field);
    } else {
      result.push(stripDirectives(p));
    }
  }
  return result;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (x === null) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}

/** Strategic merge patch for the fields the sandbox serves. */
export function strategicMergePatch(target: Json | undefined, patch: Json, field = ''): Json {
  if (Array.isArray(patch)) return strategicList(field, target, patch);
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return {};
  const result: JsonObject = isObject(target) ? clone(target) : {};
  const retainKeys = Array.isArray(patch.$retainKeys) ? patch.$retainKeys : undefined;
  if (retainKeys) for (const k of Object.keys(result)) if (!retainKeys.includes(k)) delete result[k];
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete result[k];
    else result[k] = strategicMergePatch(result[k], v, k);
  }
  return result;
}

const decodePointer = (pointer: string): string[] => {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw badRequest(`invalid JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
};

/** kube-apiserver hides the JSON patch library's message behind a generic 422. */
const patchFailed = (_detail: string): KubeStatusError =>
  new KubeStatusError(422, 'Invalid', 'the server rejected our request due to an error in our request', {});

function parentOf(doc: Json, path: string[], op: string): { parent: Json; key: string } {
  let node: Json = doc;
  for (const seg of path.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(node)
      ? node[Number(seg)]
      : isObject(node)
        ? node[seg]
        : undefined;
    if (next === undefined)
      throw patchFailed(`${op} operation does not apply: doc is missing path: "/${path.join('/')}"`);
    node = next;
  }
  return { parent: node, key: path[path.length - 1] ?? '' };
}

function getAt(doc: Json, path: string[]): Json | undefined {
  let node: Json | undefined = doc;
  for (const seg of path) {
    if (Array.isArray(node)) node = node[Number(seg)];
    else if (isObject(node)) node = node[seg];
    else return undefined;
  }
  return node;
}

/** RFC 6902 JSON patch: 400 for a malformed patch document, 422 when an operation does not apply. */
export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let result = clone(doc);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest('invalid JSON patch operation');
    }
    const op = raw.op;
    const pointer = raw.path;
    const path = decodePointer(pointer);
    const remove = (): Json => {
      const { parent, key } = parentOf(result, path, op);
      if (Array.isArray(parent)) {
        const i = Number(key);
        if (!Number.isInteger(i) || i < 0 || i >= parent.length)
          throw patchFailed(`${op} operation does not apply: doc is missing path: "${pointer}"`);
        return parent.splice(i, 1)[0] as Json;
      }
      if (!isObject(parent) || !Object.hasOwn(parent, key))
        throw patchFailed(`${op} operation does not apply: doc is missing path: "${pointer}"`);
      const old = parent[key] as Json;
      delete parent[key];
      return old;
    };
    const add = (p: string[], value: Json): void => {
      if (p.length === 0) {
        result = clone(value);
        return;
      }
      const { parent, key } = parentOf(result, p, op);
      if (Array.isArray(parent)) {
        const i = key === '-' ? parent.length : Number(key);
        if (!Number.isInteger(i) || i < 0 || i > parent.length)
          throw patchFailed(`${op} operation does not apply: index out of bounds: "/${p.join('/')}"`);
        parent.splice(i, 0, clone(value));
      } else if (isObject(parent)) {
        parent[key] = clone(value);
      } else {
        throw patchFailed(`${op} operation does not apply: doc is missing path: "/${p.join('/')}"`);
      }
    };
    switch (op) {
      case 'add':
        if (!('value' in raw)) throw badRequest('add operation needs a value');
        add(path, raw.value);
        break;
      case 'remove':
        remove();
        break;
      case 'replace': {
        if (!('value' in raw)) throw badRequest('replace operation needs a value');
        if (path.length === 0) {
          result = clone(raw.value);
          break;
        }
        remove();
        add(path, raw.value);
        break;
      }
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw badRequest(`${op} operation needs from`);
        const from = decodePointer(raw.from);
        const value = getAt(result, from);
        if (value === undefined)
          throw patchFailed(`${op} operation does not apply: doc is missing from path: "${raw.from}"`);
        if (op === 'move') {
          const saved = path;
          const { parent, key } = parentOf(result, from, op);
          if (Array.isArray(parent)) parent.splice(Number(key), 1);
          else if (isObject(parent)) delete parent[key];
          add(saved, value);
        } else {
          add(path, value);
        }
        break;
      }
      case 'test': {
        const value = getAt(result, path);
        if (!deepEqual(value, raw.value)) throw patchFailed(`testing value ${raw.path} failed: test failed`);
        break;
      }
      default:
        throw badRequest(`Unexpected kind: ${op}`);
    }
  }
  return result;
}

/** A JSON value as text for messages and keys (strings as is, undefined/null as ''). */
export function str(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined || v === null) return '';
  return JSON.stringify(v);
}
