/**
 * The resource types the sandbox API server serves, their discovery documents, and the validation and
 * defaulting kube-apiserver applies to them (the subset our manifests exercise, with the real messages).
 */
import { isIP } from 'node:net';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, Pod, Secret, Service } from 'kubernetes-models/v1';
import { isObject, str, type Json, type JsonObject } from './json.js';
import { badRequest, invalid, type FieldError } from './status.js';

export interface ResourceType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** `status` is owned by controllers: reset on create, kept on main-resource updates. */
  readonly hasStatus: boolean;
  /** Served for reads only (the sandbox's controllers write them). */
  readonly readOnly: boolean;
}

export const apiVersionOf = (rt: ResourceType): string =>
  rt.group ? `${rt.group}/${rt.version}` : rt.version;

export const RESOURCE_TYPES: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    plural: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    hasStatus: true,
    readOnly: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'configmaps',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
    hasStatus: false,
    readOnly: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'secrets',
    kind: 'Secret',
    namespaced: true,
    shortNames: [],
    hasStatus: false,
    readOnly: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'services',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    hasStatus: true,
    readOnly: false,
  },
  {
    group: '',
    version: 'v1',
    plural: 'pods',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    hasStatus: true,
    readOnly: true,
  },
  {
    group: 'apps',
    version: 'v1',
    plural: 'deployments',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    hasStatus: true,
    readOnly: false,
  },
];

export function findResourceType(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceTypeOfKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

const WRITE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** `GET /api/v1`, `GET /apis/apps/v1`. */
export function apiResourceList(group: string, version: string): JsonObject | undefined {
  const types = RESOURCE_TYPES.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const resources: Json[] = [];
  for (const r of types) {
    resources.push({
      name: r.plural,
      singularName: '',
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.readOnly ? ['get', 'list', 'watch'] : WRITE_VERBS,
      ...(r.shortNames.length ? { shortNames: [...r.shortNames] } : {}),
    });
    if (r.hasStatus && !r.readOnly) {
      resources.push({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources,
  };
}

export function apiGroup(name: string): JsonObject | undefined {
  const versions = [...new Set(RESOURCE_TYPES.filter((r) => r.group === name).map((r) => r.version))];
  if (!name || versions.length === 0) return undefined;
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: list, preferredVersion: list[0] ?? null };
}

export function apiGroupList(): JsonObject {
  const names = [...new Set(RESOURCE_TYPES.map((r) => r.group).filter(Boolean))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: names.map((n) => {
      const g = apiGroup(n) as JsonObject;
      delete g.kind;
      delete g.apiVersion;
      return g;
    }),
  };
}

// ---- decoding ----------------------------------------------------------------------------------------------

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Namespace,
  ConfigMap,
  Secret,
  Service,
  Pod,
  Deployment,
};

const GO_TYPES: Record<string, string> = {
  integer: 'int32',
  number: 'float64',
  string: 'string',
  boolean: 'bool',
  object: 'map[string]interface {}',
  array: '[]interface {}',
};

const jsonTypeName = (v: unknown): string =>
  Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v;

/**
 * What kube-apiserver's JSON decoding refuses before anything else: a field of the wrong JSON type
 * (`"port": "443"`) is a 400 BadRequest, not a validation error. Types come from the OpenAPI schemas
 * that `kubernetes-models` compiles.
 */
export function checkJsonTypes(rt: ResourceType, obj: JsonObject): void {
  const Model = MODELS[rt.kind];
  if (!Model) return;
  try {
    new Model(obj as never).validate();
  } catch (e: unknown) {
    const errors =
      (e as { errors?: { instancePath?: string; keyword?: string; params?: { type?: string } }[] }).errors ??
      [];
    const wrong = errors.find((x) => x.keyword === 'type');
    if (!wrong) return;
    const segments = (wrong.instancePath ?? '').split('/').filter(Boolean);
    let value: unknown = obj;
    for (const s of segments)
      value = isObject(value) || Array.isArray(value) ? (value as Record<string, unknown>)[s] : undefined;
    const field = segments.filter((s) => !/^\d+$/.test(s)).join('.');
    const goType = GO_TYPES[wrong.params?.type ?? ''] ?? wrong.params?.type ?? 'unknown';
    throw badRequest(
      `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: json: cannot unmarshal ${jsonTypeName(value)} into Go struct field ${rt.kind}.${field} of type ${goType}`,
    );
  }
}

// ---- validation -------------------------------------------------------------------------------------------

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const MSG_SUBDOMAIN =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const MSG_LABEL =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MSG_DNS1035 =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const MSG_CONFIG_KEY =
  "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/** ConfigMap and Secret payload limit (`MaxSecretSize`, the same for ConfigMaps). */
export const MAX_DATA_BYTES = 1024 * 1024;

type NameRule = 'subdomain' | 'label' | 'dns1035';
const NAME_RULES: Record<string, NameRule> = {
  Namespace: 'label',
  ConfigMap: 'subdomain',
  Secret: 'subdomain',
  Service: 'dns1035',
  Pod: 'subdomain',
  Deployment: 'subdomain',
};

function checkName(name: unknown, rule: NameRule, field: string, errors: FieldError[]): void {
  if (typeof name !== 'string' || name === '') {
    errors.push({ type: 'FieldValueRequired', field, detail: 'name or generateName is required' });
    return;
  }
  const [re, msg, max] =
    rule === 'subdomain'
      ? [DNS1123_SUBDOMAIN, MSG_SUBDOMAIN, 253]
      : rule === 'label'
        ? [DNS1123_LABEL, MSG_LABEL, 63]
        : [DNS1035_LABEL, MSG_DNS1035, 63];
  if (name.length > max)
    errors.push({
      type: 'FieldValueInvalid',
      field,
      value: name,
      detail: `must be no more than ${max} characters`,
    });
  else if (!re.test(name)) errors.push({ type: 'FieldValueInvalid', field, value: name, detail: msg });
}

function checkLabels(labels: Json | undefined, field: string, errors: FieldError[], values: boolean): void {
  if (labels === undefined || labels === null) return;
  if (!isObject(labels))
    throw badRequest(`json: cannot unmarshal into Go struct field ${field} of type map[string]string`);
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string')
      throw badRequest(`json: cannot unmarshal ${typeof v} into Go struct field ${field} of type string`);
    const name = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!QUALIFIED_NAME.test(k) || name.length > 63 || k.length > 316) {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: k,
        detail:
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      });
    }
    if (values && (!LABEL_VALUE.test(v) || v.length > 63)) {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value: v,
        detail:
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      });
    }
  }
  if (!values) {
    const size = Object.entries(labels).reduce((n, [k, v]) => n + k.length + str(v).length, 0);
    if (size > 256 * 1024)
      errors.push({ type: 'FieldValueTooLong', field, detail: 'must have at most 262144 bytes' });
  }
}

const objectAt = (o: Json | undefined): JsonObject => (isObject(o) ? o : {});

function validateConfigMap(obj: JsonObject, errors: FieldError[]): void {
  let size = 0;
  for (const field of ['data', 'binaryData'] as const) {
    const data = obj[field];
    if (data === undefined || data === null) continue;
    if (!isObject(data))
      throw badRequest(
        `json: cannot unmarshal into Go struct field ConfigMap.${field} of type map[string]string`,
      );
    for (const [k, v] of Object.entries(data)) {
      if (typeof v !== 'string')
        throw badRequest(
          `json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into Go struct field ConfigMap.${field} of type string`,
        );
      if (!CONFIG_KEY.test(k) || k.length > 253)
        errors.push({ type: 'FieldValueInvalid', field: `${field}[${k}]`, value: k, detail: MSG_CONFIG_KEY });
      if (field === 'binaryData' && isObject(obj.data) && Object.hasOwn(obj.data, k)) {
        errors.push({
          type: 'FieldValueInvalid',
          field: `${field}[${k}]`,
          value: k,
          detail: 'duplicate of key present in data',
        });
      }
      size += k.length + (field === 'binaryData' ? Buffer.from(v, 'base64').length : Buffer.byteLength(v));
    }
  }
  if (size > MAX_DATA_BYTES)
    errors.push({
      type: 'FieldValueTooLong',
      field: '[]',
      detail: `must have at most ${MAX_DATA_BYTES} bytes`,
    });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Secret writes: `stringData` folds into `data` (base64); `type` defaults to Opaque. */
function normaliseSecret(obj: JsonObject, errors: FieldError[]): void {
  const data: JsonObject = isObject(obj.data) ? obj.data : {};
  for (const v of Object.values(data)) {
    if (typeof v !== 'string' || !BASE64.test(v) || v.length % 4 !== 0) {
      throw badRequest(
        `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0`,
      );
    }
  }
  if (obj.stringData !== undefined && obj.stringData !== null) {
    if (!isObject(obj.stringData))
      throw badRequest(
        'json: cannot unmarshal into Go struct field Secret.stringData of type map[string]string',
      );
    for (const [k, v] of Object.entries(obj.stringData)) {
      if (typeof v !== 'string')
        throw badRequest('json: cannot unmarshal into Go struct field Secret.stringData of type string');
      data[k] = Buffer.from(v, 'utf8').toString('base64');
    }
    delete obj.stringData;
  }
  if (Object.keys(data).length > 0 || obj.data !== undefined) obj.data = data;
  obj.type ??= 'Opaque';
  let size = 0;
  for (const [k, v] of Object.entries(data)) {
    if (!CONFIG_KEY.test(k) || k.length > 253)
      errors.push({ type: 'FieldValueInvalid', field: `data[${k}]`, value: k, detail: MSG_CONFIG_KEY });
    size += Buffer.from(str(v), 'base64').length;
  }
  if (size > MAX_DATA_BYTES)
    errors.push({
      type: 'FieldValueTooLong',
      field: 'data',
      detail: `must have at most ${MAX_DATA_BYTES} bytes`,
    });
}

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];

function validateServiceSpec(spec: JsonObject, errors: FieldError[]): void {
  const type = typeof spec.type === 'string' ? spec.type : 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) {
    errors.push({
      type: 'FieldValueNotSupported',
      field: 'spec.type',
      value: type,
      detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    });
  }
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  if (ports.length === 0 && type !== 'ExternalName' && spec.clusterIP !== 'None') {
    errors.push({ type: 'FieldValueRequired', field: 'spec.ports', detail: '' });
  }
  const seen = new Set<string>();
  ports.forEach((raw, i) => {
    const p = objectAt(raw);
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && (typeof p.name !== 'string' || p.name === ''))
      errors.push({ type: 'FieldValueRequired', field: `${at}.name`, detail: '' });
    if (typeof p.name === 'string' && p.name !== '' && !DNS1123_LABEL.test(p.name)) {
      errors.push({ type: 'FieldValueInvalid', field: `${at}.name`, value: p.name, detail: MSG_LABEL });
    }
    if (typeof p.port !== 'number' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      errors.push({
        type: 'FieldValueInvalid',
        field: `${at}.port`,
        value: p.port ?? 0,
        detail: 'must be between 1 and 65535, inclusive',
      });
    }
    const protocol = typeof p.protocol === 'string' ? p.protocol : 'TCP';
    if (!PROTOCOLS.includes(protocol))
      errors.push({
        type: 'FieldValueNotSupported',
        field: `${at}.protocol`,
        value: protocol,
        detail: 'supported values: "SCTP", "TCP", "UDP"',
      });
    const key = `${str(p.port)}/${protocol}`;
    if (seen.has(key)) errors.push({ type: 'FieldValueDuplicate', field: at, value: raw, detail: '' });
    seen.add(key);
    if (
      p.targetPort !== undefined &&
      typeof p.targetPort === 'number' &&
      (p.targetPort < 1 || p.targetPort > 65535)
    ) {
      errors.push({
        type: 'FieldValueInvalid',
        field: `${at}.targetPort`,
        value: p.targetPort,
        detail: 'must be between 1 and 65535, inclusive',
      });
    }
  });
  checkLabels(spec.selector, 'spec.selector', errors, true);
  const ranges = Array.isArray(spec.loadBalancerSourceRanges) ? spec.loadBalancerSourceRanges : [];
  if (ranges.length > 0) {
    // kube-apiserver reports the whole list under this (capitalised) path, printed as Go's %v.
    const field = 'spec.LoadBalancerSourceRanges';
    const value = `[${ranges.map((r) => str(r)).join(' ')}]`;
    if (type !== 'LoadBalancer') {
      errors.push({
        type: 'FieldValueForbidden',
        field,
        detail: "may only be used when `type` is 'LoadBalancer'",
      });
    }
    const bad = ranges.some((r) => {
      const [ip, bits, extra] = typeof r === 'string' ? r.trim().split('/') : [];
      const max = isIP(ip ?? '') === 6 ? 128 : 32;
      return (
        !ip ||
        !isIP(ip) ||
        bits === undefined ||
        extra !== undefined ||
        !/^\d+$/.test(bits) ||
        Number(bits) > max
      );
    });
    if (bad) {
      errors.push({
        type: 'FieldValueInvalid',
        field,
        value,
        detail: 'must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ',
      });
    }
  }
}

function validatePodSpec(spec: JsonObject, at: string, errors: FieldError[]): void {
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  if (containers.length === 0)
    errors.push({ type: 'FieldValueRequired', field: `${at}.containers`, detail: '' });
  const names = new Set<string>();
  for (const list of ['initContainers', 'containers'] as const) {
    const items = Array.isArray(spec[list]) ? spec[list] : [];
    items.forEach((raw, i) => {
      const c = objectAt(raw);
      const cat = `${at}.${list}[${i}]`;
      if (typeof c.name !== 'string' || c.name === '')
        errors.push({ type: 'FieldValueRequired', field: `${cat}.name`, detail: '' });
      else if (!DNS1123_LABEL.test(c.name))
        errors.push({ type: 'FieldValueInvalid', field: `${cat}.name`, value: c.name, detail: MSG_LABEL });
      else if (names.has(c.name))
        errors.push({ type: 'FieldValueDuplicate', field: `${cat}.name`, value: c.name, detail: '' });
      if (typeof c.name === 'string') names.add(c.name);
      if (typeof c.image !== 'string' || c.image.trim() === '')
        errors.push({ type: 'FieldValueRequired', field: `${cat}.image`, detail: '' });
      const ports = Array.isArray(c.ports) ? c.ports : [];
      ports.forEach((rp, j) => {
        const p = objectAt(rp);
        if (typeof p.containerPort !== 'number' || p.containerPort < 1 || p.containerPort > 65535) {
          errors.push({
            type: 'FieldValueInvalid',
            field: `${cat}.ports[${j}].containerPort`,
            value: p.containerPort ?? 0,
            detail: 'must be between 1 and 65535, inclusive',
          });
        }
      });
    });
  }
  const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
  const volumeNames = new Set<string>();
  volumes.forEach((raw, i) => {
    const v = objectAt(raw);
    if (typeof v.name !== 'string' || v.name === '')
      errors.push({ type: 'FieldValueRequired', field: `${at}.volumes[${i}].name`, detail: '' });
    else volumeNames.add(v.name);
  });
  for (const list of ['initContainers', 'containers'] as const) {
    const items = Array.isArray(spec[list]) ? spec[list] : [];
    items.forEach((raw, i) => {
      const mounts = Array.isArray(objectAt(raw).volumeMounts) ? (objectAt(raw).volumeMounts as Json[]) : [];
      mounts.forEach((rm, j) => {
        const m = objectAt(rm);
        const mat = `${at}.${list}[${i}].volumeMounts[${j}]`;
        if (typeof m.name !== 'string' || !volumeNames.has(m.name))
          errors.push({ type: 'FieldValueNotFound', field: `${mat}.name`, value: m.name ?? '', detail: '' });
        if (typeof m.mountPath !== 'string' || m.mountPath === '')
          errors.push({ type: 'FieldValueRequired', field: `${mat}.mountPath`, detail: '' });
      });
    });
  }
  if (spec.restartPolicy !== undefined && spec.restartPolicy !== 'Always') {
    errors.push({
      type: 'FieldValueNotSupported',
      field: `${at}.restartPolicy`,
      value: spec.restartPolicy,
      detail: 'supported values: "Always"',
    });
  }
}

function validateDeploymentSpec(spec: JsonObject, errors: FieldError[]): void {
  if (typeof spec.replicas === 'number' && spec.replicas < 0) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.replicas',
      value: spec.replicas,
      detail: 'must be greater than or equal to 0',
    });
  }
  const selector = spec.selector;
  const template = objectAt(spec.template);
  const templateLabels = objectAt(objectAt(template.metadata).labels);
  if (!isObject(selector)) {
    errors.push({ type: 'FieldValueRequired', field: 'spec.selector', detail: '' });
  } else {
    const matchLabels = objectAt(selector.matchLabels);
    const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
    if (Object.keys(matchLabels).length === 0 && expressions.length === 0) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'spec.selector',
        value: selector,
        detail: 'empty selector is invalid for deployment',
      });
    } else if (!Object.entries(matchLabels).every(([k, v]) => templateLabels[k] === v)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'spec.template.metadata.labels',
        value: templateLabels,
        detail: '`selector` does not match template `labels`',
      });
    }
    checkLabels(selector.matchLabels, 'spec.selector.matchLabels', errors, true);
  }
  checkLabels(objectAt(template.metadata).labels, 'spec.template.metadata.labels', errors, true);
  checkLabels(objectAt(template.metadata).annotations, 'spec.template.metadata.annotations', errors, false);
  if (!isObject(template.spec))
    errors.push({ type: 'FieldValueRequired', field: 'spec.template.spec.containers', detail: '' });
  else validatePodSpec(template.spec, 'spec.template.spec', errors);
  const strategy = objectAt(spec.strategy);
  const type = strategy.type ?? 'RollingUpdate';
  if (type !== 'RollingUpdate' && type !== 'Recreate') {
    errors.push({
      type: 'FieldValueNotSupported',
      field: 'spec.strategy.type',
      value: type,
      detail: 'supported values: "Recreate", "RollingUpdate"',
    });
  }
  if (type === 'Recreate' && strategy.rollingUpdate !== undefined && strategy.rollingUpdate !== null) {
    errors.push({
      type: 'FieldValueForbidden',
      field: 'spec.strategy.rollingUpdate',
      detail: "may not be specified when strategy `type` is 'Recreate'",
    });
  }
  if (type === 'RollingUpdate' && isObject(strategy.rollingUpdate)) {
    const { maxSurge, maxUnavailable } = strategy.rollingUpdate;
    const zero = (v: Json | undefined) => v === 0 || v === '0%';
    if (zero(maxSurge) && zero(maxUnavailable)) {
      errors.push({
        type: 'FieldValueInvalid',
        field: 'spec.strategy.rollingUpdate.maxUnavailable',
        value: maxUnavailable ?? 0,
        detail: 'may not be 0 when `maxSurge` is 0',
      });
    }
  }
  const deadline = spec.progressDeadlineSeconds;
  if (
    typeof deadline === 'number' &&
    typeof spec.minReadySeconds === 'number' &&
    deadline <= spec.minReadySeconds
  ) {
    errors.push({
      type: 'FieldValueInvalid',
      field: 'spec.progressDeadlineSeconds',
      value: deadline,
      detail: 'must be greater than minReadySeconds',
    });
  }
}

/**
 * Validates an object about to be stored and normalises what the API server normalises (Secret
 * `stringData`). Throws 422 Invalid listing every problem, or 400 for values of the wrong JSON type.
 */
export function validate(rt: ResourceType, obj: JsonObject): void {
  const errors: FieldError[] = [];
  const metadata = objectAt(obj.metadata);
  checkName(metadata.name, NAME_RULES[rt.kind] ?? 'subdomain', 'metadata.name', errors);
  checkLabels(metadata.labels, 'metadata.labels', errors, true);
  checkLabels(metadata.annotations, 'metadata.annotations', errors, false);
  switch (rt.kind) {
    case 'ConfigMap':
      validateConfigMap(obj, errors);
      break;
    case 'Secret':
      normaliseSecret(obj, errors);
      break;
    case 'Service':
      validateServiceSpec(objectAt(obj.spec), errors);
      break;
    case 'Deployment':
      validateDeploymentSpec(objectAt(obj.spec), errors);
      break;
  }
  if (errors.length > 0)
    throw invalid(rt.kind, rt.group, typeof metadata.name === 'string' ? metadata.name : '', errors);
}

/** Field changes the API server refuses on update (422 "field is immutable"). */
export function validateUpdate(rt: ResourceType, next: JsonObject, old: JsonObject): void {
  const errors: FieldError[] = [];
  const immutable = (field: string, a: Json | undefined, b: Json | undefined) => {
    if (JSON.stringify(a) !== JSON.stringify(b))
      errors.push({ type: 'FieldValueInvalid', field, value: a ?? null, detail: 'field is immutable' });
  };
  if (rt.kind === 'Deployment')
    immutable('spec.selector', objectAt(next.spec).selector, objectAt(old.spec).selector);
  if (rt.kind === 'Secret') immutable('type', next.type, old.type);
  if ((rt.kind === 'Secret' || rt.kind === 'ConfigMap') && old.immutable === true) {
    if (next.immutable !== true)
      errors.push({
        type: 'FieldValueForbidden',
        field: 'immutable',
        detail: 'field is immutable when `immutable` is set',
      });
    if (
      JSON.stringify(next.data) !== JSON.stringify(old.data) ||
      JSON.stringify(next.binaryData) !== JSON.stringify(old.binaryData)
    ) {
      errors.push({
        type: 'FieldValueForbidden',
        field: 'data',
        detail: 'field is immutable when `immutable` is set',
      });
    }
  }
  if (errors.length > 0) throw invalid(rt.kind, rt.group, str(objectAt(next.metadata).name ?? ''), errors);
}

// ---- defaulting ---------------------------------------------------------------------------------------------

function defaultProbe(p: Json | undefined): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (isObject(p.httpGet)) p.httpGet.scheme ??= 'HTTP';
}

function defaultContainer(c: Json): void {
  if (!isObject(c)) return;
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const tag = /:([^:/@]+)$/.exec(c.image)?.[1];
    c.imagePullPolicy =
      !c.image.includes('@') && (tag === undefined || tag === 'latest') ? 'Always' : 'IfNotPresent';
  }
  c.resources ??= {};
  if (Array.isArray(c.ports)) for (const p of c.ports) if (isObject(p)) p.protocol ??= 'TCP';
  if (Array.isArray(c.env))
    for (const e of c.env)
      if (isObject(e) && isObject(e.valueFrom) && isObject(e.valueFrom.fieldRef))
        e.valueFrom.fieldRef.apiVersion ??= 'v1';
  defaultProbe(c.readinessProbe);
  defaultProbe(c.livenessProbe);
  defaultProbe(c.startupProbe);
}

function defaultPodSpec(spec: JsonObject): void {
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const list of ['initContainers', 'containers'] as const) {
    const items = spec[list];
    if (Array.isArray(items)) items.forEach(defaultContainer);
  }
  if (Array.isArray(spec.volumes)) {
    for (const v of spec.volumes) {
      if (!isObject(v)) continue;
      if (isObject(v.configMap)) v.configMap.defaultMode ??= 420;
      if (isObject(v.secret)) v.secret.defaultMode ??= 420;
    }
  }
}

/** Allocators the Service defaulting needs (cluster IPs and node ports are assigned by the server). */
export interface ServiceAllocator {
  clusterIp(): string;
  nodePort(): number;
}

/** Applies the API server's defaults; `old` carries server-assigned fields across updates. */
export function applyDefaults(
  rt: ResourceType,
  obj: JsonObject,
  old: JsonObject | undefined,
  alloc: ServiceAllocator,
): void {
  switch (rt.kind) {
    case 'Namespace': {
      const md = objectAt(obj.metadata);
      md.labels = { ...objectAt(md.labels), 'kubernetes.io/metadata.name': str(md.name) };
      obj.metadata = md;
      const spec = objectAt(obj.spec);
      spec.finalizers ??= ['kubernetes'];
      obj.spec = spec;
      break;
    }
    case 'Deployment': {
      const spec = objectAt(obj.spec);
      spec.replicas ??= 1;
      const strategy = objectAt(spec.strategy);
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const ru = objectAt(strategy.rollingUpdate);
        ru.maxUnavailable ??= '25%';
        ru.maxSurge ??= '25%';
        strategy.rollingUpdate = ru;
      }
      spec.strategy = strategy;
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
      const template = objectAt(spec.template);
      const tmd = objectAt(template.metadata);
      tmd.creationTimestamp ??= null;
      template.metadata = tmd;
      if (isObject(template.spec)) defaultPodSpec(template.spec);
      spec.template = template;
      obj.spec = spec;
      break;
    }
    case 'Service': {
      const spec = objectAt(obj.spec);
      const oldSpec = objectAt(old?.spec);
      spec.type ??= 'ClusterIP';
      spec.sessionAffinity ??= 'None';
      if (spec.type !== 'ExternalName') {
        if (spec.clusterIP === undefined || spec.clusterIP === '')
          spec.clusterIP =
            typeof oldSpec.clusterIP === 'string' && oldSpec.clusterIP !== ''
              ? oldSpec.clusterIP
              : alloc.clusterIp();
        spec.clusterIPs ??= [spec.clusterIP];
        spec.ipFamilies ??= ['IPv4'];
        spec.ipFamilyPolicy ??= 'SingleStack';
      }
      const oldPorts = Array.isArray(oldSpec.ports) ? oldSpec.ports.filter(isObject) : [];
      const needsNodePort = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
      if (Array.isArray(spec.ports)) {
        for (const p of spec.ports) {
          if (!isObject(p)) continue;
          p.protocol ??= 'TCP';
          p.targetPort ??= p.port ?? null;
          if (needsNodePort && p.nodePort === undefined) {
            const prior = oldPorts.find(
              (o) =>
                o.port === p.port && (o.protocol ?? 'TCP') === p.protocol && typeof o.nodePort === 'number',
            );
            p.nodePort = typeof prior?.nodePort === 'number' ? prior.nodePort : alloc.nodePort();
          }
          if (!needsNodePort) delete p.nodePort;
        }
      }
      if (needsNodePort) spec.externalTrafficPolicy ??= 'Cluster';
      if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
      if (spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') {
        spec.healthCheckNodePort ??=
          typeof oldSpec.healthCheckNodePort === 'number' ? oldSpec.healthCheckNodePort : alloc.nodePort();
      }
      spec.internalTrafficPolicy ??= 'Cluster';
      obj.spec = spec;
      break;
    }
  }
}

/** The `status` an object starts with on create. */
export function initialStatus(rt: ResourceType): Json | undefined {
  switch (rt.kind) {
    case 'Namespace':
      return { phase: 'Active' };
    case 'Service':
      return { loadBalancer: {} };
    case 'Deployment':
      return {};
    default:
      return undefined;
  }
}
