// cilium-dbg: the agent's debug CLI over its REST socket (upstream's verbs).
//   cilium-dbg [--socket PATH] [-o json] status | endpoint list | endpoint get ID | identity list |
//     identity get ID | policy get | policy selectors | policy trace --src-identity N|--src k8s:a=b,…
//     --dst-identity N|--dst … --dport P [--protocol TCP] | bpf policy get ID | bpf ipcache list |
//     bpf ct list | bpf endpoint list | bpf nat list | bpf tunnel list | service list | bpf lb list | metrics list | monitor |
//     fqdn cache list [-e ENDPOINT] [-p MATCHPATTERN] [--source lookup|restored] |
//     post-uninstall-cleanup [--bpf-root D] [--cni-conf-dir D] [--cni-bin-dir D] [--pod-pool CIDR,…]
import { parseArgs } from 'node:util';
import { AgentClient } from '../controllers/agent/api/client.js';
import { AgentError } from '../controllers/agent/errors.js';
import { DEFAULT_SOCKET_PATH, type EndpointModel } from '../controllers/agent/api/types.js';
import { lbListRows, serviceListRows, type ServiceModel } from '../controllers/agent/services/listing.js';
import type { LbMapRow } from '../datapath/lb.js';
import http from 'node:http';
import { NodeCleanup } from '../controllers/agent/node-cleanup.js';
import { natListLines } from '../controllers/agent/masquerade/listing.js';
import type { NatListEntry } from '../datapath/snat-kernel.js';
import { formatDnsLookups, type DnsLookup } from '../proxy/fqdn-cache-list.js';

const USAGE =
  'usage: cilium-dbg status | endpoint list|get | identity list|get | policy get|selectors|trace | bpf policy get ID | bpf ipcache list | bpf ct list | bpf endpoint list | bpf nat list | bpf tunnel list | service list | bpf lb list | metrics list | monitor | fqdn cache list [-e ID] [-p PATTERN] | post-uninstall-cleanup [--bpf-root D --cni-conf-dir D --cni-bin-dir D --pod-pool CIDR,…] [-o json] [--socket PATH]';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    help: { type: 'boolean', short: 'h' },
    socket: { type: 'string', default: process.env.CILIUM_SOCK ?? DEFAULT_SOCKET_PATH },
    output: { type: 'string', short: 'o', default: 'table' },
    'src-identity': { type: 'string' },
    'dst-identity': { type: 'string' },
    src: { type: 'string' },
    dst: { type: 'string' },
    dport: { type: 'string' },
    protocol: { type: 'string', default: 'TCP' },
    // fqdn cache list: upstream's filters
    endpoint: { type: 'string', short: 'e' },
    matchpattern: { type: 'string', short: 'p' },
    source: { type: 'string' },
    // post-uninstall-cleanup: the paths as the cleanup pod mounts them (the agent pod's)
    'bpf-root': { type: 'string', default: '/sys/fs/bpf' },
    'cni-conf-dir': { type: 'string', default: '/host/etc/cni/net.d' },
    'cni-bin-dir': { type: 'string', default: '/host/opt/cni/bin' },
    'pod-pool': { type: 'string', default: '' },
  },
});
const api = new AgentClient({ socketPath: values.socket! });
const json = values.output === 'json';

function table(headers: string[], rows: (string | number | undefined)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c ?? '')))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells)
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('   ')
        .trimEnd(),
    );
}

function show(data: unknown, render: () => void): void {
  if (json) console.log(JSON.stringify(data, null, 2));
  else render();
}

const peer = (id?: string, labels?: string) =>
  id ? { identity: Number(id) } : labels ? { labels: labels.split(',') } : undefined;

/** GET /kvstore (controllers/agent/kvstore-mode.ts AgentKvstoreStatus, or CRD mode). */
interface KvstoreStatusModel {
  mode: 'crd' | 'kvstore';
  endpoints?: string[];
  connected?: { endpoint: string; version: string; leader: boolean };
  session?: string;
  heartbeat?: { ageMs: number; consecutiveErrors: number };
  problem?: string;
}

/** Upstream's shape: `Ok   etcd: 1/1 connected, …: <endpoint> - <version> (Leader)`, plus the heartbeat's age. */
function kvstoreLine(k: KvstoreStatusModel): string {
  const eps = k.endpoints ?? [];
  const c = k.connected;
  const state = k.problem ? 'Failure' : 'Ok';
  const member = c ? `${c.endpoint} - ${c.version}${c.leader ? ' (Leader)' : ''}` : eps.join(', ');
  const age = k.heartbeat ? `, heartbeat ${Math.round(k.heartbeat.ageMs / 1000)}s ago` : '';
  const why = k.problem ? ` — ${k.problem}` : '';
  return `${state}   etcd: ${c ? 1 : 0}/${eps.length} connected${k.session ? `, lease ${k.session}` : ''}${age}: ${member}${why}`;
}

async function main(): Promise<number> {
  if (values.help) return (console.log(USAGE), 0);
  const [verb, sub, arg] = positionals;
  const key = [verb, sub].filter(Boolean).join(' ');
  switch (verb === 'bpf' ? `bpf ${sub} ${arg ?? ''}`.trim() : key) {
    case 'status': {
      const [health, config, eps, pol, kvstore] = await Promise.all([
        api.healthz(),
        api.request<Record<string, unknown>>('GET', '/config'),
        api.endpointList(),
        api.request<{ stats: Record<string, number> }>('GET', '/policy'),
        api.request<KvstoreStatusModel>('GET', '/kvstore'),
      ]);
      show({ health, config, endpoints: eps.length, policy: pol.stats, kvstore }, () => {
        console.log(`Agent health:   ${health.status}${'reason' in health ? ` (${String(health.reason)})` : ''}`);
        console.log(`Node:           ${config.nodeName} (cluster ${config.clusterName})`);
        console.log(`Pod CIDR:       ${config.podCIDR || '(waiting for cilium-operator)'}, router ${config.router}`);
        console.log(`Policy mode:    ${config.enforcement}`);
        if (kvstore.mode === 'kvstore') console.log(`KVStore:        ${kvstoreLine(kvstore)}`);
        if (config.routing) console.log(`Routing:        ${String(config.routing)}`);
        if (config.masquerading) console.log(`Masquerading:   ${String(config.masquerading)}`);
        console.log(`Endpoints:      ${eps.length} (${eps.filter((e) => e.state === 'ready').length} ready)`);
        console.log(
          `Policy engine:  ${Object.entries(pol.stats)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
      });
      return 0;
    }
    case 'endpoint list': {
      const eps = await api.endpointList();
      const enf = (e: EndpointModel, d: 'ingress' | 'egress') => (e.policy?.[d].enforcing ? 'Enabled' : 'Disabled');
      show(eps, () =>
        table(
          ['ENDPOINT', 'POLICY (ingress)', 'POLICY (egress)', 'IDENTITY', 'LABELS', 'IPv4', 'STATUS'],
          eps
            .sort((a, b) => a.id - b.id)
            .map((e) => [
              e.id,
              enf(e, 'ingress'),
              enf(e, 'egress'),
              e.identity?.id,
              `k8s:${e['k8s-namespace']}/${e['k8s-pod-name']}`,
              e.addressing.ipv4,
              e.state,
            ]),
        ),
      );
      return 0;
    }
    case 'endpoint get': {
      const ep = await api.endpointGet(arg ?? '');
      console.log(JSON.stringify(ep, null, 2));
      return 0;
    }
    case 'identity list': {
      const ids = await api.request<{ id: number; labels: string[] }[]>('GET', '/identity');
      show(ids, () =>
        table(
          ['ID', 'LABELS'],
          ids.sort((a, b) => a.id - b.id).map((i) => [i.id, i.labels.join(' ')]),
        ),
      );
      return 0;
    }
    case 'identity get': {
      const i = await api.request<{ id: number; labels: string[] }>('GET', `/identity/${arg}`);
      show(i, () => table(['ID', 'LABELS'], [[i.id, i.labels.join(' ')]]));
      return 0;
    }
    case 'policy get':
    case 'policy selectors': {
      const p = await api.request<{
        policies: { key: string; problems: unknown[]; notEnforced: { field: string; message: string }[] }[];
        stats: Record<string, number>;
      }>('GET', '/policy');
      show(p, () => {
        table(
          ['POLICY', 'PROBLEMS', 'NOT ENFORCED'],
          p.policies.map((x) => [x.key, x.problems.length, x.notEnforced.map((n) => n.field).join(', ')]),
        );
        console.log(
          `\n${Object.entries(p.stats)
            .map(([k, v]) => `${k}: ${v}`)
            .join('   ')}`,
        );
      });
      return 0;
    }
    case 'policy trace': {
      const source = peer(values['src-identity'], values.src);
      const destination = peer(values['dst-identity'], values.dst);
      if (!source || !destination || !values.dport) {
        console.error(
          'policy trace needs --src-identity N or --src k8s:app=a,…, --dst-identity N or --dst …, and --dport PORT',
        );
        return 2;
      }
      const t = await api.request<{ verdict: string; lines: string[] }>('POST', '/policy/trace', {
        source,
        destination,
        port: Number(values.dport),
        protocol: values.protocol,
      });
      show(t, () => {
        for (const l of t.lines) console.log(l);
        console.log(`Final verdict: ${t.verdict.toUpperCase()}`);
      });
      return t.verdict === 'allow' ? 0 : 1;
    }
    case 'bpf policy get': {
      const id = positionals[3];
      const entries = await api.request<
        {
          identity: number;
          direction: string;
          protocol: number;
          portPrefix: { port: number; prefixLen: number };
          verdict: string;
        }[]
      >('GET', `/map/policy/${id}`);
      show(entries, () =>
        table(
          ['POLICY', 'DIRECTION', 'IDENTITY', 'PROTO', 'PORT/PREFIX', 'VERDICT'],
          entries.map((e) => [
            e.verdict === 'deny' ? 'Deny' : 'Allow',
            e.direction === 'ingress' ? 'Ingress' : 'Egress',
            e.identity === 0 ? 'ANY' : e.identity,
            e.protocol === 0 ? 'ANY' : e.protocol,
            e.protocol === 0 ? 'ANY' : `${e.portPrefix.port}/${e.portPrefix.prefixLen}`,
            e.verdict,
          ]),
        ),
      );
      return 0;
    }
    case 'bpf ipcache list': {
      const list = await api.request<{ prefix: string; identity: number }[]>('GET', '/map/ipcache');
      show(list, () =>
        table(
          ['IP PREFIX/ADDRESS', 'IDENTITY'],
          list.map((e) => [e.prefix, e.identity]),
        ),
      );
      return 0;
    }
    case 'bpf endpoint list': {
      const list = await api.request<
        { ip: string; id: number; ifindex: number; identity: number; mac?: string; nodeMac?: string }[]
      >('GET', '/map/endpoints');
      show(list, () =>
        table(
          ['IP ADDRESS', 'ENDPOINT', 'IFINDEX', 'IDENTITY', 'MAC', 'NODE MAC'],
          list.map((e) => [e.ip, e.id, e.ifindex, e.identity, e.mac ?? '', e.nodeMac ?? '']),
        ),
      );
      return 0;
    }
    case 'bpf ct list': {
      const list = await api.request<Record<string, unknown>[]>('GET', '/map/ct');
      show(list, () =>
        table(
          ['PROTO', 'SOURCE', 'DESTINATION', 'CREATED'],
          list.map((e) => [String(e.proto), `${e.src}:${e.sport}`, `${e.dst}:${e.dport}`, String(e.created)]),
        ),
      );
      return 0;
    }
    case 'bpf nat list': {
      const list = await api.request<NatListEntry[]>('GET', '/map/nat');
      show(list, () => {
        for (const l of natListLines(list, Number(process.hrtime.bigint() / 1_000_000_000n))) console.log(l);
      });
      return 0;
    }
    case 'bpf tunnel list': {
      // upstream's columns: the remote pod CIDR's prefix address, the node IP and the map's node id
      const list = await api.request<{ prefix: string; nodeIp: string }[]>('GET', '/map/tunnel');
      show(list, () =>
        table(
          ['TUNNEL', 'VALUE'],
          list.map((e) => [e.prefix, `${e.nodeIp}:0`]),
        ),
      );
      return 0;
    }
    case 'service list': {
      const list = await api.request<ServiceModel[]>('GET', '/service');
      show(list, () => table(['ID', 'Frontend', 'Service Type', 'Backend'], serviceListRows(list)));
      return 0;
    }
    case 'bpf lb list': {
      const rows = await api.request<LbMapRow[]>('GET', '/map/lb');
      show(rows, () => table(['SERVICE ADDRESS', 'BACKEND ADDRESS (REVNAT_ID) (SLOT)'], lbListRows(rows)));
      return 0;
    }
    case 'metrics list': {
      const text = await api.request<string>('GET', '/metrics');
      const rows = String(text)
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => {
          const i = l.lastIndexOf(' ');
          return [l.slice(0, i), l.slice(i + 1)];
        });
      show(rows, () => table(['METRIC', 'VALUE'], rows));
      return 0;
    }
    case 'monitor': {
      await new Promise<void>((resolve) => {
        const req = http.get({ socketPath: values.socket!, path: '/v1/monitor' }, (res) => {
          res.setEncoding('utf8');
          res.on('data', (d: string) => process.stdout.write(d));
          res.on('end', resolve);
        });
        req.on('error', (e) => (console.error(e.message), resolve()));
        process.on('SIGINT', () => (req.destroy(), resolve()));
      });
      return 0;
    }
    case 'fqdn cache': {
      if (arg !== 'list') break;
      const q = new URLSearchParams();
      for (const k of ['endpoint', 'matchpattern', 'source'] as const) if (values[k] !== undefined) q.set(k, values[k]);
      const list = await api.request<DnsLookup[]>('GET', `/fqdn/cache${q.size ? `?${q}` : ''}`);
      show(list, () => process.stdout.write(formatDnsLookups(list)));
      return 0;
    }
    case 'post-uninstall-cleanup': {
      // runs on the node after the agent is gone (cilium uninstall's cleanup DaemonSet), never by the agent
      const report = await new NodeCleanup({
        bpfRoot: values['bpf-root']!,
        cniConfDir: values['cni-conf-dir']!,
        cniBinDir: values['cni-bin-dir']!,
        podPools: values['pod-pool']!.split(/[\s,]+/).filter(Boolean),
      }).run();
      show(report, () => {
        const line = (what: string, items: string[]) => console.log(`${what.padEnd(10)} ${items.join(', ') || '-'}`);
        line('filters', report.filters);
        line('routes', report.routes);
        line('links', report.links);
        line('pins', report.pins);
        line('cni', report.cni.removed);
        line('restored', report.cni.restored);
      });
      return 0;
    }
  }
  console.error(`unknown command: ${positionals.join(' ') || '(none)'}\n${USAGE}`);
  return 2;
}

// exitCode, not exit(): a large table written to a pipe would be cut off by an immediate exit.
main().then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof AgentError ? `Error: ${e.message} (${e.code})` : `Error: ${(e as Error).message}`);
    process.exitCode = 1;
  },
);
