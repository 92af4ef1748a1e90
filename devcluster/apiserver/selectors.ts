// Label and field selectors, in the syntax of apimachinery's labels.Parse and fields.Parse.
import { badRequest } from './errors.js';
import type { KubeObject } from './store.js';

type Req =
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | '!'; key: string }
  | { op: '=' | '!='; key: string; values: [string] }
  | { op: 'gt' | 'lt'; key: string; values: [string] };

export type LabelSelector = Req[];

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

export function parseLabelSelector(s: string | null | undefined): LabelSelector {
  if (!s) return [];
  const reqs: Req[] = [];
  for (const part of splitTop(s)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      reqs.push({
        op: m[2] as 'in' | 'notin',
        key: m[1] ?? '',
        values: (m[3] ?? '')
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      });
    } else if ((m = part.match(/^!\s*([^\s!=<>(),]+)$/))) {
      reqs.push({ op: '!', key: m[1] ?? '' });
    } else if ((m = part.match(/^([^\s!=<>(),]+)\s*(==|=|!=)\s*([^\s!=<>(),]*)$/))) {
      reqs.push({ op: m[2] === '!=' ? '!=' : '=', key: m[1] ?? '', values: [m[3] ?? ''] });
    } else if ((m = part.match(/^([^\s!=<>(),]+)\s*(>|<)\s*(-?\d+)$/))) {
      reqs.push({ op: m[2] === '>' ? 'gt' : 'lt', key: m[1] ?? '', values: [m[3] ?? ''] });
    } else if ((m = part.match(/^([^\s!=<>(),]+)$/))) {
      reqs.push({ op: 'exists', key: m[1] ?? '' });
    } else {
      throw badRequest(`unable to parse requirement: found '${part}', expected: a valid label selector`);
    }
  }
  return reqs;
}

export function matchLabels(sel: LabelSelector, labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case '=':
        if (!has || v !== r.values[0]) return false;
        break;
      case '!=':
        if (has && v === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v ?? '')) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v ?? '')) return false;
        break;
      case 'gt':
        if (!has || !(Number(v) > Number(r.values[0]))) return false;
        break;
      case 'lt':
        if (!has || !(Number(v) < Number(r.values[0]))) return false;
        break;
    }
  }
  return true;
}

export interface FieldReq {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Fields every kind supports, plus the per-kind extras kube-apiserver registers. */
const EXTRA_FIELDS: Record<string, string[]> = {
  pods: [
    'spec.nodeName',
    'status.phase',
    'spec.serviceAccountName',
    'status.podIP',
    'spec.restartPolicy',
    'spec.schedulerName',
  ],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
  secrets: ['type'],
  namespaces: ['status.phase'],
  nodes: ['spec.unschedulable'],
};

export function parseFieldSelector(s: string | null | undefined, resource: string, kind: string): FieldReq[] {
  if (!s) return [];
  const reqs: FieldReq[] = [];
  const allowed = ['metadata.name', 'metadata.namespace', ...(EXTRA_FIELDS[resource] ?? [])];
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = part.match(/^([^!=]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid selector: '${s}'; can't understand '${part}'`);
    const field = (m[1] ?? '').trim();
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field}`, [
        {
          reason: 'FieldValueInvalid',
          message: `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`,
          field: 'fieldSelector',
        },
      ]);
    }
    void kind;
    reqs.push({ field, op: m[2] === '!=' ? '!=' : '=', value: (m[3] ?? '').trim() });
  }
  return reqs;
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export function matchFields(reqs: FieldReq[], obj: KubeObject): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/** Every path a field selector may name, of any resource (metadata.name and .namespace included). */
const SELECTABLE_PATHS = [
  ...new Set(['metadata.name', 'metadata.namespace', ...Object.values(EXTRA_FIELDS).flat()]),
].map((f) => f.split('.'));

/**
 * What `matches` reads of `obj`, and nothing else: its labels and the selectable fields it has. The
 * watch cache keeps this beside an object's JSON text instead of the whole decoded object.
 */
export function selectable(obj: KubeObject): KubeObject {
  const out: KubeObject = { metadata: {} };
  if (obj.metadata.labels) out.metadata.labels = obj.metadata.labels;
  for (const path of SELECTABLE_PATHS) {
    let cur: unknown = obj;
    for (const p of path)
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
    if (cur === undefined) continue;
    let into = out as Record<string, unknown>;
    for (let i = 0; i < path.length - 1; i++) {
      const p = path[i] as string;
      into = (into[p] ??= {}) as Record<string, unknown>;
    }
    into[path[path.length - 1] as string] = cur;
  }
  return out;
}

/** A compiled selector pair. */
export interface Selector {
  labels: LabelSelector;
  fields: FieldReq[];
}

export function matches(sel: Selector, obj: KubeObject): boolean {
  return matchLabels(sel.labels, obj.metadata.labels) && matchFields(sel.fields, obj);
}
