// JSON with every object's keys in sorted order: two values that are deep-equal give the same text
// whatever order their keys were written in (the API server's copy of a status against the one
// the agent builds).

/** `JSON.stringify` with sorted keys (undefined members are left out, as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}
