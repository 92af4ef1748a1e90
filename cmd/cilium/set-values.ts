// `--set path=value` and `--values FILE` for the cluster CLI, with Helm's meaning: the value is
// coerced by the type the values schema gives the path (integer, boolean, list `{a,b}`, an item's
// field of a list of objects `a[0].name=x`), so
// `cilium install --set operator.replicas=3` and `helm install --set operator.replicas=3` agree.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { type ValuesOverride, resolveValues, valueLeaves } from '../../cdk8s/values.js';

const LEAVES = new Map(valueLeaves().map((l) => [l.path, l.schema]));

function coerce(path: string, raw: string): unknown {
  const schema = LEAVES.get(path);
  if (!schema) throw new Error(`--set ${path}: no such value (see charts/cilium-ts/values.yaml)`);
  switch (schema.type) {
    case 'integer': {
      if (!/^-?\d+$/.test(raw)) throw new Error(`--set ${path}=${raw}: an integer is expected`);
      return Number(raw);
    }
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') throw new Error(`--set ${path}=${raw}: true or false is expected`);
      return raw === 'true';
    case 'array': {
      const inner = raw.replace(/^\{(.*)\}$/, '$1');
      return inner === '' ? [] : inner.split(',');
    }
    default:
      return raw;
  }
}

/** Builds the values override from `--values` files (in order) then `--set` items; checked against the schema. */
export function valuesFromFlags(files: readonly string[], sets: readonly string[]): ValuesOverride {
  const out: Record<string, unknown> = {};
  const put = (path: string, value: unknown) => {
    const keys = path.split('.');
    let o = out;
    for (const k of keys.slice(0, -1))
      o = (o[k] = typeof o[k] === 'object' && o[k] !== null ? o[k] : {}) as Record<string, unknown>;
    o[keys[keys.length - 1]!] = value;
  };
  const mergeFile = (src: Record<string, unknown>, prefix = '') => {
    for (const [k, v] of Object.entries(src)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) mergeFile(v as Record<string, unknown>, path);
      else put(path, v);
    }
  };
  for (const f of files) mergeFile((parse(readFileSync(f, 'utf8')) ?? {}) as Record<string, unknown>);
  for (const item of sets) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`--set ${item}: expected path=value`);
    const path = item.slice(0, eq);
    const indexed = /^([\w.]+)\[(\d+)\]\.(\w+)$/.exec(path);
    if (indexed) {
      // Helm's list-of-objects form: `--set imagePullSecrets[0].name=regcred`
      const [, list, index, field] = indexed;
      const schema = LEAVES.get(list!) as { type?: string; items?: { type?: string } } | undefined;
      if (schema?.type !== 'array' || schema.items?.type !== 'object')
        throw new Error(`--set ${path}: ${list} is not a list of objects (see charts/cilium-ts/values.yaml)`);
      const at = list!.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], out);
      const items = Array.isArray(at) ? (at as Record<string, unknown>[]) : [];
      if (Number(index) > items.length)
        throw new Error(`--set ${path}: set ${list}[${items.length}] first (no gaps in a list)`);
      items[Number(index)] = { ...items[Number(index)], [field!]: item.slice(eq + 1) };
      put(list!, items);
      continue;
    }
    put(path, coerce(path, item.slice(eq + 1)));
  }
  resolveValues(out as ValuesOverride); // throws with the schema's complaint
  return out as ValuesOverride;
}
