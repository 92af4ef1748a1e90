// Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` turns a get, list
// or watch into meta.k8s.io/v1 Table rows, with the CRD's additionalPrinterColumns (or the
// built-in kind's columns), the way kube-apiserver's tableconvertor does. kubectl prints only
// NAME and AGE without it.
import { jsonPathFirst } from './jsonpath.js';
import type { PrinterColumn, ResourceInfo } from './resources.js';
import type { KubeObject } from './store.js';

/** apimachinery util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(s / 3600);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 192) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  const d = Math.floor(h / 24);
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (y < 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

function cell(obj: KubeObject, col: PrinterColumn, now: number): unknown {
  const v = col.compute ? col.compute(obj) : jsonPathFirst(obj, col.jsonPath);
  if (v === undefined || v === null) return null;
  switch (col.type) {
    case 'date': {
      const t = Date.parse(String(v));
      return Number.isNaN(t) ? '<invalid>' : humanDuration(now - t);
    }
    case 'integer':
      return typeof v === 'number' ? Math.trunc(v) : Number.isNaN(Number(v)) ? null : Math.trunc(Number(v));
    case 'number':
      return typeof v === 'number' ? v : Number.isNaN(Number(v)) ? null : Number(v);
    case 'boolean':
      // a built-in printer's cell is its text ("False"), as kube-apiserver's printers write it
      if (col.compute && typeof v === 'string') return v;
      return typeof v === 'boolean' ? v : String(v) === 'true';
    case 'string':
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
    default:
      return null;
  }
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface TableOptions {
  includeObject: IncludeObject;
  /** Watch events after the first carry no columnDefinitions. */
  withColumns: boolean;
}

export function columnDefinitions(r: ResourceInfo): unknown[] {
  return [
    {
      name: 'Name',
      type: 'string',
      format: 'name',
      description:
        'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names',
      priority: 0,
    },
    ...r.columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.description ?? '',
      priority: c.priority ?? 0,
    })),
  ];
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function tableRows(r: ResourceInfo, objs: KubeObject[], include: IncludeObject): unknown[] {
  const now = Date.now();
  return objs.map((o) => {
    const row: Record<string, unknown> = { cells: [o.metadata.name ?? '', ...r.columns.map((c) => cell(o, c, now))] };
    const ro = rowObject(o, include);
    if (ro !== undefined) row.object = ro;
    return row;
  });
}

export function toTable(
  r: ResourceInfo,
  objs: KubeObject[],
  listMeta: Record<string, unknown>,
  o: TableOptions,
): Record<string, unknown> {
  const t: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMeta };
  if (o.withColumns) t.columnDefinitions = columnDefinitions(r);
  t.rows = tableRows(r, objs, o.includeObject);
  return t;
}

/** Whether the Accept header asks for a Table (kubectl lists Table first, JSON as fallback). */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  const first = accept.split(',')[0] ?? '';
  return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first);
}
