/**
 * The sandbox API server's object store and write semantics: resourceVersion (one cluster-wide counter),
 * uid, creationTimestamp, generation, status handling per resource, validation and defaulting, the patch
 * formats, server-side apply with field ownership, preconditions, namespace lifecycle, and the no-op rule
 * (a write that changes nothing does not bump resourceVersion), all as kube-apiserver does them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import {
  clone,
  deepEqual,
  isObject,
  jsonPatch,
  mergePatch,
  str,
  strategicMergePatch,
  type Json,
  type JsonObject,
} from './json.js';
import {
  applyMerge,
  changedFields,
  deletePath,
  fieldsOf,
  getPath,
  isItemPath,
  printPath,
  readManagedFields,
  writeManagedFields,
  type FieldPath,
  type FieldSet,
  type ManagerEntry,
} from './managed-fields.js';
import {
  apiVersionOf,
  applyDefaults,
  checkJsonTypes,
  initialStatus,
  RESOURCE_TYPES,
  validate,
  validateUpdate,
  type ResourceType,
} from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import {
  alreadyExists,
  badRequest,
  KubeStatusError,
  notFound,
  staleVersion,
  type StatusCause,
} from './status.js';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
export type PatchType = (typeof PATCH_TYPES)[keyof typeof PATCH_TYPES];

/** Who writes and how (query parameters of the request). */
export interface WriteOptions {
  readonly fieldManager: string;
  readonly dryRun: boolean;
  readonly force?: boolean;
}

/** One committed change, for the controllers. `object` is undefined when the object was removed. */
export interface WriteEvent {
  readonly rt: ResourceType;
  readonly namespace: string;
  readonly name: string;
  readonly object: JsonObject | undefined;
  readonly old: JsonObject | undefined;
}

/** What is persisted: every object plus the counters. */
export interface StoreSnapshot {
  readonly version: 1;
  readonly resourceVersion: number;
  readonly objects: readonly JsonObject[];
}

const NAMESPACES = RESOURCE_TYPES.find((r) => r.kind === 'Namespace') as ResourceType;

const md = (o: JsonObject): JsonObject => (isObject(o.metadata) ? o.metadata : {});
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

type Ownership = (entries: ManagerEntry[], old: JsonObject | undefined, next: JsonObject) => ManagerEntry[];

export class ObjectStore {
  private resourceVersion = 0;
  private readonly objects = new Map<string, JsonObject>();
  private readonly listeners: ((e: WriteEvent) => void)[] = [];

  constructor(private readonly clock: () => Date = () => new Date()) {}

  onWrite(listener: (e: WriteEvent) => void): void {
    this.listeners.push(listener);
  }

  get currentResourceVersion(): string {
    return str(this.resourceVersion);
  }

  snapshot(): StoreSnapshot {
    return { version: 1, resourceVersion: this.resourceVersion, objects: [...this.objects.values()] };
  }

  restore(s: StoreSnapshot): void {
    this.objects.clear();
    this.resourceVersion = s.resourceVersion;
    for (const o of s.objects) {
      const rt = RESOURCE_TYPES.find((r) => apiVersionOf(r) === o.apiVersion && r.kind === o.kind);
      if (!rt) continue;
      this.objects.set(this.key(rt, str(md(o).namespace ?? ''), str(md(o).name)), o);
    }
  }

  private key(rt: ResourceType, namespace: string, name: string): string {
    return `${rt.group}/${rt.plural}/${rt.namespaced ? namespace : ''}/${name}`;
  }

  /** All stored objects of a type (no copies: callers must not mutate). */
  all(rt: ResourceType, namespace?: string): JsonObject[] {
    const prefix = `${rt.group}/${rt.plural}/${rt.namespaced && namespace !== undefined ? `${namespace}/` : ''}`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
  }

  peek(rt: ResourceType, namespace: string, name: string): JsonObject | undefined {
    return this.objects.get(this.key(rt, namespace, name));
  }

  get(rt: ResourceType, namespace: string, name: string): JsonObject {
    const o = this.peek(rt, namespace, name);
    if (!o) throw notFound(rt, name);
    return clone(o);
  }

  list(
    rt: ResourceType,
    namespace: string | undefined,
    query: {
      labelSelector?: string | null;
      fieldSelector?: string | null;
      limit?: number;
      continue?: string | null;
    },
  ): JsonObject {
    const labels = parseLabelSelector(query.labelSelector);
    const fields = parseFieldSelector(query.fieldSelector);
    let items = this.all(rt, namespace).filter((o) => {
      const m = md(o);
      return (
        labels(isObject(m.labels) ? (m.labels as Record<string, string>) : undefined) &&
        fields({
          metadata: {
            name: str(m.name),
            namespace: typeof m.namespace === 'string' ? m.namespace : undefined,
          },
        })
      );
    });
    const metadata: JsonObject = { resourceVersion: this.currentResourceVersion };
    if (query.continue) {
      let after: string;
      try {
        after = str(
          (JSON.parse(Buffer.from(query.continue, 'base64url').toString('utf8')) as { after: unknown }).after,
        );
      } catch {
        throw badRequest('continue key is not valid: illegal base64 data');
      }
      items = items.filter((o) => `${str(md(o).namespace ?? '')}/${str(md(o).name)}` > after);
    }
    if (query.limit !== undefined && query.limit > 0 && items.length > query.limit) {
      const last = items[query.limit - 1] as JsonObject;
      metadata.continue = Buffer.from(
        JSON.stringify({ after: `${str(md(last).namespace ?? '')}/${str(md(last).name)}` }),
      ).toString('base64url');
      metadata.remainingItemCount = items.length - query.limit;
      items = items.slice(0, query.limit);
    }
    return {
      kind: `${rt.kind}List`,
      apiVersion: apiVersionOf(rt),
      metadata,
      items: items.map((o) => {
        const c = clone(o);
        delete c.kind;
        delete c.apiVersion;
        return c;
      }),
    };
  }

  // ---- writes -------------------------------------------------------------------------------------------

  /** POST: create. */
  create(rt: ResourceType, namespace: string, body: Json, opts: WriteOptions): JsonObject {
    const obj = this.checkBody(rt, namespace, body, undefined);
    const m = md(obj);
    if (typeof m.resourceVersion === 'string' && m.resourceVersion !== '') {
      // kube-apiserver's storage layer refuses this as an internal error (a client bug: creating a read object).
      throw new KubeStatusError(500, '', 'resourceVersion should not be set on objects to be created');
    }
    if (
      (m.name === undefined || m.name === '') &&
      typeof m.generateName === 'string' &&
      m.generateName !== ''
    ) {
      m.name = `${m.generateName}${randomBytes(4).toString('hex').slice(0, 5)}`;
    }
    if (typeof m.name === 'string' && this.peek(rt, namespace, m.name)) throw alreadyExists(rt, m.name);
    return this.commit(
      rt,
      namespace,
      undefined,
      obj,
      opts,
      updateOwnership(opts.fieldManager, apiVersionOf(rt), rt.hasStatus, undefined),
    );
  }

  /** PUT: replace, with the body's resourceVersion (when given) as precondition. */
  replace(
    rt: ResourceType,
    namespace: string,
    name: string,
    body: Json,
    opts: WriteOptions,
    subresource?: 'status',
  ): JsonObject {
    const obj = this.checkBody(rt, namespace, body, name);
    const old = this.peek(rt, namespace, name);
    if (!old) throw notFound(rt, name);
    return this.commit(
      rt,
      namespace,
      old,
      obj,
      opts,
      updateOwnership(opts.fieldManager, apiVersionOf(rt), rt.hasStatus, subresource),
      subresource,
    );
  }

  /** PATCH with any of the four patch types (apply may create). */
  patch(
    rt: ResourceType,
    namespace: string,
    name: string,
    type: PatchType,
    raw: string,
    opts: WriteOptions,
    subresource?: 'status',
  ): { object: JsonObject; created: boolean } {
    if (type === PATCH_TYPES.apply) return this.apply(rt, namespace, name, raw, opts, subresource);
    if (opts.force !== undefined) throw badRequest('force flag must be unset for non-apply patch requests');
    let body: Json;
    try {
      body = JSON.parse(raw) as Json;
    } catch (e: unknown) {
      throw badRequest(`error decoding patch: ${e instanceof Error ? e.message : str(e)}`);
    }
    const old = this.peek(rt, namespace, name);
    if (!old) throw notFound(rt, name);
    let next: Json;
    if (type === PATCH_TYPES.json) next = jsonPatch(old, body);
    else {
      if (!isObject(body))
        throw badRequest(
          'error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}',
        );
      next = type === PATCH_TYPES.merge ? mergePatch(old, body) : strategicMergePatch(old, body);
    }
    const obj = this.checkBody(rt, namespace, next, name);
    return {
      object: this.commit(
        rt,
        namespace,
        old,
        obj,
        opts,
        updateOwnership(opts.fieldManager, apiVersionOf(rt), rt.hasStatus, subresource),
        subresource,
      ),
      created: false,
    };
  }

  private apply(
    rt: ResourceType,
    namespace: string,
    name: string,
    raw: string,
    opts: WriteOptions,
    subresource?: 'status',
  ): { object: JsonObject; created: boolean } {
    if (!opts.fieldManager)
      throw new KubeStatusError(
        422,
        'Invalid',
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
        {
          group: 'meta.k8s.io',
          kind: 'PatchOptions',
          causes: [
            {
              reason: 'FieldValueRequired',
              message: 'Required value: is required for apply patch',
              field: 'fieldManager',
            },
          ],
        },
      );
    let config: unknown;
    try {
      config = parseYaml(raw);
    } catch (e: unknown) {
      throw badRequest(`error decoding YAML: ${e instanceof Error ? e.message : str(e)}`);
    }
    if (!isObject(config)) throw badRequest('error decoding YAML: the apply configuration must be an object');
    if (typeof config.apiVersion !== 'string' || typeof config.kind !== 'string') {
      throw badRequest(`error decoding YAML: Object 'Kind' is missing in '${JSON.stringify(config)}'`);
    }
    const cfg = this.checkBody(rt, namespace, config, name);
    const old = this.peek(rt, namespace, name);
    const rv = md(cfg).resourceVersion;
    if (typeof rv === 'string' && rv !== '' && (!old || rv !== md(old).resourceVersion)) {
      if (!old) throw notFound(rt, name);
      throw staleVersion(rt, name);
    }
    if (rt.hasStatus && subresource !== 'status') delete cfg.status;
    const applied = fieldsOf(cfg, {
      ignoreStatus: rt.hasStatus && subresource !== 'status',
      statusOnly: subresource === 'status',
    });
    const entries = readManagedFields(old);
    const mine = entries.find(
      (e) => e.manager === opts.fieldManager && e.operation === 'Apply' && e.subresource === subresource,
    );
    const others = entries.filter((e) => e !== mine);

    const conflicts: {
      manager: string;
      operation: string;
      apiVersion: string;
      time: string;
      path: FieldPath;
    }[] = [];
    for (const path of applied.values()) {
      const k = JSON.stringify(path);
      for (const other of others) {
        if (!other.fields.has(k)) continue;
        // A map-list item itself never conflicts: its fields do.
        if (isItemPath(path)) continue;
        if (old && deepEqual(getPath(old, path), getPath(cfg, path))) continue;
        if (opts.force) other.fields.delete(k);
        else
          conflicts.push({
            manager: other.manager,
            operation: other.operation,
            apiVersion: other.apiVersion,
            time: other.time,
            path,
          });
      }
    }
    if (conflicts.length > 0) throw applyConflict(conflicts);

    const base: JsonObject = old
      ? clone(old)
      : {
          apiVersion: apiVersionOf(rt),
          kind: rt.kind,
          metadata: { name, ...(rt.namespaced ? { namespace } : {}) },
        };
    if (mine) {
      for (const [k, path] of mine.fields) {
        if (applied.has(k)) continue;
        if (others.some((o) => o.fields.has(k))) continue;
        deletePath(base, path);
      }
    }
    const merged = applyMerge(base, cfg) as JsonObject;
    const now = rfc3339(this.clock());
    const ownership: Ownership = () => {
      const result = others.map((e) => ({ ...e, fields: new Map(e.fields) }));
      const entry: ManagerEntry = {
        manager: opts.fieldManager,
        operation: 'Apply',
        apiVersion: apiVersionOf(rt),
        time: mine?.time ?? now,
        fields: applied,
        ...(subresource ? { subresource } : {}),
      };
      if (mine && !sameFields(mine.fields, applied)) entry.time = now;
      // Keep the entry's position so an unchanged apply leaves managedFields byte-identical.
      const at = mine ? entries.indexOf(mine) : result.length;
      result.splice(at, 0, entry);
      return result;
    };
    if (!old) {
      if (typeof md(merged).name !== 'string') md(merged).name = name;
      this.checkNamespaceForCreate(rt, namespace, name);
      return { object: this.commit(rt, namespace, undefined, merged, opts, ownership), created: true };
    }
    return {
      object: this.commit(rt, namespace, old, merged, opts, ownership, subresource, now),
      created: false,
    };
  }

  /** DELETE; namespaces go to Terminating (the namespace controller finishes them). */
  delete(
    rt: ResourceType,
    namespace: string,
    name: string,
    options: Json | undefined,
    opts: WriteOptions,
  ): JsonObject {
    const old = this.peek(rt, namespace, name);
    if (!old) throw notFound(rt, name);
    const pre = isObject(options) && isObject(options.preconditions) ? options.preconditions : {};
    // The storage layer's precondition errors name the Kind, not the resource.
    const preconditionFailed = (what: string, wanted: string, actual: string) =>
      new KubeStatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${rt.kind} "${name}": the ${what} in the precondition (${wanted}) does not match the ${what} in record (${actual}). The object might have been modified`,
        { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.kind },
      );
    if (typeof pre.uid === 'string' && pre.uid !== md(old).uid) {
      throw preconditionFailed('UID', pre.uid, str(md(old).uid));
    }
    if (typeof pre.resourceVersion === 'string' && pre.resourceVersion !== md(old).resourceVersion) {
      throw preconditionFailed('ResourceVersion', pre.resourceVersion, str(md(old).resourceVersion));
    }
    if (rt.kind === 'Namespace') {
      // Deleting a namespace that is already terminating answers with the namespace, unchanged.
      if (md(old).deletionTimestamp) return clone(old);
      const next = clone(old);
      md(next).deletionTimestamp = rfc3339(this.clock());
      next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
      if (opts.dryRun) return next;
      return this.write(rt, namespace, name, next, old);
    }
    if (!opts.dryRun) this.remove(rt, namespace, name);
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.plural, uid: md(old).uid ?? '' },
    };
  }

  /** Removes an object outright (deletion, namespace finalization). */
  remove(rt: ResourceType, namespace: string, name: string): void {
    const key = this.key(rt, namespace, name);
    const old = this.objects.get(key);
    if (!old) return;
    this.resourceVersion += 1;
    this.objects.delete(key);
    this.emit({ rt, namespace, name, object: undefined, old });
  }

  /** A controller's status write (`/status` with the controller's field manager). */
  writeStatus(
    rt: ResourceType,
    namespace: string,
    name: string,
    status: JsonObject,
    manager: string,
    annotations?: Readonly<Record<string, string>>,
  ): JsonObject | undefined {
    const old = this.peek(rt, namespace, name);
    if (!old) return undefined;
    const next = clone(old);
    next.status = status;
    if (annotations)
      md(next).annotations = {
        ...(isObject(md(next).annotations) ? (md(next).annotations as JsonObject) : {}),
        ...annotations,
      };
    return this.commit(
      rt,
      namespace,
      old,
      next,
      { fieldManager: manager, dryRun: false },
      updateOwnership(manager, apiVersionOf(rt), rt.hasStatus, 'status'),
      'status',
    );
  }

  // ---- internals ------------------------------------------------------------------------------------------

  /** Type, kind, name and namespace checks every write body goes through (400s). */
  private checkBody(
    rt: ResourceType,
    namespace: string,
    body: Json,
    urlName: string | undefined,
  ): JsonObject {
    if (!isObject(body)) throw badRequest(`the object provided is unrecognized (must be of type ${rt.kind})`);
    const obj = clone(body);
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersionOf(rt)) {
      throw badRequest(
        `the API version in the data (${str(obj.apiVersion)}) does not match the expected API version (${apiVersionOf(rt)})`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw badRequest(
        `the kind in the data (${str(obj.kind)}) does not match the expected kind (${rt.kind})`,
      );
    }
    obj.apiVersion = apiVersionOf(rt);
    obj.kind = rt.kind;
    checkJsonTypes(rt, obj);
    if (obj.metadata !== undefined && !isObject(obj.metadata))
      throw badRequest('json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta');
    const m = md(obj);
    obj.metadata = m;
    if (rt.namespaced) {
      if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      m.namespace = namespace;
    } else {
      delete m.namespace;
    }
    if (urlName !== undefined) {
      if (m.name === undefined || m.name === '') m.name = urlName;
      else if (m.name !== urlName)
        throw badRequest(
          `the name of the object (${str(m.name)}) does not match the name on the URL (${urlName})`,
        );
    }
    return obj;
  }

  private checkNamespaceForCreate(rt: ResourceType, namespace: string, name: string): void {
    if (!rt.namespaced) return;
    const ns = this.peek(NAMESPACES, '', namespace);
    if (!ns) throw notFound(NAMESPACES, namespace);
    if (md(ns).deletionTimestamp) {
      throw new KubeStatusError(
        403,
        'Forbidden',
        `${rt.group ? `${rt.plural}.${rt.group}` : rt.plural} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        {
          name,
          ...(rt.group ? { group: rt.group } : {}),
          kind: rt.plural,
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: `namespace ${namespace} is being terminated`,
              field: 'metadata.namespace',
            },
          ],
        },
      );
    }
  }

  private readonly allocator = {
    clusterIp: (): string => {
      const used = new Set(
        this.all(RESOURCE_TYPES.find((r) => r.kind === 'Service') as ResourceType).map((s) =>
          isObject(s.spec) ? s.spec.clusterIP : undefined,
        ),
      );
      for (let i = 10; i < 65534; i += 1) {
        const ip = `10.0.${Math.floor(i / 256)}.${i % 256}`;
        if (i % 256 !== 0 && i % 256 !== 255 && !used.has(ip)) return ip;
      }
      throw new KubeStatusError(
        500,
        'InternalError',
        'Internal error occurred: failed to allocate a serviceIP: range is full',
      );
    },
    nodePort: (): number => {
      const used = new Set<number>();
      for (const s of this.all(RESOURCE_TYPES.find((r) => r.kind === 'Service') as ResourceType)) {
        const ports = isObject(s.spec) && Array.isArray(s.spec.ports) ? s.spec.ports : [];
        for (const p of ports) if (isObject(p) && typeof p.nodePort === 'number') used.add(p.nodePort);
      }
      for (let p = 30000; p <= 32767; p += 1)
        if (!used.has(p) && !this.pendingNodePorts.has(p)) {
          this.pendingNodePorts.add(p);
          return p;
        }
      throw new KubeStatusError(
        500,
        'InternalError',
        'Internal error occurred: failed to allocate a nodePort: range is full',
      );
    },
  };
  private readonly pendingNodePorts = new Set<number>();

  /**
   * Everything a create or update goes through: status rules, defaulting, validation, generation, field
   * ownership, preconditions and the no-op rule.
   */
  private commit(
    rt: ResourceType,
    namespace: string,
    old: JsonObject | undefined,
    input: JsonObject,
    opts: WriteOptions,
    ownership: Ownership,
    subresource?: 'status',
    now = rfc3339(this.clock()),
  ): JsonObject {
    let next = input;
    const name = str(md(next).name ?? '');
    this.pendingNodePorts.clear();
    if (!old) {
      this.checkNamespaceForCreate(rt, namespace, name);
      const m = md(next);
      delete m.resourceVersion;
      delete m.deletionTimestamp;
      delete m.managedFields;
      m.uid = randomUUID();
      m.creationTimestamp = now;
      if (rt.kind === 'Deployment') m.generation = 1;
      else delete m.generation;
      const status = initialStatus(rt);
      if (status !== undefined) next.status = status;
      else delete next.status;
      applyDefaults(rt, next, undefined, this.allocator);
      validate(rt, next);
    } else {
      const rv = md(next).resourceVersion;
      if (typeof rv === 'string' && rv !== '' && rv !== md(old).resourceVersion) throw staleVersion(rt, name);
      if (subresource === 'status') {
        // The status strategies keep spec (and a Deployment's labels) but take status and metadata such as
        // annotations: that is how the deployment controller sets `deployment.kubernetes.io/revision`.
        const status = next.status;
        const { annotations, labels } = md(next);
        next = clone(old);
        if (status !== undefined) next.status = status;
        else delete next.status;
        if (annotations !== undefined) md(next).annotations = annotations;
        else delete md(next).annotations;
        if (rt.kind !== 'Deployment') {
          if (labels !== undefined) md(next).labels = labels;
          else delete md(next).labels;
        }
      } else if (rt.hasStatus) {
        if (old.status !== undefined) next.status = clone(old.status);
        else delete next.status;
      }
      const m = md(next);
      const om = md(old);
      for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'generation'] as const) {
        if (om[f] !== undefined) m[f] = clone(om[f]);
        else delete m[f];
      }
      m.resourceVersion = om.resourceVersion ?? null;
      if (rt.kind === 'Namespace' && isObject(old.spec)) next.spec = clone(old.spec);
      applyDefaults(rt, next, old, this.allocator);
      validate(rt, next);
      validateUpdate(rt, next, old);
      if (
        rt.kind === 'Deployment' &&
        subresource !== 'status' &&
        (!deepEqual(next.spec, old.spec) || !deepEqual(m.annotations, om.annotations))
      ) {
        m.generation = (typeof om.generation === 'number' ? om.generation : 1) + 1;
      }
    }
    const entries = readManagedFields(old);
    const owned = ownership(entries, old, next);
    for (const e of owned) {
      const before = entries.find(
        (x) => x.manager === e.manager && x.operation === e.operation && x.subresource === e.subresource,
      );
      if (e.operation === 'Update' && (!before || !sameFields(before.fields, e.fields) || e.time === ''))
        e.time = now;
    }
    writeManagedFields(next, owned);
    if (old && deepEqual(stripVolatile(next), stripVolatile(old))) return clone(old);
    if (opts.dryRun) return next;
    return this.write(rt, namespace, name, next, old);
  }

  private write(
    rt: ResourceType,
    namespace: string,
    name: string,
    next: JsonObject,
    old: JsonObject | undefined,
  ): JsonObject {
    this.resourceVersion += 1;
    md(next).resourceVersion = str(this.resourceVersion);
    this.objects.set(this.key(rt, namespace, name), next);
    this.emit({ rt, namespace, name, object: next, old });
    return clone(next);
  }

  private emit(e: WriteEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const sameFields = (a: FieldSet, b: FieldSet): boolean =>
  a.size === b.size && [...a.keys()].every((k) => b.has(k));

/** The object without what changes on every write even when nothing else does. */
function stripVolatile(o: JsonObject): JsonObject {
  const c = clone(o);
  const m = md(c);
  delete m.resourceVersion;
  if (Array.isArray(m.managedFields)) for (const e of m.managedFields) if (isObject(e)) delete e.time;
  return c;
}

/** Update (non-apply) ownership: the writer takes the fields it set or changed; removed fields lose owners. */
function updateOwnership(
  manager: string,
  apiVersion: string,
  hasStatus: boolean,
  subresource: 'status' | undefined,
): Ownership {
  return (entries, old, next) => {
    const scope = {
      ignoreStatus: hasStatus && subresource !== 'status',
      statusOnly: subresource === 'status',
    };
    const before = old ? fieldsOf(old, scope) : new Map<string, FieldPath>();
    const after = fieldsOf(next, scope);
    const changed = changedFields(before, after, old, next);
    const removed = [...before.keys()].filter((k) => !after.has(k));
    const result = entries.map((e) => ({ ...e, fields: new Map(e.fields) }));
    for (const e of result) {
      if (e.subresource !== subresource && !(subresource === undefined && e.subresource === undefined))
        continue;
      for (const k of removed) e.fields.delete(k);
      if (e.manager === manager && e.operation === 'Update') continue;
      for (const k of changed.keys()) e.fields.delete(k);
    }
    if (changed.size > 0) {
      let mine = result.find(
        (e) => e.manager === manager && e.operation === 'Update' && e.subresource === subresource,
      );
      if (!mine) {
        mine = {
          manager,
          operation: 'Update',
          apiVersion,
          time: '',
          fields: new Map(),
          ...(subresource ? { subresource } : {}),
        };
        result.push(mine);
      }
      for (const [k, p] of changed) mine.fields.set(k, p);
    }
    return result;
  };
}

/** How the field manager names a conflicting manager (apply managers bare, updaters with their API version). */
function printManager(c: { manager: string; operation: string; apiVersion: string; time: string }): string {
  return c.operation === 'Update' ? `"${c.manager}" using ${c.apiVersion}` : `"${c.manager}"`;
}

function applyConflict(
  conflicts: readonly {
    manager: string;
    operation: string;
    apiVersion: string;
    time: string;
    path: FieldPath;
  }[],
): KubeStatusError {
  const causes: StatusCause[] = conflicts.map((c) => ({
    reason: 'FieldManagerConflict',
    message: `conflict with ${printManager(c)}`,
    field: printPath(c.path),
  }));
  const first = conflicts[0];
  const message =
    conflicts.length === 1 && first
      ? `Apply failed with 1 conflict: conflict with ${printManager(first)}: ${printPath(first.path)}`
      : `Apply failed with ${conflicts.length} conflicts: ${conflicts.map((c) => `conflict with ${printManager(c)}: ${printPath(c.path)}`).join('\n')}`;
  return new KubeStatusError(409, 'Conflict', message, { causes });
}
