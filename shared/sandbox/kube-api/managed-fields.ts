/**
 * Server-side-apply field ownership, stored in `metadata.managedFields` (FieldsV1) like the real API server:
 * maps are owned key by key, items of map-lists (containers, volumes, env, ports, ...) by key, other lists
 * and scalars as a whole. Enough for an apply to remove the fields its manager no longer sets, to report
 * conflicts with other managers, and to transfer ownership on `force`.
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

/**
 * Lists the Kubernetes schemas declare as maps (`x-kubernetes-list-type: map`), by field name, with their key
 * fields. Their items are owned one by one (`k:{"name":"openvpn"}`); other lists are owned as a whole.
 */
function listKeys(field: string | undefined, items: readonly Json[]): readonly string[] | undefined {
  switch (field) {
    case 'containers':
    case 'initContainers':
    case 'ephemeralContainers':
    case 'volumes':
    case 'env':
    case 'imagePullSecrets':
      return ['name'];
    case 'volumeMounts':
      return ['mountPath'];
    case 'conditions':
      return ['type'];
    case 'ports':
      return items.some((i) => isObject(i) && 'containerPort' in i)
        ? ['containerPort', 'protocol']
        : ['port', 'protocol'];
    default:
      return undefined;
  }
}

/** The key values of a list item, with `protocol` defaulted as the server does before computing it. */
function keyValues(keys: readonly string[], item: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k of [...keys].sort()) {
    const v = item[k] ?? (k === 'protocol' ? 'TCP' : undefined);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

const ITEM = 'k:';
const isItem = (seg: string | undefined): boolean => seg?.startsWith(ITEM) ?? false;
const itemSegment = (keys: readonly string[], item: JsonObject): string =>
  `${ITEM}${JSON.stringify(keyValues(keys, item))}`;

/** Associative-list view of an array: its keys when every item is an object and the field is a known map list. */
function associative(field: string | undefined, v: Json | undefined): readonly string[] | undefined {
  if (!Array.isArray(v) || v.length === 0 || !v.every(isObject)) return undefined;
  return listKeys(field, v);
}

function findItem(list: Json | undefined, seg: string): { index: number; item: JsonObject } | undefined {
  if (!Array.isArray(list)) return undefined;
  let wanted: JsonObject;
  try {
    wanted = JSON.parse(seg.slice(ITEM.length)) as JsonObject;
  } catch {
    return undefined;
  }
  const keys = Object.keys(wanted);
  const index = list.findIndex((i) => isObject(i) && deepEqual(keyValues(keys, i), wanted));
  const item = list[index];
  return index >= 0 && isObject(item) ? { index, item } : undefined;
}

/**
 * The owned fields of an object: map entries recursively; items of map-lists by key (the item itself and its
 * fields); other lists, scalars and empty maps as leaves.
 */
export function fieldsOf(
  obj: JsonObject,
  options: { statusOnly?: boolean; ignoreStatus: boolean },
): FieldSet {
  const out: FieldSet = new Map();
  const walk = (v: Json, path: string[]) => {
    if (v === null) return;
    const keys = associative(path[path.length - 1], v);
    if (keys && Array.isArray(v)) {
      for (const item of v as JsonObject[]) {
        const p = [...path, itemSegment(keys, item)];
        out.set(keyOf(p), p);
        for (const [k, x] of Object.entries(item)) walk(x, [...p, k]);
      }
    } else if (isObject(v) && Object.keys(v).length > 0) {
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
    if (isItem(seg)) node = findItem(node, seg)?.item;
    else if (isObject(node)) node = node[seg];
    else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** Whether a path names a map-list item (owned for its existence, compared through its fields). */
export const isItemPath = (p: FieldPath): boolean => isItem(p[p.length - 1]);

/** Removes a field (or a map-list item) and any map or list left empty above it, below the top level. */
export function deletePath(obj: JsonObject, path: FieldPath): void {
  const containers: Json[] = [obj];
  let node: Json | undefined = obj;
  for (const seg of path.slice(0, -1)) {
    node = isItem(seg) ? findItem(node, seg)?.item : isObject(node) ? node[seg] : undefined;
    if (node === undefined) return;
    containers.push(node);
  }
  const last = path[path.length - 1];
  if (last === undefined) return;
  const parent = containers[containers.length - 1];
  if (isItem(last)) {
    const found = findItem(parent, last);
    if (!found || !Array.isArray(parent)) return;
    parent.splice(found.index, 1);
  } else if (isObject(parent)) {
    delete parent[last];
  } else return;
  // Prune containers emptied by the removal (never the object itself or a top-level field).
  for (let i = containers.length - 1; i >= 2; i -= 1) {
    const child = containers[i];
    const holder = containers[i - 1];
    const seg = path[i - 1];
    const empty = Array.isArray(child)
      ? child.length === 0
      : isObject(child) && Object.keys(child).length === 0;
    if (!empty || seg === undefined) break;
    if (isItem(seg) && Array.isArray(holder)) {
      const found = findItem(holder, seg);
      if (found) holder.splice(found.index, 1);
    } else if (isObject(holder)) delete holder[seg];
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
    if (!before.has(k)) out.set(k, p);
    // An item's own entry changes hands only when the item is new; its fields are compared one by one.
    else if (!isItemPath(p) && !deepEqual(getPath(oldObj, p), getPath(newObj, p))) out.set(k, p);
  }
  return out;
}

// ---- FieldsV1 encoding ---------------------------------------------------------------------------------------

const encodeSegment = (seg: string): string => (isItem(seg) ? seg : `f:${seg}`);

function toFieldsV1(fields: FieldSet): JsonObject {
  const root: JsonObject = {};
  for (const path of fields.values()) {
    let node = root;
    for (const seg of path) {
      const key = encodeSegment(seg);
      const next = isObject(node[key]) ? node[key] : {};
      node[key] = next;
      node = next;
    }
    if (isItemPath(path)) node['.'] = {};
  }
  return root;
}

function fromFieldsV1(v: Json | undefined): FieldSet {
  const out: FieldSet = new Map();
  const walk = (node: Json, path: string[]) => {
    if (!isObject(node)) return;
    const keys = Object.keys(node);
    const children = keys.filter((k) => k.startsWith('f:') || k.startsWith(ITEM));
    if ((children.length === 0 || keys.includes('.')) && path.length > 0) out.set(keyOf(path), path);
    // Set items (`v:`) and positional items (`i:`), which the sandbox never writes: own the list whole.
    if (keys.some((k) => /^[vi]:/.test(k))) out.set(keyOf(path), path);
    for (const k of children) walk(node[k] as Json, [...path, k.startsWith('f:') ? k.slice(2) : k]);
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

/** `.spec.template.spec.containers[name="openvpn"].image` as the API server prints a field path. */
export const printPath = (p: FieldPath): string =>
  p
    .map((seg) => {
      if (!isItem(seg)) return `.${seg}`;
      const keys = JSON.parse(seg.slice(ITEM.length)) as JsonObject;
      return `[${Object.entries(keys)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(',')}]`;
    })
    .join('');

/**
 * Apply's merge: maps merge recursively, map-list items merge by key (new ones appended), anything else in
 * `config` replaces what is live.
 */
export function applyMerge(live: Json | undefined, config: Json, field?: string): Json {
  const keys = associative(field, config);
  if (keys && Array.isArray(config) && Array.isArray(live) && live.every(isObject)) {
    const out = clone<JsonObject[]>(live);
    for (const item of config as JsonObject[]) {
      const seg = itemSegment(keys, item);
      const found = findItem(out, seg);
      if (found) out[found.index] = applyMerge(found.item, item) as JsonObject;
      else out.push(clone(item));
    }
    return out;
  }
  if (!isObject(config) || !isObject(live)) return clone(config);
  const out = clone(live);
  for (const [k, v] of Object.entries(config)) {
    if (v === null) continue;
    out[k] = applyMerge(out[k], v, k);
  }
  return out;
}
