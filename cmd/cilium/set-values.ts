// `--set path=value` and `--values FILE` for the cluster CLI, with Helm's meaning: the value is
// coerced by the type the values schema gives the path (integer, boolean, list `{a,b}`), so
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
    put(path, coerce(path, item.slice(eq + 1)));
  }
  resolveValues(out as ValuesOverride); // throws with the schema's complaint
  return out as ValuesOverride;
}
