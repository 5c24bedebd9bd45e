/** Label and field selectors as kube-apiserver parses them (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`). */
import { badRequest } from './status.js';

type Requirement =
  | { readonly op: 'in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: '!exists'; readonly key: string };

export type LabelSelector = (labels: Readonly<Record<string, string>> | undefined) => boolean;

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of s) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      terms.push(current);
      current = '';
    } else current += ch;
  }
  terms.push(current);
  return terms.map((t) => t.trim());
}

function parseRequirement(term: string, selector: string): Requirement {
  const fail = () =>
    badRequest(
      `unable to parse requirement: found '${term}', expected: identifier (in selector ${JSON.stringify(selector)})`,
    );
  const checkKey = (key: string) => {
    if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}"`);
    return key;
  };
  const checkValue = (v: string) => {
    if (!VALUE.test(v)) throw badRequest(`unable to parse requirement: invalid label value: "${v}"`);
    return v;
  };
  let m = /^!\s*(\S+)$/.exec(term);
  if (m) return { op: '!exists', key: checkKey(m[1] ?? '') };
  m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term);
  if (m) {
    const key = checkKey(m[1] ?? '');
    const value = checkValue(m[3] ?? '');
    return m[2] === '!=' ? { op: 'notin', key, values: [value] } : { op: 'in', key, values: [value] };
  }
  m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) {
    const values = (m[3] ?? '').split(',').map((v) => checkValue(v.trim()));
    return { op: m[2] === 'in' ? 'in' : 'notin', key: checkKey(m[1] ?? ''), values };
  }
  if (/^\S+$/.test(term)) return { op: 'exists', key: checkKey(term) };
  throw fail();
}

export function parseLabelSelector(selector: string | null | undefined): LabelSelector {
  if (!selector || selector.trim() === '') return () => true;
  const requirements = splitTerms(selector).map((t) => parseRequirement(t, selector));
  return (labels) =>
    requirements.every((r) => {
      const has = labels !== undefined && Object.hasOwn(labels, r.key);
      const value = has ? labels[r.key] : undefined;
      switch (r.op) {
        case 'in':
          return value !== undefined && r.values.includes(value);
        case 'notin':
          return value === undefined || !r.values.includes(value);
        case 'exists':
          return has;
        case '!exists':
          return !has;
      }
    });
}

export type FieldSelector = (object: { metadata: { name: string; namespace?: string } }) => boolean;

/** Field selectors: only `metadata.name` and `metadata.namespace` with `=`, `==`, `!=` (what every type supports). */
export function parseFieldSelector(selector: string | null | undefined): FieldSelector {
  if (!selector || selector.trim() === '') return () => true;
  const tests = splitTerms(selector).map((term) => {
    const m = /^(metadata\.name|metadata\.namespace)\s*(==|!=|=)\s*(.*)$/.exec(term);
    if (!m) {
      const field = term.split(/!?=/)[0] ?? term;
      throw badRequest(`field label not supported: ${field}`);
    }
    const [, field, op, value] = m;
    return (o: { metadata: { name: string; namespace?: string } }) => {
      const actual = field === 'metadata.name' ? o.metadata.name : (o.metadata.namespace ?? '');
      return op === '!=' ? actual !== value : actual === value;
    };
  });
  return (o) => tests.every((t) => t(o));
}
