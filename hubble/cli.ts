// The `hubble` CLI: observe, status, list nodes, list namespaces, against relay (default
// localhost:4245, or $HUBBLE_SERVER) or one agent (--server unix:///var/run/cilium/hubble.sock).
// Flags follow upstream's; the run function takes its output streams so tests call it in-process.
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { HubbleClient } from './client.js';
import { HubbleError, HubbleErrorCode, formatError } from './errors.js';
import {
  formatCompact,
  formatDict,
  formatJson,
  formatTable,
  OUTPUT_FORMATS,
  tableRow,
  type OutputFormat,
} from './format.js';
import { cliChannelTls, type CliTlsOptions } from './tls.js';
import type { FlowFilter, GetFlowsRequest, Timestamp } from './types.js';
import { timestampFromMs } from './types.js';

export const DEFAULT_SERVER = 'localhost:4245';
/** Where `npm run devcluster -- up --nodes N` serves hubble-relay (relative to the repository). */
export const DEVCLUSTER_RELAY = '.devcluster/nodes/hubble-relay.sock';

/** The default server: $HUBBLE_SERVER, else the devcluster's relay when one runs here, else localhost:4245. */
export function defaultServer(env: Record<string, string | undefined> | undefined, cwd = process.cwd()): string {
  if (env?.HUBBLE_SERVER) return env.HUBBLE_SERVER;
  const relay = resolvePath(cwd, DEVCLUSTER_RELAY);
  return existsSync(relay) ? `unix://${relay}` : DEFAULT_SERVER;
}

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env?: Record<string, string | undefined>;
  /** stops a --follow (tests); the process uses SIGINT */
  signal?: AbortSignal;
  now?: () => number;
}

const USAGE = `Usage: hubble <command> [flags]

Commands:
  observe            Observe flows (relay: all nodes; an agent: its node)
  status             Server status: flows held, flow rate, nodes, lost events
  list nodes         Nodes behind relay and their state
  list namespaces    Namespaces that had flows in the last hour

Global flags:
  --server ADDR      host:port or unix:///path (default $HUBBLE_SERVER, else the devcluster's relay, else ${DEFAULT_SERVER})
  --timeout MS       unary call deadline (default 5000)
  --tls                          talk TLS to the server (also: --server tls://HOST:PORT)
  --tls-ca-cert-files F[,F…]     CAs the server's certificate must chain to (default: the system's)
  --tls-client-cert-file F       client certificate, with --tls-client-key-file F (an agent's :4244 requires one)
  --tls-server-name NAME         name the server's certificate must carry (an agent: NODE.CLUSTER.hubble-grpc.cilium.io)
  --tls-allow-insecure           accept any server certificate (testing only)
  The TLS flags default to upstream's variables: HUBBLE_TLS, HUBBLE_TLS_CA_CERT_FILES, HUBBLE_TLS_SERVER_NAME, …

observe flags:
  -f, --follow        --last N  --first N  --since T  --until T   (T: 5m, 1h30s or RFC 3339)
  --from-pod/--to-pod/--pod [NS/]POD   -n, --namespace NS   (pods without NS: --namespace or "default")
  --from-service/--to-service [NS/]SVC   (the Service of the address:port; without NS as for pods)
  --from-label/--to-label/--label SELECTOR   --from-ip/--to-ip/--ip IP|CIDR
  --from-port/--to-port/--port N   --protocol P (tcp, udp, icmp, http, dns…)   --verdict V
  -t, --type drop|trace|policy-verdict|l7[:sub]
  --from-fqdn/--to-fqdn/--fqdn PATTERN   (DNS names of the addresses, * globs)   --dns-query REGEX
  --http-status CODE|PREFIX+ (404, 4+, 50+)   --http-method M   --http-path REGEX   --http-url REGEX
  --http-header KEY:VALUE
  --node-name PATTERN   --print-node-name   -o, --output compact|dict|json|jsonpb|table`;

const EVENT_TYPES: Record<string, number> = { drop: 1, trace: 4, 'policy-verdict': 5, l7: 129 };
const TRACE_SUBTYPES: Record<string, number> = { 'to-endpoint': 0, 'from-endpoint': 5 };

/** "90s", "5m", "1h30m" → ms; RFC 3339 → absolute. Relative values count back from now. */
export function parseTime(v: string, now: number): Timestamp {
  const rel = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(v);
  if (rel && v) {
    const ms =
      Number(rel[1] ?? 0) * 3600e3 + Number(rel[2] ?? 0) * 60e3 + Number(rel[3] ?? 0) * 1e3 + Number(rel[4] ?? 0);
    return timestampFromMs(now - ms);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t))
    throw new HubbleError(
      HubbleErrorCode.BadArgs,
      `invalid time "${v}" (use a duration such as 5m or an RFC 3339 time)`,
    );
  return timestampFromMs(t);
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

const list = (v: Values[string]): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));

/** The GetFlows request `hubble observe` sends for these flags (upstream's filter construction). */
export function observeRequest(values: Values, now: number): GetFlowsRequest {
  const ns = list(values.namespace);
  const withNs = (p: string): string => (p.includes('/') ? p : `${ns[0] ?? 'default'}/${p}`);
  const base: FlowFilter = {};
  const add = <K extends keyof FlowFilter>(f: FlowFilter, k: K, v: NonNullable<FlowFilter[K]>): void => {
    if ((v as unknown[]).length) f[k] = v;
  };
  add(base, 'source_pod', list(values['from-pod']).map(withNs));
  add(base, 'destination_pod', list(values['to-pod']).map(withNs));
  add(base, 'source_service', list(values['from-service']).map(withNs));
  add(base, 'destination_service', list(values['to-service']).map(withNs));
  add(base, 'source_label', list(values['from-label']));
  add(base, 'destination_label', list(values['to-label']));
  add(base, 'source_ip', list(values['from-ip']));
  add(base, 'destination_ip', list(values['to-ip']));
  add(base, 'source_port', list(values['from-port']));
  add(base, 'destination_port', list(values['to-port']));
  add(base, 'protocol', list(values.protocol));
  add(base, 'node_name', list(values['node-name']));
  add(base, 'source_fqdn', list(values['from-fqdn']));
  add(base, 'destination_fqdn', list(values['to-fqdn']));
  add(base, 'http_status_code', list(values['http-status']));
  add(base, 'http_method', list(values['http-method']));
  add(base, 'http_path', list(values['http-path']));
  add(base, 'http_url', list(values['http-url']));
  add(base, 'dns_query', list(values['dns-query']));
  add(
    base,
    'http_header',
    list(values['http-header']).map((h) => {
      const i = h.indexOf(':');
      if (i <= 0) throw new HubbleError(HubbleErrorCode.BadArgs, `--http-header wants KEY:VALUE, got "${h}"`);
      return { key: h.slice(0, i), value: h.slice(i + 1) };
    }),
  );
  const verdicts = list(values.verdict).map((v) => v.toUpperCase());
  for (const v of verdicts)
    if (!['FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'].includes(v))
      throw new HubbleError(HubbleErrorCode.BadArgs, `unknown verdict "${v}"`);
  add(base, 'verdict', verdicts as FlowFilter['verdict'] & string[]);
  add(
    base,
    'event_type',
    list(values.type).map((t) => {
      const [name, sub] = t.split(':');
      const type = EVENT_TYPES[name ?? ''];
      if (type === undefined)
        throw new HubbleError(HubbleErrorCode.BadArgs, `unknown event type "${t}" (drop, trace, policy-verdict, l7)`);
      if (sub === undefined) return { type };
      const subType = type === 4 ? TRACE_SUBTYPES[sub] : Number(sub);
      if (subType === undefined || Number.isNaN(subType))
        throw new HubbleError(HubbleErrorCode.BadArgs, `unknown event sub-type "${t}"`);
      return { type, match_sub_type: true, sub_type: subType };
    }),
  );
  // flags without a direction match either side: two filters, one per side (upstream's behaviour)
  const either: [keyof FlowFilter, keyof FlowFilter, string[]][] = [
    [
      'source_pod',
      'destination_pod',
      [
        ...list(values.pod).map(withNs),
        ...(values['from-pod'] || values['to-pod'] || values.pod ? [] : ns.map((n) => `${n}/`)),
      ],
    ],
    ['source_label', 'destination_label', list(values.label)],
    ['source_fqdn', 'destination_fqdn', list(values.fqdn)],
    ['source_ip', 'destination_ip', list(values.ip)],
    ['source_port', 'destination_port', list(values.port)],
  ];
  const left: FlowFilter = { ...base };
  const right: FlowFilter = { ...base };
  let split = false;
  for (const [s, d, vals] of either) {
    if (!vals.length) continue;
    split = true;
    (left as Record<string, unknown>)[s] = [...((left[s] as string[]) ?? []), ...vals];
    (right as Record<string, unknown>)[d] = [...((right[d] as string[]) ?? []), ...vals];
  }
  const whitelist = split ? [left, right] : Object.keys(base).length ? [base] : [];
  const req: GetFlowsRequest = { whitelist, follow: !!values.follow };
  const last = values.last === undefined ? undefined : Number(values.last);
  const first = values.first === undefined ? undefined : Number(values.first);
  for (const [k, n] of [
    ['last', last],
    ['first', first],
  ] as const)
    if (n !== undefined && (!Number.isInteger(n) || n < 0))
      throw new HubbleError(HubbleErrorCode.BadArgs, `--${k} wants a count`);
  if (first !== undefined) {
    req.first = true;
    req.number = first;
  } else if (last !== undefined) req.number = last;
  if (values.since) req.since = parseTime(String(values.since), now);
  if (values.until) req.until = parseTime(String(values.until), now);
  // upstream's default: the last 20 flows when nothing else bounds the request
  if (req.number === undefined && !req.follow && !req.since) req.number = 20;
  return req;
}

export async function runHubbleCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        server: { type: 'string' },
        timeout: { type: 'string' },
        follow: { type: 'boolean', short: 'f' },
        last: { type: 'string' },
        first: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        'from-pod': { type: 'string', multiple: true },
        'to-pod': { type: 'string', multiple: true },
        'from-service': { type: 'string', multiple: true },
        'to-service': { type: 'string', multiple: true },
        pod: { type: 'string', multiple: true },
        namespace: { type: 'string', short: 'n', multiple: true },
        'from-label': { type: 'string', multiple: true },
        'to-label': { type: 'string', multiple: true },
        label: { type: 'string', multiple: true },
        'from-ip': { type: 'string', multiple: true },
        'to-ip': { type: 'string', multiple: true },
        ip: { type: 'string', multiple: true },
        'from-port': { type: 'string', multiple: true },
        'to-port': { type: 'string', multiple: true },
        port: { type: 'string', multiple: true },
        protocol: { type: 'string', multiple: true },
        verdict: { type: 'string', multiple: true },
        type: { type: 'string', short: 't', multiple: true },
        'node-name': { type: 'string', multiple: true },
        fqdn: { type: 'string', multiple: true },
        'from-fqdn': { type: 'string', multiple: true },
        'to-fqdn': { type: 'string', multiple: true },
        'http-status': { type: 'string', multiple: true },
        'http-method': { type: 'string', multiple: true },
        'http-path': { type: 'string', multiple: true },
        'http-url': { type: 'string', multiple: true },
        'http-header': { type: 'string', multiple: true },
        'dns-query': { type: 'string', multiple: true },
        'print-node-name': { type: 'boolean' },
        output: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
        tls: { type: 'boolean' },
        'tls-allow-insecure': { type: 'boolean' },
        'tls-ca-cert-files': { type: 'string', multiple: true },
        'tls-client-cert-file': { type: 'string' },
        'tls-client-key-file': { type: 'string' },
        'tls-server-name': { type: 'string' },
      },
    });
  } catch (e) {
    io.err(`${HubbleErrorCode.BadArgs}: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const cmd = positionals.join(' ');
  if (values.help || !cmd) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const address = values.server ?? defaultServer(io.env);
  // upstream's tls:// scheme: the same as --tls
  const server = address.replace(/^tls:\/\//, '');
  const timeoutMs = Number(values.timeout ?? 5000);
  const now = io.now ?? Date.now;
  const tls = cliTlsOptions(values, io.env ?? {}, address.startsWith('tls://'));
  let channel;
  try {
    channel = await cliChannelTls(tls);
  } catch (e) {
    io.err(formatError(e));
    return 2;
  }
  const client = new HubbleClient(server, channel.channelOptions, channel.credentials);
  try {
    switch (cmd) {
      case 'observe':
        return await observe(client, values, io, now());
      case 'status': {
        const s = await client.serverStatus(timeoutMs);
        const pct = s.max_flows ? ((100 * Number(s.num_flows)) / Number(s.max_flows)).toFixed(2) : '0.00';
        io.out(`Healthcheck (via ${server}): Ok`);
        io.out(
          `Current/Max Flows: ${Number(s.num_flows).toLocaleString('en-US')}/${Number(s.max_flows).toLocaleString('en-US')} (${pct}%)`,
        );
        io.out(`Seen Flows: ${Number(s.seen_flows).toLocaleString('en-US')}`);
        io.out(`Flows/s: ${(s.flows_rate ?? 0).toFixed(2)}`);
        if (s.num_connected_nodes) {
          const up = s.num_connected_nodes.value ?? 0;
          const down = s.num_unavailable_nodes?.value ?? 0;
          io.out(`Connected Nodes: ${up}/${up + down}`);
          if (down)
            io.out(`Unavailable Nodes: ${down}\n${(s.unavailable_nodes ?? []).map((n) => `  - ${n}`).join('\n')}`);
        }
        const lost = s.lost_events ?? [];
        io.out(
          `Lost Events: ${lost.length ? lost.map((l) => `${l.source} ${Number(l.count).toLocaleString('en-US')}`).join(', ') : '0'}`,
        );
        return 0;
      }
      case 'list nodes': {
        const n = await client.getNodes(timeoutMs);
        const rows = (n.nodes ?? []).map((x) => [
          x.name,
          x.state === 'NODE_CONNECTED' ? 'Connected' : x.state === 'NODE_UNAVAILABLE' ? 'Unavailable' : x.state,
          age(Number(x.uptime_ns ?? 0)),
          x.max_flows ? `${Number(x.num_flows ?? 0)}/${Number(x.max_flows)}` : '',
          x.address ?? '',
        ]);
        io.out(table(['NAME', 'STATUS', 'AGE', 'CURRENT/MAX-FLOWS', 'ADDRESS'], rows));
        return 0;
      }
      case 'list namespaces': {
        const n = await client.getNamespaces(timeoutMs);
        io.out(
          table(
            ['CLUSTER', 'NAMESPACE'],
            (n.namespaces ?? []).map((x) => [x.cluster ?? '', x.namespace ?? '']),
          ),
        );
        return 0;
      }
      default:
        io.err(`${HubbleErrorCode.BadArgs}: unknown command "${cmd}"\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    const g = e as { code?: number; details?: string; message?: string };
    if (e instanceof HubbleError) io.err(formatError(e));
    else if (g.code === 14 || g.code === 4)
      io.err(
        `${HubbleErrorCode.Unavailable}: cannot reach ${server}${tls.tls ? ' over TLS' : ''}: ${g.details ?? g.message}${
          tls.tls ? ' (check --tls-ca-cert-files, --tls-server-name and the client certificate)' : ''
        }`,
      );
    else io.err(g.details ?? g.message ?? String(e));
    return 1;
  } finally {
    client.close();
  }
}

/** The TLS flags, each defaulting to upstream's environment variable (HUBBLE_TLS, HUBBLE_TLS_CA_CERT_FILES, …). */
export function cliTlsOptions(
  values: Values,
  env: Record<string, string | undefined>,
  tlsScheme = false,
): CliTlsOptions {
  const flag = (name: string): boolean =>
    values[name] !== undefined ? values[name] === true : /^(true|1|yes)$/i.test(env[envName(name)] ?? '');
  const str = (name: string): string | undefined =>
    (values[name] as string | undefined) ?? (env[envName(name)] || undefined);
  const files =
    values['tls-ca-cert-files'] !== undefined
      ? list(values['tls-ca-cert-files'])
      : [env[envName('tls-ca-cert-files')] ?? ''];
  return {
    tls: tlsScheme || flag('tls'),
    allowInsecure: flag('tls-allow-insecure'),
    caCertFiles: files.flatMap((f) => f.split(',')).filter(Boolean),
    ...(str('tls-client-cert-file') ? { clientCertFile: str('tls-client-cert-file') } : {}),
    ...(str('tls-client-key-file') ? { clientKeyFile: str('tls-client-key-file') } : {}),
    ...(str('tls-server-name') ? { serverName: str('tls-server-name') } : {}),
  };
}

const envName = (flag: string): string => `HUBBLE_${flag.toUpperCase().replace(/-/g, '_')}`;

async function observe(client: HubbleClient, values: Values, io: CliIo, now: number): Promise<number> {
  const output = String(values.output ?? 'compact') as OutputFormat;
  if (!OUTPUT_FORMATS.includes(output))
    throw new HubbleError(HubbleErrorCode.BadArgs, `unknown output "${output}" (${OUTPUT_FORMATS.join(', ')})`);
  const req = observeRequest(values, now);
  const call = client.getFlowsCall(req);
  const stop = (): void => call.cancel();
  io.signal?.addEventListener('abort', stop);
  const rows: string[][] = [];
  try {
    for await (const r of client.iterate(call)) {
      if (output === 'table') {
        if (req.follow) io.out(tableRow(r).join('\t'));
        else rows.push(tableRow(r));
      } else if (output === 'compact') io.out(formatCompact(r, !!values['print-node-name']));
      else if (output === 'dict') io.out(formatDict(r));
      else if (output === 'json') {
        if (r.flow) io.out(formatJson(r, false));
        else io.err(formatCompact(r)); // json prints flows only; lost events and node status still reach the user
      } else io.out(formatJson(r, true));
    }
  } finally {
    io.signal?.removeEventListener('abort', stop);
  }
  if (output === 'table' && !req.follow) io.out(formatTable(rows));
  return 0;
}

function age(ns: number): string {
  const s = Math.floor(ns / 1e9);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i]!))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}
