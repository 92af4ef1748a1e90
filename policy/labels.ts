// Labels as Cilium sees them: `source:key=value`, and label sets. The identity-relevant filter is in
// label-filter.ts; an endpoint's identity labels are built in endpoint-labels.ts.

/** Label sources upstream knows; a selector key without one matches any source (`any:`). */
export const LABEL_SOURCES = [
  'k8s',
  'reserved',
  'cidr',
  'any',
  'unspec',
  'container',
  'cilium-generated',
  'fqdn',
  'kvstore',
  'cni',
] as const;
export type LabelSource = (typeof LABEL_SOURCES)[number];

export const LABEL_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';
export const LABEL_SERVICE_ACCOUNT = 'io.cilium.k8s.policy.serviceaccount';
export const LABEL_CLUSTER = 'io.cilium.k8s.policy.cluster';
export const DEFAULT_CLUSTER_NAME = 'default';

export interface Label {
  source: string;
  key: string;
  value: string;
}

/** Splits `k8s:app` into source and key; a key without a known source gets `fallback`. */
export function splitSource(text: string, fallback: string = 'any'): { source: string; key: string } {
  const colon = text.indexOf(':');
  if (colon > 0) {
    const source = text.slice(0, colon);
    if ((LABEL_SOURCES as readonly string[]).includes(source)) return { source, key: text.slice(colon + 1) };
  }
  return { source: fallback, key: text };
}

/** Parses `source:key=value` (value optional, as reserved labels have none). */
export function parseLabel(text: string, fallbackSource: string = 'unspec'): Label {
  const { source, key: rest } = splitSource(text, fallbackSource);
  const eq = rest.indexOf('=');
  return eq < 0 ? { source, key: rest, value: '' } : { source, key: rest.slice(0, eq), value: rest.slice(eq + 1) };
}

/**
 * An immutable set of labels, indexed by `source:key` and by bare key (for `any:` selectors).
 * Identities carry one; selectors match against it.
 */
export class LabelSet {
  readonly bySourceKey: ReadonlyMap<string, string>;
  private readonly byKey: Map<string, string[]>;

  constructor(labels: Iterable<Label>) {
    const bySourceKey = new Map<string, string>();
    this.byKey = new Map();
    for (const l of labels) {
      const sk = `${l.source}:${l.key}`;
      if (bySourceKey.has(sk)) continue;
      bySourceKey.set(sk, l.value);
      const list = this.byKey.get(l.key);
      if (list) list.push(l.value);
      else this.byKey.set(l.key, [l.value]);
    }
    this.bySourceKey = bySourceKey;
  }

  /** From `{'k8s:app': 'web', 'reserved:host': ''}` (CiliumIdentity `security-labels` shape). */
  static fromRecord(record: Readonly<Record<string, string>>, fallbackSource: string = 'unspec'): LabelSet {
    return new LabelSet(
      Object.entries(record).map(([k, v]) => {
        const { source, key } = splitSource(k, fallbackSource);
        return { source, key, value: v };
      }),
    );
  }

  /** From `['k8s:app=web', 'reserved:host']`. */
  static fromStrings(list: readonly string[], fallbackSource: string = 'unspec'): LabelSet {
    return new LabelSet(list.map((s) => parseLabel(s, fallbackSource)));
  }

  /** Values of `key` for one source, or for every source when `source` is `any`. */
  values(source: string, key: string): readonly string[] {
    if (source === 'any') return this.byKey.get(key) ?? [];
    const v = this.bySourceKey.get(`${source}:${key}`);
    return v === undefined ? [] : [v];
  }

  /** The value under one exact source (not `any`), without allocating. */
  value(source: string, key: string): string | undefined {
    return this.bySourceKey.get(`${source}:${key}`);
  }

  /** Values of `key` under every source (what `any:` matches), without allocating. */
  anyValues(key: string): readonly string[] | undefined {
    return this.byKey.get(key);
  }

  has(source: string, key: string): boolean {
    return source === 'any' ? this.byKey.has(key) : this.bySourceKey.has(`${source}:${key}`);
  }

  get size(): number {
    return this.bySourceKey.size;
  }

  *[Symbol.iterator](): IterableIterator<Label> {
    for (const [sk, value] of this.bySourceKey) {
      const colon = sk.indexOf(':');
      yield { source: sk.slice(0, colon), key: sk.slice(colon + 1), value };
    }
  }

  /** Canonical text, sorted: `k8s:app=web;reserved:host` (equal sets give equal text). */
  toString(): string {
    return [...this.bySourceKey]
      .map(([sk, v]) => (v === '' ? sk : `${sk}=${v}`))
      .sort()
      .join(';');
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries([...this.bySourceKey].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
