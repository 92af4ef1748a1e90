// toFQDNs end to end on a two-node devcluster where cilium-ts runs as the pods of its own install:
// client pods on both nodes resolve names through their resolv.conf — the kube-dns Service's
// ClusterIP, translated by the service LB to the cluster DNS wherever it runs — and a
// CiliumNetworkPolicy allows them DNS (`rules.dns: matchPattern "*"`, so the agent's DNS proxy sees
// every lookup) and TCP to `toFQDNs: matchName api.example.test` only. The names are records of the
// cluster DNS's `coredns-custom` ConfigMap pointing at addresses of the devcluster's outside (its
// echo server answers on every address). A pod connects to api.example.test, is dropped towards
// other.example.test (hubble shows the DNS query and the POLICY_DENIED drop), and once the record
// moves to a new address the first SYN after the lookup that returned it is allowed: the connect
// has a 1 s timeout and no retry, which a dropped SYN cannot pass (the kernel resends after 1 s).
// `cilium-dbg fqdn cache list` shows what the agent learned.
//
// The cluster DNS is a hostNetwork pod in the devcluster (devcluster/dns/manifest.ts): as upstream
// gives host-network pods their node's identity, the DNS rule names it by entity (host, remote-node)
// rather than by its kube-dns labels.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaryEntry } from '../../cdk8s/process-launch.js';
import { testing, type KubeClient } from '../../controllers/framework/index.js';
import { hostsConfigMapPatch, HOSTS_DEFAULTS } from '../../devcluster/dns/hosts.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { hostAddress, parseCidr } from '../../devcluster/nodes/ranges.js';
import { observeNode } from './fixtures/hubble-observe.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-l7fqdn-'));
const cluster = new SelfHostedCluster(dir);
const NS = 'l7fqdn';
const NODES = ['node-1', 'node-2'];
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
/** The outside's addresses the records point at: api's first, other's, api's new one. */
let api = '';
let other = '';
let moved = '';
let port = 0;

/**
 * Resolves NAME (A records, through the pod's resolv.conf) until the answer holds WANT (if given),
 * then connects once to the first address with a 1 s timeout, no retry. Prints one JSON line.
 */
const LOOKUP_CONNECT = `import json, socket, sys, time
name, port, want = sys.argv[1], int(sys.argv[2]), (sys.argv[3] if len(sys.argv) > 3 else '')
ips, err, tries = [], '', 0
while tries < 60:
    tries += 1
    try:
        ips = sorted({a[4][0] for a in socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)})
        err = ''
    except socket.gaierror as e:
        ips, err = [], str(e)
    if ips and (not want or want in ips): break
    time.sleep(0.5)
ip = want if want in ips else (ips[0] if ips else '')
res = {'ips': ips, 'err': err, 'tries': tries, 'ip': ip, 'connect': 'none'}
if ip:
    s = socket.socket(); s.settimeout(1.0)
    try:
        s.connect((ip, port)); s.settimeout(5.0)
        res['connect'] = 'ok'; res['line'] = s.makefile().readline().strip()
    except socket.timeout:
        res['connect'] = 'timeout'
    except OSError as e:
        res['connect'] = 'error ' + str(e)
print(json.dumps(res))`;

/** A bare TCP connect (1 s, no retry) to an address, no lookup. */
const CONNECT = `import socket, sys
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print('ok')
except socket.timeout:
    print('timeout')
except OSError as e:
    print('error ' + str(e))`;

interface Result {
  ips: string[];
  err: string;
  tries: number;
  ip: string;
  connect: string;
  line?: string;
}

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  ...NODES.map((node) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `client-${node}`, namespace: NS, labels: { app: 'client' } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }] },
  })),
];

const POLICY = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'api-only', namespace: NS },
  spec: {
    endpointSelector: { matchLabels: { app: 'client' } },
    egress: [
      {
        // the cluster DNS (a hostNetwork pod: its node's identity), every name through the DNS proxy
        toEntities: ['host', 'remote-node'],
        toPorts: [
          {
            ports: [
              { port: '53', protocol: 'UDP' },
              { port: '53', protocol: 'TCP' },
            ],
            rules: { dns: [{ matchPattern: '*' }] },
          },
        ],
      },
      {
        toFQDNs: [{ matchName: 'api.example.test' }],
        toPorts: [{ ports: [{ port: '7000', protocol: 'TCP' }] }],
      },
    ],
  },
};

/** Sets the cluster DNS's extra records (the coredns-custom ConfigMap). */
async function records(hosts: Record<string, string>, ttlSeconds: number): Promise<void> {
  await kubectl.ok([
    'patch',
    'configmap',
    HOSTS_DEFAULTS.configMapName,
    '-n',
    HOSTS_DEFAULTS.configMapNamespace,
    '--type',
    'merge',
    '-p',
    JSON.stringify(hostsConfigMapPatch(hosts, { ttlSeconds })),
  ]);
}

/** LOOKUP_CONNECT in a client pod (kubectl exec: the pod's own resolv.conf). */
async function lookupConnect(node: string, name: string, want = ''): Promise<Result> {
  const out = await kubectl.ok([
    'exec',
    '-n',
    NS,
    `client-${node}`,
    '--',
    'python3',
    '-c',
    LOOKUP_CONNECT,
    name,
    String(port),
    ...(want ? [want] : []),
  ]);
  return JSON.parse(out.trim().split('\n').at(-1)!) as Result;
}

async function connect(node: string, ip: string): Promise<string> {
  return (
    await kubectl.ok(['exec', '-n', NS, `client-${node}`, '--', 'python3', '-c', CONNECT, ip, String(port)])
  ).trim();
}

/** cilium-dbg against a node's agent (its REST socket). */
async function dbg(node: string, args: string[]): Promise<string> {
  const socket = new NodesLayout(dir).node(node).socket;
  const { stdout } = await run(process.execPath, [binaryEntry('cilium-dbg'), ...args, '--socket', socket]);
  return stdout;
}

beforeAll(async () => {
  ({ state, client, kubectl } = await cluster.up({ nodes: 2 }));
  const o = state.outside!;
  port = o.port;
  // two more addresses on the outside (its namespace goes with the run): other's and api's new one
  const { bits } = parseCidr(state.ranges.nodeSubnet);
  api = o.ip;
  other = hostAddress(state.ranges.nodeSubnet, 252);
  moved = hostAddress(state.ranges.nodeSubnet, 253);
  for (const a of [other, moved]) await run('ip', ['-n', o.netns, 'addr', 'add', `${a}/${bits}`, 'dev', 'eth0']);
  await waitForPodCIDRs(client, 2, 60_000);
  await records({ 'api.example.test': api, 'other.example.test': other }, 30);
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  await waitForPods(client, { count: 2, what: 'the two clients', timeoutMs: 120_000, namespaces: [NS] });
  // without a policy both names resolve and connect (masqueraded to the outside)
  for (const node of NODES)
    for (const [name, ip] of [
      ['api.example.test', api],
      ['other.example.test', other],
    ] as const)
      await testing.waitFor(
        async () => {
          const r = await lookupConnect(node, name, ip).catch(() => undefined);
          return r?.connect === 'ok';
        },
        { what: `${name} from client-${node} without a policy`, timeoutMs: 90_000, intervalMs: 1000 },
      );
}, 420_000);

afterAll(async () => {
  await kubectl?.run(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  await cluster.down();
  // nothing of the run is left: its namespaces (the outside's addresses went with it)
  const { stdout } = await run('ip', ['netns', 'list']);
  expect(stdout).not.toContain(`kts${state?.runId}`);
}, 120_000);

describe('toFQDNs under a CNP allowing DNS matchPattern "*" and api.example.test on port 7000', () => {
  it('before any lookup under the policy, the new address is not allowed (so what follows is learned)', async () => {
    await kubectl.ok(['apply', '-f', '-'], JSON.stringify(POLICY));
    // the policy is in force once other.example.test no longer connects
    for (const node of NODES)
      await testing.waitFor(
        async () => (await lookupConnect(node, 'other.example.test', other)).connect === 'timeout',
        {
          what: `the policy in force on ${node}`,
          timeoutMs: 60_000,
          intervalMs: 1000,
        },
      );
    for (const node of NODES) expect(await connect(node, moved)).toBe('timeout');
  }, 300_000);

  it('a pod resolves api.example.test through the kube-dns ClusterIP and connects; other.example.test resolves and is dropped', async () => {
    for (const node of NODES) {
      const ok = await lookupConnect(node, 'api.example.test');
      expect(ok).toMatchObject({ ips: [api], connect: 'ok' });
      expect(ok.line).toMatch(/^peer \S+:\d+$/);
      const dropped = await lookupConnect(node, 'other.example.test');
      expect(dropped).toMatchObject({ ips: [other], connect: 'timeout' });
    }
  }, 180_000);

  it('hubble observe shows the DNS query (L7 DNS flow) and the POLICY_DENIED drop', async () => {
    type Flow = Record<string, unknown> & {
      l7?: { type?: string; dns?: { query?: string; ips?: string[]; rcode?: number } };
      IP?: { source?: string; destination?: string };
      dropReasonDesc?: string;
      destinationService?: { name?: string; namespace?: string };
    };
    for (const node of NODES) {
      const pod = `${NS}/client-${node}`;
      const dns = await testing.waitFor(
        async () => {
          const f = (await observeNode(dir, node, ['--last', '2000', '-t', 'l7', '--pod', pod])) as Flow[];
          const q = f.filter((x) => /^api\.example\.test\.?$/.test(x.l7?.dns?.query ?? ''));
          return q.some((x) => x.l7?.type === 'RESPONSE') ? q : undefined;
        },
        { what: `the DNS flows of api.example.test on ${node}`, timeoutMs: 60_000, intervalMs: 1000 },
      );
      // the query went to the kube-dns Service (the socket LB chose the backend the proxy saw)
      expect(dns.find((x) => x.l7?.type === 'REQUEST')?.destinationService).toEqual({
        name: 'kube-dns',
        namespace: 'kube-system',
      });
      expect(dns.find((x) => x.l7?.type === 'RESPONSE')?.l7?.dns?.ips).toEqual([api]);
      const drops = await testing.waitFor(
        async () => {
          const f = (await observeNode(dir, node, [
            '--last',
            '2000',
            '--verdict',
            'DROPPED',
            '--from-pod',
            pod,
          ])) as Flow[];
          const d = f.filter((x) => x.IP?.destination === other);
          return d.length > 0 ? d : undefined;
        },
        { what: `the drop towards other.example.test on ${node}`, timeoutMs: 60_000, intervalMs: 1000 },
      );
      for (const d of drops) {
        expect(d.verdict).toBe('DROPPED');
        expect(d.dropReasonDesc).toBe('POLICY_DENIED');
      }
    }
  }, 300_000);

  it("cilium-dbg fqdn cache list (against the node's agent) shows the names, their IPs and TTLs", async () => {
    for (const node of NODES) {
      // fresh lookups (the entries live 30 s)
      expect((await lookupConnect(node, 'api.example.test')).connect).toBe('ok');
      expect((await lookupConnect(node, 'other.example.test')).connect).toBe('timeout');
      const out = await dbg(node, ['fqdn', 'cache', 'list']);
      const rows = out
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/));
      expect(rows[0]).toEqual(['Endpoint', 'Source', 'FQDN', 'TTL', 'ExpirationTime', 'IPs']);
      const row = (fqdn: string) => rows.find((r) => r[2] === fqdn || r[2] === `${fqdn}.`);
      for (const [fqdn, ip] of [
        ['api.example.test', api],
        ['other.example.test', other],
      ] as const) {
        const r = row(fqdn);
        expect(r).toBeDefined();
        expect(r![1]).toBe('lookup');
        expect(r![3]).toBe('30');
        expect(r![5]).toBe(ip);
      }
    }
  }, 180_000);

  it('the record moved to a new address (TTL 2 s): the first SYN after the lookup that returns it is allowed', async () => {
    await records({ 'api.example.test': moved, 'other.example.test': other }, 2);
    for (const node of NODES) {
      // the script looks up until the answer is the new address (the cluster DNS's watch may lag),
      // then connects at once: 1 s, no retry
      const r = await lookupConnect(node, 'api.example.test', moved);
      expect(r).toMatchObject({ ips: [moved], ip: moved, connect: 'ok' });
      expect(r.line).toMatch(/^peer \S+:\d+$/);
    }
  }, 180_000);
});
