// The page's filters and their place in the URL: the same keys as `hubble observe`'s flags (and
// api/events' query), so a URL names exactly the flows it shows and can be shared or reloaded.

export interface Filters {
  /** Namespaces shown; none = all of them. */
  namespace: string[];
  verdict: string;
  pod: string;
  label: string;
  port: string;
  protocol: string;
  ip: string;
}

export const EMPTY_FILTERS: Filters = {
  namespace: [],
  verdict: '',
  pod: '',
  label: '',
  port: '',
  protocol: '',
  ip: '',
};

const SINGLE = ['verdict', 'pod', 'label', 'port', 'protocol', 'ip'] as const;

export function filtersFromQuery(search: string): Filters {
  const q = new URLSearchParams(search);
  const f: Filters = { ...EMPTY_FILTERS, namespace: q.getAll('namespace').filter(Boolean) };
  for (const k of SINGLE) f[k] = q.get(k) ?? '';
  return f;
}

/** The query string (without `?`) of these filters; keys in a fixed order, empty ones left out. */
export function queryFromFilters(f: Filters): string {
  const q = new URLSearchParams();
  for (const ns of f.namespace) q.append('namespace', ns);
  for (const k of SINGLE) if (f[k].trim()) q.set(k, f[k].trim());
  return q.toString();
}
