// FQDN selectors (`toFQDNs` and `rules.dns`): `matchName` and `matchPattern` compiled to
// matchers with upstream's semantics (https://docs.cilium.io/en/stable/security/policy/language/#dns-based,
// "DNS Policy and IP Discovery"; upstream pkg/fqdn/matchpattern):
// - names compare case-insensitively as fully qualified names: `cilium.io` and `CILIUM.io.` are one name;
// - in a pattern, `*` stands for zero or more DNS characters inside one label (never the `.`), so
//   `*.cilium.io` selects `sub.cilium.io` but neither `cilium.io` nor `a.sub.cilium.io`;
// - `*` alone selects every name, the root `.` included.
// The matcher walks labels with a linear glob, no regular expressions: a hostile name or pattern
// cannot make it backtrack.

/** One `toFQDNs` entry or `rules.dns` entry (one of the two fields is set). */
export interface FqdnSelector {
  matchName?: string;
  matchPattern?: string;
}

export type FqdnSelectorResult =
  { ok: true; matches: (name: string) => boolean; key: string } | { ok: false; reason: string };

/** Longest name DNS carries (RFC 1035 §2.3.4: 255 octets on the wire, 253 characters in text). */
const MAX_NAME = 255;
/** DNS characters a name or pattern may use: upstream's set plus `_` (SRV and DNS-SD names, RFC 2782 / RFC 6763). */
const NAME_CHARS = /^[-a-z0-9_.]*$/;
const PATTERN_CHARS = /^[-a-z0-9_.*]*$/;
const LABEL_CHARS = /^[-a-z0-9_]+$/;

/** The canonical form every comparison uses: trimmed, lower case, one trailing dot ('' stays '': no name). */
export function toFqdn(name: string): string {
  const n = name.trim().toLowerCase();
  return n === '' || n.endsWith('.') ? n : `${n}.`;
}

/** Labels of a canonical name (`a.b.` → [a, b]; the root `.` → []); undefined when a label is empty. */
function labelsOf(fqdn: string): string[] | undefined {
  if (fqdn === '.') return [];
  const labels = fqdn.slice(0, -1).split('.');
  return labels.every((l) => l.length > 0) ? labels : undefined;
}

/** A glob over one label: `*` is zero or more characters. Greedy with one backtrack point: linear. */
function globLabel(pattern: string, label: string): boolean {
  let p = 0;
  let s = 0;
  let star = -1;
  let mark = 0;
  while (s < label.length) {
    if (p < pattern.length && pattern[p] === label[s]) {
      p++;
      s++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = s;
    } else if (star >= 0) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** True when `name` (any case, with or without the trailing dot) is a well-formed DNS name. */
function wellFormed(fqdn: string): string[] | undefined {
  if (fqdn.length > MAX_NAME + 1 || !NAME_CHARS.test(fqdn)) return undefined;
  return labelsOf(fqdn);
}

/**
 * Compiles one selector. Invalid input yields `ok: false` with the reason (the caller reports it;
 * an invalid selector selects nothing, fail closed). `key` is the canonical text, equal for
 * selectors that select the same names (`matchName: X` and `matchPattern: X` without a `*`).
 */
export function compileFqdnSelector(selector: FqdnSelector): FqdnSelectorResult {
  const { matchName, matchPattern } = selector;
  if ((matchName === undefined) === (matchPattern === undefined)) {
    return { ok: false, reason: 'exactly one of matchName and matchPattern must be set' };
  }
  if (matchName !== undefined) {
    const want = toFqdn(matchName);
    if (!wellFormed(want)) {
      return { ok: false, reason: `matchName "${matchName}" is not a DNS name (a-z, 0-9, "-", "_" and ".")` };
    }
    return { ok: true, key: want, matches: (name) => toFqdn(name) === want };
  }
  const raw = matchPattern!.trim().toLowerCase();
  if (!PATTERN_CHARS.test(raw) || raw.length > MAX_NAME) {
    return {
      ok: false,
      reason: `matchPattern "${matchPattern}": only a-z, 0-9, "-", "_", "." and "*" are allowed`,
    };
  }
  if (raw === '*') {
    // Upstream: "* alone matches all names", the root included (cilium/cilium#11633).
    return { ok: true, key: '*', matches: (name) => wellFormed(toFqdn(name)) !== undefined };
  }
  const pattern = toFqdn(raw);
  const patternLabels = labelsOf(pattern);
  if (!patternLabels) return { ok: false, reason: `matchPattern "${matchPattern}" has an empty label` };
  if (!pattern.includes('*')) return { ok: true, key: pattern, matches: (name) => toFqdn(name) === pattern };
  return {
    ok: true,
    key: pattern,
    matches: (name) => {
      const labels = wellFormed(toFqdn(name));
      if (!labels || labels.length !== patternLabels.length) return false;
      return labels.every((l, i) => LABEL_CHARS.test(l) && globLabel(patternLabels[i]!, l));
    },
  };
}

/** Several selectors as one matcher: a name is selected when any valid selector selects it. */
export function compileFqdnSelectors(selectors: readonly FqdnSelector[]): {
  matches: (name: string) => boolean;
  problems: string[];
} {
  const tests: ((name: string) => boolean)[] = [];
  const problems: string[] = [];
  for (const s of selectors) {
    const r = compileFqdnSelector(s);
    if (r.ok) tests.push(r.matches);
    else problems.push(r.reason);
  }
  return { matches: (name) => tests.some((t) => t(name)), problems };
}
