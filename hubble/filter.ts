// FlowFilter semantics (upstream api/v1/flow/flow.proto): within one filter every set field must match, within a
// field any listed value matches; a request keeps flows matching any whitelist filter (all flows
// when there is none) and not matching any blacklist filter. Filters compile once per request into
// closures, so the per-flow cost is a few comparisons; bad input (CIDR, regex, port) is refused
// up front with HUBBLE_ERR_BAD_FILTER (gRPC InvalidArgument). Nothing a client sends can make a
// filter slow: regexes run on RE2 (linear time, as upstream's Go regexp), globs and label
// selectors are matched and parsed by linear scans, and lengths and counts are capped.
import { BlockList, isIP } from 'node:net';
import { RE2 } from 're2-wasm';
import { HubbleError, HubbleErrorCode } from './errors.js';
import type { Endpoint, Flow, FlowFilter, Service, TCPFlags, Workload } from './types.js';

export type FlowPredicate = (f: Flow) => boolean;

const bad = (msg: string): never => {
  throw new HubbleError(HubbleErrorCode.BadFilter, msg);
};

/** What one request may ask for; anything larger is refused (InvalidArgument), not evaluated. */
export const FILTER_LIMITS = {
  /** Filters in a whitelist or a blacklist. */
  filters: 64,
  /** Values in one field of one filter (e.g. node_name patterns). */
  valuesPerField: 256,
  /** Characters in one value (a glob, a regex, a label selector, a name). */
  valueChars: 1024,
  /**
   * Values in all filters of one request together (whitelist and blacklist). Each is compiled and
   * tried per flow: without a total, 64 filters × 256 regexes cost ~1 s per flow (see
   * BENCHMARKS.md, "Hubble: healthz under hostile filters").
   */
  totalValues: 256,
  /** Characters of all values of one request together. */
  totalChars: 16_384,
} as const;

/** Refuses a request whose filters together exceed totalValues or totalChars. */
function checkTotals(lists: readonly (readonly FlowFilter[])[]): void {
  let values = 0;
  let chars = 0;
  for (const list of lists)
    for (const ff of list)
      for (const v of Object.values(ff ?? {}))
        if (Array.isArray(v))
          for (const x of v as unknown[]) {
            values++;
            if (typeof x === 'string') chars += x.length;
          }
  if (values > FILTER_LIMITS.totalValues)
    bad(`${values} filter values in one request (at most ${FILTER_LIMITS.totalValues})`);
  if (chars > FILTER_LIMITS.totalChars)
    bad(`${chars} characters of filter values in one request (at most ${FILTER_LIMITS.totalChars})`);
}

function checkLimits(list: readonly FlowFilter[], which: string): void {
  if (list.length > FILTER_LIMITS.filters) bad(`${which}: ${list.length} filters (at most ${FILTER_LIMITS.filters})`);
  for (const ff of list) {
    if (!ff || typeof ff !== 'object') bad(`${which}: a filter must be an object`);
    for (const [field, v] of Object.entries(ff)) {
      if (!Array.isArray(v)) continue;
      if (v.length > FILTER_LIMITS.valuesPerField)
        bad(`${field}: ${v.length} values (at most ${FILTER_LIMITS.valuesPerField})`);
      for (const x of v as unknown[])
        if (typeof x === 'string' && x.length > FILTER_LIMITS.valueChars)
          bad(`${field}: a value of ${x.length} characters (at most ${FILTER_LIMITS.valueChars})`);
    }
  }
}

/** whitelist − blacklist as one predicate. */
export function compileFilters(
  whitelist: readonly FlowFilter[] = [],
  blacklist: readonly FlowFilter[] = [],
): FlowPredicate {
  checkLimits(whitelist, 'whitelist');
  checkLimits(blacklist, 'blacklist');
  checkTotals([whitelist, blacklist]);
  const allow = whitelist.map(compileFilter);
  const deny = blacklist.map(compileFilter);
  if (!allow.length && !deny.length) return () => true;
  return (f) => (allow.length === 0 || allow.some((p) => p(f))) && !deny.some((p) => p(f));
}

/** One FlowFilter: the AND of its set fields. */
export function compileFilter(ff: FlowFilter): FlowPredicate {
  const checks: FlowPredicate[] = [];
  const set = <T>(v: readonly T[] | undefined): v is readonly T[] => !!v && v.length > 0;
  if (set(ff.uuid)) {
    const s = new Set(ff.uuid);
    checks.push((f) => !!f.uuid && s.has(f.uuid));
  }
  if (set(ff.source_ip)) checks.push(ipMatcher(ff.source_ip, (f) => f.IP?.source));
  if (set(ff.destination_ip)) checks.push(ipMatcher(ff.destination_ip, (f) => f.IP?.destination));
  if (set(ff.source_pod)) checks.push(podMatcher(ff.source_pod, (f) => f.source));
  if (set(ff.destination_pod)) checks.push(podMatcher(ff.destination_pod, (f) => f.destination));
  if (set(ff.source_label)) checks.push(labelMatcher(ff.source_label, (f) => f.source));
  if (set(ff.destination_label)) checks.push(labelMatcher(ff.destination_label, (f) => f.destination));
  if (set(ff.source_workload)) checks.push(workloadMatcher(ff.source_workload, (f) => f.source));
  if (set(ff.destination_workload)) checks.push(workloadMatcher(ff.destination_workload, (f) => f.destination));
  if (set(ff.source_fqdn)) checks.push(namesMatcher(ff.source_fqdn, (f) => f.source_names));
  if (set(ff.destination_fqdn)) checks.push(namesMatcher(ff.destination_fqdn, (f) => f.destination_names));
  if (set(ff.source_service)) checks.push(serviceMatcher(ff.source_service, (f) => f.source_service));
  if (set(ff.destination_service)) checks.push(serviceMatcher(ff.destination_service, (f) => f.destination_service));
  if (set(ff.traffic_direction))
    checks.push(
      enumMatcher(
        ff.traffic_direction,
        ['TRAFFIC_DIRECTION_UNKNOWN', 'INGRESS', 'EGRESS'],
        (f) => f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN',
      ),
    );
  if (set(ff.verdict)) {
    const names = ['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'];
    checks.push(enumMatcher(ff.verdict, names, (f) => f.verdict ?? 'VERDICT_UNKNOWN'));
  }
  if (set(ff.ip_version))
    checks.push(enumMatcher(ff.ip_version, ['IP_NOT_USED', 'IPv4', 'IPv6'], (f) => f.IP?.ipVersion ?? 'IP_NOT_USED'));
  if (set(ff.event_type)) {
    const types = ff.event_type;
    checks.push(
      (f) =>
        !!f.event_type &&
        types.some(
          (t) => t.type === f.event_type!.type && (!t.match_sub_type || (t.sub_type ?? 0) === f.event_type!.sub_type),
        ),
    );
  }
  if (set(ff.protocol)) checks.push(protocolMatcher(ff.protocol));
  if (set(ff.source_port)) checks.push(portMatcher(ff.source_port, 'source_port'));
  if (set(ff.destination_port)) checks.push(portMatcher(ff.destination_port, 'destination_port'));
  if (set(ff.reply)) {
    const want = ff.reply;
    checks.push((f) => f.is_reply !== undefined && want.includes(f.is_reply.value));
  }
  if (set(ff.source_identity)) {
    const s = new Set(ff.source_identity.map(Number));
    checks.push((f) => s.has(f.source?.identity ?? 0));
  }
  if (set(ff.destination_identity)) {
    const s = new Set(ff.destination_identity.map(Number));
    checks.push((f) => s.has(f.destination?.identity ?? 0));
  }
  if (set(ff.tcp_flags)) {
    const wanted = ff.tcp_flags.map((t) => (Object.keys(t) as (keyof TCPFlags)[]).filter((k) => t[k]));
    checks.push((f) => {
      const fl = f.l4?.TCP?.flags;
      return !!fl && wanted.some((keys) => keys.every((k) => fl[k]));
    });
  }
  if (set(ff.node_name)) checks.push(nodeMatcher(ff.node_name));
  if (set(ff.http_status_code)) checks.push(statusMatcher(ff.http_status_code));
  if (set(ff.http_method)) {
    const m = new Set(ff.http_method.map((x) => x.toUpperCase()));
    checks.push((f) => !!f.l7?.http?.method && m.has(f.l7.http.method.toUpperCase()));
  }
  if (set(ff.http_path)) {
    const res = ff.http_path.map((p) => regex(p));
    checks.push((f) => {
      const url = f.l7?.http?.url;
      if (!url) return false;
      const path = url.replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0] ?? '';
      return res.some((r) => r.test(path));
    });
  }
  if (set(ff.http_url)) {
    const res = ff.http_url.map((p) => regex(p));
    checks.push((f) => {
      const url = f.l7?.http?.url;
      return !!url && res.some((r) => r.test(url));
    });
  }
  if (set(ff.http_header)) {
    const want = ff.http_header;
    checks.push((f) => {
      const hs = f.l7?.http?.headers;
      return !!hs && want.some((w) => hs.some((h) => h.key === w.key && h.value === w.value));
    });
  }
  if (set(ff.dns_query)) {
    const res = ff.dns_query.map((p) => regex(p));
    checks.push((f) => !!f.l7?.dns?.query && res.some((r) => r.test(f.l7!.dns!.query!)));
  }
  // no trace context is ever set on our flows
  if (set(ff.trace_id)) checks.push(() => false);
  if (checks.length === 1) return checks[0]!;
  return (f) => {
    for (const c of checks) if (!c(f)) return false;
    return true;
  };
}

/** The test of a compiled pattern (RE2 or a glob): linear in the input. */
interface Matcher {
  test(s: string): boolean;
}

/**
 * Compiled RE2 programs by pattern: they live in the WebAssembly heap (no finalizers), so a
 * bounded cache keeps repeated requests from growing it.
 */
const RE2_CACHE = new Map<string, RE2>();
const RE2_CACHE_SIZE = 512;

/** A regex with RE2 semantics (upstream's Go regexp): no backreferences or lookaround, linear time. */
export function regex(p: string): Matcher {
  const hit = RE2_CACHE.get(p);
  if (hit) return hit;
  let re: RE2;
  try {
    re = new RE2(p, 'u');
  } catch (e) {
    return bad(`invalid regular expression "${p.slice(0, 200)}": ${(e as Error).message.replace(/^.*: /, '')}`);
  }
  if (RE2_CACHE.size >= RE2_CACHE_SIZE) RE2_CACHE.delete(RE2_CACHE.keys().next().value!);
  RE2_CACHE.set(p, re);
  return re;
}

function ipMatcher(values: readonly string[], get: (f: Flow) => string | undefined): FlowPredicate {
  const exact = new Set<string>();
  const list = new BlockList();
  let cidrs = false;
  for (const v of values) {
    const [addr, bits, extra] = v.split('/');
    const family = isIP(addr ?? '');
    if (!family || extra !== undefined) bad(`invalid IP or CIDR "${v}"`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      exact.add(v);
      list.addAddress(addr!, type);
    } else {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (family === 6 ? 128 : 32)) bad(`invalid CIDR "${v}"`);
      list.addSubnet(addr!, n, type);
    }
    cidrs = cidrs || bits !== undefined || family === 6;
  }
  return (f) => {
    const ip = get(f);
    if (!ip) return false;
    if (exact.has(ip)) return true;
    return cidrs && list.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
  };
}

/** "ns/prefix", "ns/" (the whole namespace) or "prefix" (a pod name prefix in any namespace). */
/** "namespace/name" or "namespace/" (any Service there), as the CLI sends them. */
function serviceMatcher(values: readonly string[], get: (f: Flow) => Service | undefined): FlowPredicate {
  const pats = values.map((v) => {
    const i = v.indexOf('/');
    return i < 0 ? { ns: undefined, name: v } : { ns: v.slice(0, i), name: v.slice(i + 1) };
  });
  return (f) => {
    const s = get(f);
    if (!s) return false;
    return pats.some((p) => (p.ns === undefined || p.ns === s.namespace) && (p.name === '' || p.name === s.name));
  };
}

function podMatcher(values: readonly string[], get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  const pats = values.map((v) => {
    const i = v.indexOf('/');
    return i < 0 ? { ns: undefined, prefix: v } : { ns: v.slice(0, i), prefix: v.slice(i + 1) };
  });
  return (f) => {
    const ep = get(f);
    if (!ep?.pod_name && !ep?.namespace) return false;
    return pats.some(
      (p) =>
        (p.ns === undefined || p.ns === ep.namespace) &&
        (ep.pod_name ?? '').startsWith(p.prefix) &&
        (p.prefix === '' || !!ep.pod_name),
    );
  };
}

interface Requirement {
  source?: string;
  key: string;
  op: 'exists' | 'absent' | 'in' | 'notin';
  values: string[];
}

/**
 * Kubernetes selector syntax over "source:key=value" labels; a key without a source matches any.
 * Parsed by linear scans (split, indexOf, trim): no regex with nested quantifiers, so a selector
 * of 30,000 spaces costs what reading it costs.
 */
export function parseSelector(sel: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < sel.length; i++) {
    const ch = sel[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(sel.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(sel.slice(start));
  const split = (k: string): { source?: string; key: string } => {
    const key = k.trim();
    if (!key) bad(`empty label key in selector "${sel.slice(0, 200)}"`);
    if (/[\s()=!,]/.test(key)) bad(`invalid label key "${key.slice(0, 200)}" in selector`);
    const i = key.indexOf(':');
    return i < 0 ? { key } : { source: key.slice(0, i), key: key.slice(i + 1) };
  };
  return parts
    .map((p) => p.trim())
    .filter((p) => p)
    .map((p): Requirement => {
      // set-based: KEY (in|notin) (v1, v2)
      const ws = p.search(/\s/);
      if (ws > 0) {
        const rest = p.slice(ws).trimStart();
        const op = rest.startsWith('notin') ? 'notin' : rest.startsWith('in') ? 'in' : undefined;
        if (op) {
          const list = rest.slice(op.length).trimStart();
          if (list.startsWith('(') && list.endsWith(')'))
            return {
              ...split(p.slice(0, ws)),
              op,
              values: list
                .slice(1, -1)
                .split(',')
                .map((v) => v.trim()),
            };
        }
      }
      // equality: KEY = v, KEY == v, KEY != v (the first operator splits)
      const eq = p.indexOf('=');
      if (eq > 0) {
        const not = p[eq - 1] === '!';
        const keyEnd = not ? eq - 1 : eq;
        const valueStart = !not && p[eq + 1] === '=' ? eq + 2 : eq + 1;
        return { ...split(p.slice(0, keyEnd)), op: not ? 'notin' : 'in', values: [p.slice(valueStart).trim()] };
      }
      if (p.startsWith('!')) return { ...split(p.slice(1)), op: 'absent', values: [] };
      if (/[\s()=!]/.test(p)) bad(`invalid label selector "${sel.slice(0, 200)}"`);
      return { ...split(p), op: 'exists', values: [] };
    });
}

function parseLabel(l: string): { source: string; key: string; value: string } {
  const eq = l.indexOf('=');
  const colon = l.indexOf(':');
  const hasSource = colon >= 0 && (eq < 0 || colon < eq);
  const source = hasSource ? l.slice(0, colon) : '';
  const rest = hasSource ? l.slice(colon + 1) : l;
  const e = rest.indexOf('=');
  return e < 0 ? { source, key: rest, value: '' } : { source, key: rest.slice(0, e), value: rest.slice(e + 1) };
}

function labelMatcher(selectors: readonly string[], get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  const sels = selectors.map(parseSelector);
  const cache = new WeakMap<string[], ReturnType<typeof parseLabel>[]>();
  return (f) => {
    const raw = get(f)?.labels ?? [];
    let labels = cache.get(raw);
    if (!labels) {
      labels = raw.map(parseLabel);
      cache.set(raw, labels);
    }
    return sels.some((reqs) =>
      reqs.every((r) => {
        const found = labels!.filter(
          (l) => l.key === r.key && (r.source === undefined || r.source === 'any' || r.source === l.source),
        );
        switch (r.op) {
          case 'exists':
            return found.length > 0;
          case 'absent':
            return found.length === 0;
          case 'in':
            return found.some((l) => r.values.includes(l.value));
          case 'notin':
            return !found.some((l) => r.values.includes(l.value));
        }
        return false;
      }),
    );
  };
}

function workloadMatcher(ws: readonly Workload[], get: (f: Flow) => Endpoint | undefined): FlowPredicate {
  return (f) =>
    (get(f)?.workloads ?? []).some((w) =>
      ws.some((x) => (!x.name || x.name === w.name) && (!x.kind || x.kind === w.kind)),
    );
}

/**
 * A `*` glob matched without backtracking: the literal pieces between stars must appear in order,
 * the first as a prefix and the last as a suffix; taking each middle piece at its leftmost
 * occurrence is always right for `*`-only globs, so the match is one left-to-right scan.
 */
export function glob(p: string): Matcher {
  const pieces = p.split('*');
  if (pieces.length === 1) return { test: (s) => s === p };
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  const middle = pieces.slice(1, -1).filter((x) => x);
  const min = first.length + last.length;
  return {
    test: (s) => {
      if (s.length < min || !s.startsWith(first) || !s.endsWith(last)) return false;
      let at = first.length;
      const end = s.length - last.length;
      for (const m of middle) {
        const i = s.indexOf(m, at);
        if (i < 0 || i + m.length > end) return false;
        at = i + m.length;
      }
      return true;
    },
  };
}

function namesMatcher(pats: readonly string[], get: (f: Flow) => string[] | undefined): FlowPredicate {
  const res = pats.map(glob);
  return (f) => (get(f) ?? []).some((n) => res.some((r) => r.test(n)));
}

/** "node*", "cluster/node*" or "cluster/" (every node of a cluster); ours is the "default" cluster. */
function nodeMatcher(pats: readonly string[]): FlowPredicate {
  const ms = pats.map((p) => {
    const i = p.indexOf('/');
    const cluster = i < 0 ? undefined : glob(p.slice(0, i) || '*');
    const node = glob((i < 0 ? p : p.slice(i + 1)) || '*');
    return { cluster, node };
  });
  return (f) => {
    const full = f.node_name ?? '';
    const i = full.indexOf('/');
    const cluster = i < 0 ? 'default' : full.slice(0, i);
    const node = i < 0 ? full : full.slice(i + 1);
    return ms.some((m) => (!m.cluster || m.cluster.test(cluster)) && m.node.test(node));
  };
}

function enumMatcher<T extends string>(
  values: readonly (T | number)[],
  names: readonly string[],
  get: (f: Flow) => string,
): FlowPredicate {
  const s = new Set(values.map((v) => (typeof v === 'number' ? (names[v] ?? bad(`unknown enum value ${v}`)) : v)));
  return (f) => s.has(get(f));
}

function portMatcher(values: readonly string[], key: 'source_port' | 'destination_port'): FlowPredicate {
  const ports = new Set(
    values.map((v) => {
      const n = Number(v);
      if (!/^\d+$/.test(String(v)) || n > 65535) bad(`invalid port "${v}"`);
      return n;
    }),
  );
  return (f) => {
    const l4 = f.l4;
    const p = l4?.TCP ?? l4?.UDP ?? l4?.SCTP;
    return !!p && ports.has(p[key]);
  };
}

function protocolMatcher(values: readonly string[]): FlowPredicate {
  const known = new Set(['tcp', 'udp', 'sctp', 'icmp', 'icmpv4', 'icmpv6', 'http', 'dns', 'kafka']);
  const s = new Set(values.map((v) => v.toLowerCase()));
  for (const v of s)
    if (!known.has(v)) bad(`unknown protocol "${v}" (tcp, udp, sctp, icmp, icmpv4, icmpv6, http, dns, kafka)`);
  return (f) => {
    const l4 = f.l4;
    if (l4?.TCP && s.has('tcp')) return true;
    if (l4?.UDP && s.has('udp')) return true;
    if (l4?.SCTP && s.has('sctp')) return true;
    if (l4?.ICMPv4 && (s.has('icmp') || s.has('icmpv4'))) return true;
    if (l4?.ICMPv6 && (s.has('icmp') || s.has('icmpv6'))) return true;
    if (f.l7?.http && s.has('http')) return true;
    if (f.l7?.dns && s.has('dns')) return true;
    return false;
  };
}

/** "404" exact, "4+" any 4xx, "40+" 400–409: upstream's two forms, nothing else. */
function statusMatcher(values: readonly string[]): FlowPredicate {
  const ms = values.map((v) => {
    const m = /^([1-5]\d\d)()$/.exec(v) ?? /^([1-5]\d?)(\+)$/.exec(v);
    if (!m) return bad(`invalid HTTP status code filter "${v}" (a code such as 404, or a prefix such as 4+ or 40+)`);
    return m[2] ? (c: string) => c.startsWith(m[1]!) : (c: string) => c === m[1];
  });
  return (f) => {
    const code = f.l7?.http?.code;
    return !!code && ms.some((m) => m(String(code)));
  };
}
