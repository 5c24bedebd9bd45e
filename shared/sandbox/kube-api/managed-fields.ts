/**
 * Minimal server-side-apply field ownership, stored in `metadata.managedFields` (FieldsV1) like the real
 * API server: maps are owned key by key, lists and scalars as a whole. Enough for an apply to remove the
 * fields its manager no longer sets, to report conflicts with other managers, and to transfer ownership
 * on `force`.
 */
import { clone, deepEqual, isObject, str, type Json, type JsonObject } from './json.js';

/** A field path, e.g. ['data', 'server.conf']. */
export type FieldPath = readonly string[];

/** Set of field paths, keyed by their JSON encoding. */
export type FieldSet = Map<string, FieldPath>;

export interface ManagerEntry {
  readonly manager: string;
  readonly operation: 'Apply' | 'Update';
  readonly apiVersion: string;
  time: string;
  fields: FieldSet;
  readonly subresource?: string;
}

const IGNORED_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

const keyOf = (p: FieldPath): string => JSON.stringify(p);

/** The owned fields of an object: map entries recursively, lists, scalars and empty maps as leaves. */
export function fieldsOf(
  obj: JsonObject,
  options: { statusOnly?: boolean; ignoreStatus: boolean },
): FieldSet {
  const out: FieldSet = new Map();
  const walk = (v: Json, path: string[]) => {
    if (v === null) return;
    if (isObject(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
    } else {
      out.set(keyOf(path), path);
    }
  };
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (k === 'status' && options.ignoreStatus) continue;
    if (options.statusOnly && k !== 'status') continue;
    if (k === 'metadata' && isObject(v)) {
      for (const [mk, mv] of Object.entries(v)) if (!IGNORED_METADATA.has(mk)) walk(mv, ['metadata', mk]);
      continue;
    }
    walk(v, [k]);
  }
  return out;
}

export function getPath(obj: Json | undefined, path: FieldPath): Json | undefined {
  let node: Json | undefined = obj;
  for (const seg of path) {
    if (!isObject(node)) return undefined;
    node = node[seg];
  }
  return node;
}

/** Removes a field and any map left empty above it (up to, not including, the top level). */
export function deletePath(obj: JsonObject, path: FieldPath): void {
  const parents: JsonObject[] = [];
  let node: Json | undefined = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isObject(node)) return;
    parents.push(node);
    node = node[seg];
  }
  const last = path[path.length - 1];
  if (!isObject(node) || last === undefined) return;
  delete node[last];
  for (let i = parents.length - 1; i >= 1; i -= 1) {
    const parent = parents[i];
    const seg = path[i];
    if (parent === undefined || seg === undefined) break;
    const child = parent[seg];
    if (isObject(child) && Object.keys(child).length === 0) delete parent[seg];
    else break;
  }
}

/** Fields set or changed between `before` and `after` (those an Update operation comes to own). */
export function changedFields(
  before: FieldSet,
  after: FieldSet,
  oldObj: JsonObject | undefined,
  newObj: JsonObject,
): FieldSet {
  const out: FieldSet = new Map();
  for (const [k, p] of after) {
    if (!before.has(k) || !deepEqual(getPath(oldObj, p), getPath(newObj, p))) out.set(k, p);
  }
  return out;
}

// ---- FieldsV1 encoding ---------------------------------------------------------------------------------------

function toFieldsV1(fields: FieldSet): JsonObject {
  const root: JsonObject = {};
  for (const path of fields.values()) {
    let node = root;
    for (const seg of path) {
      const key = `f:${seg}`;
      const next = isObject(node[key]) ? node[key] : {};
      node[key] = next;
      node = next;
    }
  }
  return root;
}

function fromFieldsV1(v: Json | undefined): FieldSet {
  const out: FieldSet = new Map();
  const walk = (node: Json, path: string[]) => {
    if (!isObject(node)) return;
    const children = Object.keys(node).filter((k) => k.startsWith('f:'));
    if (children.length === 0 && path.length > 0) {
      out.set(keyOf(path), path);
      return;
    }
    // Entries other than `f:` (list items `k:`/`v:`/`i:` written by a real server) own the list as a whole.
    if (Object.keys(node).some((k) => /^[kvi]:/.test(k))) out.set(keyOf(path), path);
    for (const k of children) walk(node[k] as Json, [...path, k.slice(2)]);
  };
  walk(v ?? {}, []);
  return out;
}

export function readManagedFields(obj: JsonObject | undefined): ManagerEntry[] {
  const list = isObject(obj?.metadata) ? obj.metadata.managedFields : undefined;
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).map((e) => ({
    manager: str(e.manager ?? ''),
    operation: e.operation === 'Apply' ? 'Apply' : 'Update',
    apiVersion: str(e.apiVersion ?? ''),
    time: str(e.time ?? ''),
    fields: fromFieldsV1(e.fieldsV1),
    ...(typeof e.subresource === 'string' ? { subresource: e.subresource } : {}),
  }));
}

/** The order kube-apiserver keeps managedFields in: Apply entries first, then by time, then by manager. */
function compareEntries(a: ManagerEntry, b: ManagerEntry): number {
  if (a.operation !== b.operation) return a.operation === 'Apply' ? -1 : 1;
  if (a.time !== b.time) return a.time < b.time ? -1 : 1;
  return a.manager < b.manager ? -1 : a.manager > b.manager ? 1 : 0;
}

export function writeManagedFields(obj: JsonObject, entries: readonly ManagerEntry[]): void {
  const md = isObject(obj.metadata) ? obj.metadata : {};
  const list: Json[] = [...entries]
    .sort(compareEntries)
    .filter((e) => e.fields.size > 0)
    .map((e) => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      time: e.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(e.fields),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    }));
  if (list.length > 0) md.managedFields = list;
  else delete md.managedFields;
  obj.metadata = md;
}

/** `.data.key` as the API server prints a field path in apply conflicts. */
export const printPath = (p: FieldPath): string => p.map((s) => `.${s}`).join('');

/** Apply's merge: maps merge recursively, anything else in `config` replaces what is live. */
export function applyMerge(live: Json | undefined, config: Json): Json {
  if (!isObject(config) || !isObject(live)) return clone(config);
  const out = clone(live);
  for (const [k, v] of Object.entries(config)) {
    if (v === null) continue;
    out[k] = applyMerge(out[k], v);
  }
  return out;
}
