// The report as text: the summary, then the changed connections grouped by source →
// destination:port with the rule that now decides each (what `cilium policy whatif` prints).
import type { WhatIfReport } from './whatif.js';

function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!)))
      .join('   ')
      .trimEnd(),
  );
}

export function formatReport(r: WhatIfReport): string {
  const s = r.summary;
  const skipped = Object.entries(s.skipped)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const lines = [
    `Flows examined: ${s.examined} of ${s.flows}${skipped ? ` (skipped: ${skipped})` : ''}`,
    `  unchanged:      ${s.unchanged}`,
    `  newly dropped:  ${s.newlyDropped}`,
    `  newly allowed:  ${s.newlyAllowed}`,
  ];
  if (s.stale)
    lines.push(
      `  ${s.stale} flow(s) were recorded with a verdict today's policies no longer give; changes are counted against today's policies`,
    );
  if (r.refusedPolicies.length)
    lines.push(`Policies the agents refuse today (not enforced): ${r.refusedPolicies.join(', ')}`);
  lines.push('');
  if (!r.changes.length) {
    lines.push('No connection changes its verdict.');
    return lines.join('\n');
  }
  const rows = r.changes.map((c) => [
    c.after === 'dropped' ? 'NEWLY DROPPED' : 'NEWLY ALLOWED',
    `${c.source} → ${c.destination}:${c.port}/${c.protocol}`,
    String(c.flows),
    c.direction,
    c.reason,
  ]);
  lines.push(...table(['CHANGE', 'CONNECTION', 'FLOWS', 'AT', 'DECIDED BY'], rows));
  if (r.breaking) lines.push('', 'Connections allowed today would be dropped.');
  return lines.join('\n');
}
