// `rules.http` compiled for the HTTP proxy. Upstream's semantics (docs.cilium.io
// security/policy/language "HTTP"; Cilium hands the rules to Envoy as route header matchers):
// - method, path and host are regular expressions matched against the whole value (Envoy's
//   `safe_regex` is a full match, RE2 syntax), so `path: /public` allows `/public` and nothing
//   else; the path is the request target as sent, query included (Envoy's `:path`);
// - `headers` entries are `Name` (present) or `Name: value` (present with exactly that value);
//   `headerMatches` without `mismatch` require `name` to carry `value`; header names ignore case;
// - an omitted or empty field matches anything; a request passes when any rule matches; an
//   empty list passes every request.
// Regexes run on RE2 (linear time): a policy's regex cannot stall the proxy on a hostile path.
import type { PortRule } from '../crds/policy-rule.js';
import { RE2 } from 're2-wasm';

export type HttpRule = NonNullable<NonNullable<PortRule['rules']>['http']>[number];

/** The parts of a request the rules look at (header names lower case, as node:http gives them). */
export interface HttpRequestView {
  method: string;
  path: string;
  host?: string;
  headers: Record<string, string | string[] | undefined>;
}

type Test = (r: HttpRequestView) => boolean;

/** Characters that make a pattern more than a literal string. */
const META = /[\\^$.|?*+()[\]{}]/;

/**
 * Compiled RE2 programs by pattern. They live in the WebAssembly heap, which no finalizer frees:
 * rule sets are rebuilt at every policy change, so sharing programs keeps that heap from growing.
 */
const COMPILED = new Map<string, { test: (s: string) => boolean }>();
const COMPILED_MAX = 1024;

function fullMatch(pattern: string, what: string): { test: (s: string) => boolean } {
  // a literal (`GET`, `/public`) full-matches only itself: a string compare, no RE2 call
  if (!META.test(pattern)) return { test: (s) => s === pattern };
  const hit = COMPILED.get(pattern);
  if (hit) return hit;
  try {
    const re = new RE2(`^(?:${pattern})$`, 'u');
    const m = { test: (s: string) => re.test(s) };
    if (COMPILED.size >= COMPILED_MAX) COMPILED.delete(COMPILED.keys().next().value!);
    COMPILED.set(pattern, m);
    return m;
  } catch (e) {
    throw new Error(`${what} "${pattern.slice(0, 200)}" is not a valid regular expression: ${(e as Error).message}`);
  }
}

function headerValues(r: HttpRequestView, name: string): string[] {
  const v = r.headers[name.toLowerCase()];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function compileRule(rule: HttpRule): Test {
  const tests: Test[] = [];
  if (rule.method) {
    const m = fullMatch(rule.method, 'method');
    tests.push((r) => m.test(r.method));
  }
  if (rule.path) {
    const p = fullMatch(rule.path, 'path');
    tests.push((r) => p.test(r.path));
  }
  if (rule.host) {
    const h = fullMatch(rule.host, 'host');
    tests.push((r) => r.host !== undefined && h.test(r.host));
  }
  for (const entry of rule.headers ?? []) {
    const colon = entry.indexOf(':');
    const name = (colon < 0 ? entry : entry.slice(0, colon)).trim();
    const value = colon < 0 ? undefined : entry.slice(colon + 1).trim();
    tests.push((r) => {
      const values = headerValues(r, name);
      return value === undefined ? values.length > 0 : values.includes(value);
    });
  }
  for (const hm of rule.headerMatches ?? []) {
    // A mismatch action (LOG, ADD, DELETE, REPLACE) lets the request through and acts on the
    // header; secrets are not read by this proxy, so a secret-valued match never matches (fail closed).
    if (hm.mismatch) continue;
    if (hm.secret) {
      tests.push(() => false);
      continue;
    }
    tests.push((r) => {
      const values = headerValues(r, hm.name);
      return hm.value === undefined ? values.length > 0 : values.includes(hm.value);
    });
  }
  return (r) => tests.every((t) => t(r));
}

/** The rules of one (endpoint, port) as one predicate; invalid rules are reported and match nothing. */
export class HttpRuleSet {
  private readonly tests: Test[] = [];
  readonly problems: string[] = [];
  private readonly allowAll: boolean;

  /** `rules`: kept as given (a proxy worker thread is sent them as data and compiles its own). */
  constructor(readonly rules: readonly HttpRule[]) {
    this.allowAll = rules.length === 0;
    rules.forEach((rule, i) => {
      try {
        this.tests.push(compileRule(rule));
      } catch (e) {
        this.problems.push(`http[${i}]: ${(e as Error).message}`);
      }
    });
  }

  allows(request: HttpRequestView): boolean {
    return this.allowAll || this.tests.some((t) => t(request));
  }
}
