// L7 HTTP policy end to end on a two-node devcluster where cilium-ts runs as the pods of its own
// install: an HTTP server pod on node-2, client pods on both nodes, and a CiliumNetworkPolicy that
// allows the clients only `GET /public` on port 80. The agents' datapath redirects the port to
// the agent's HTTP proxy, which answers 403 to what the rules do not allow, on the same node
// (local delivery) and across nodes (routed ingress). `hubble observe -t l7 --http-status 403`
// (the real CLI against the server node's agent) shows the denied requests, and the agent's
// Hubble metrics endpoint counts them in hubble_http_requests_total (httpV2, upstream's labels).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PINNED_NODE } from '../../cdk8s/process-launch.js';
import { testing, type KubeClient } from '../../controllers/framework/index.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { type NodesState } from '../../devcluster/nodes/layout.js';
import { podNetns } from '../../devcluster/nodes/nodes.js';
import { observeNode } from './fixtures/hubble-observe.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-l7http-'));
const cluster = new SelfHostedCluster(dir);
const NS = 'l7';
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let serverIp = '';

// Answers every request with its method and path (so a 200 says the request reached the server).
const SERVER = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('server ' + q.method + ' ' + q.url)); }).listen(80);`;

/** Requests on one keep-alive connection; prints "status body" per request. */
const CLIENT = `const http = require('http');
const [ip, ...reqs] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = (method, path) => new Promise((ok) => {
  const r = http.request({ host: ip, port: 80, method, path, agent, timeout: 5000 }, (res) => {
    let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => ok(res.statusCode + ' ' + b.trim())); });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', (e) => ok('error ' + (e.code || e.message))); r.end(method === 'POST' ? 'x' : undefined); });
(async () => { for (const q of reqs) { const [m, p] = q.split(' '); console.log(await one(m, p)); } process.exit(0); })();`;

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  ...['node-1', 'node-2'].map((node) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `client-${node}`, namespace: NS, labels: { app: 'client' } },
    spec: { nodeName: node, containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }] },
  })),
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'server', namespace: NS, labels: { app: 'server' } },
    spec: {
      nodeName: 'node-2',
      containers: [
        {
          name: 'server',
          image: 'none',
          command: [PINNED_NODE, '-e', SERVER],
          ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }],
          readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
        },
      ],
    },
  },
];

const POLICY = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'public-only', namespace: NS },
  spec: {
    endpointSelector: { matchLabels: { app: 'server' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'client' } }],
        toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }],
      },
    ],
  },
};

/** The requests (`"GET /public"`, …) from a client pod, on one keep-alive connection. */
async function requests(node: string, ...reqs: string[]): Promise<string[]> {
  const netns = await podNetns(dir, `${NS}/client-${node}`);
  const { stdout } = await run('nsenter', [`--net=${netns}`, '--', PINNED_NODE, '-e', CLIENT, serverIp, ...reqs], {
    timeout: 60_000,
  });
  return stdout.trim().split('\n');
}

/** The node's agent's Hubble metrics (hubble-metrics-server :9965, in the node's namespace). */
async function hubbleMetrics(node: string): Promise<string> {
  const netns = state.nodes.find((n) => n.name === node)!.netns;
  const { stdout } = await run('ip', ['netns', 'exec', netns, 'curl', '-s', 'http://127.0.0.1:9965/metrics']);
  return stdout;
}

/** The value of one sample line, by its exact labels. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const got = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const keys = Object.keys(labels);
    if (Object.keys(got).length === keys.length && keys.every((k) => got[k] === labels[k]))
      return Number(line.split(' ').at(-1));
  }
  return 0;
}

beforeAll(async () => {
  ({ state, client, kubectl } = await cluster.up({
    nodes: 2,
    config: { 'hubble-metrics': 'httpV2', 'hubble-metrics-server': ':9965' },
  }));
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  const ips = await waitForPods(client, { count: 3, what: 'two clients and the server', timeoutMs: 90_000 });
  serverIp = ips.get(`${NS}/server`)!;
  // without a policy every request reaches the server
  await testing.waitFor(async () => (await requests('node-1', 'GET /private').catch(() => []))[0]?.startsWith('200'), {
    what: 'the server answering node-1',
    timeoutMs: 60_000,
    intervalMs: 500,
  });
}, 300_000);

afterAll(async () => {
  await kubectl?.run(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  await cluster.down();
}, 120_000);

describe('CNP allowing only GET /public on port 80, enforced by the agent proxy', () => {
  it('GET /public → 200 from the server, GET /private → 403, POST /public → 403, same node and across nodes', async () => {
    await kubectl.ok(['apply', '-f', '-'], JSON.stringify(POLICY));
    await testing.waitFor(
      async () => (await requests('node-2', 'GET /private').catch(() => []))[0]?.startsWith('403'),
      {
        what: 'the policy in force on node-2 (GET /private refused)',
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    const want = ['200 server GET /public', '403 Access denied', '403 Access denied', '200 server GET /public'];
    for (const node of ['node-2', 'node-1'])
      expect(await requests(node, 'GET /public', 'GET /private', 'POST /public', 'GET /public')).toEqual(want);
  }, 120_000);

  it('hubble observe -t l7 --http-status 403 shows the denied requests', async () => {
    const flows = await testing.waitFor(
      async () => {
        const f = await observeNode(dir, 'node-2', ['--last', '1000', '-t', 'l7', '--http-status', '403']);
        return f.length >= 4 ? f : undefined;
      },
      { what: 'the denied requests in hubble observe', timeoutMs: 20_000, intervalMs: 500 },
    );
    type L7 = { type?: string; http?: { code?: number; method?: string; url?: string } };
    const denied = flows.map((f) => ({ l7: f.l7 as L7, verdict: f.verdict, src: f.source, dst: f.destination }));
    for (const d of denied) {
      expect(d.l7.http?.code).toBe(403);
      expect(d.l7.type).toBe('RESPONSE');
      expect(d.verdict).toBe('DROPPED');
    }
    const seen = new Set(denied.map((d) => `${d.l7.http?.method} ${new URL(d.l7.http?.url ?? '').pathname}`));
    expect([...seen].sort()).toEqual(['GET /private', 'POST /public']);
    // a response flow goes from the server to the client, as upstream's
    for (const d of denied) {
      expect(d.src).toMatchObject({ namespace: NS, podName: 'server' });
      expect(d.dst).toMatchObject({ namespace: NS, podName: expect.stringMatching(/^client-node-[12]$/) });
    }
    // an allowed request is an L7 flow too, but not a 403
    const ok = await observeNode(dir, 'node-2', ['--last', '1000', '-t', 'l7', '--http-status', '200']);
    expect(ok.length).toBeGreaterThan(0);
  }, 60_000);

  it('the agent\'s metrics endpoint counts them: hubble_http_requests_total{status="403"}', async () => {
    const labels = (method: string, status: string) => ({ method, protocol: 'HTTP/1.1', status, reporter: 'server' });
    const text = await testing.waitFor(
      async () => {
        const t = await hubbleMetrics('node-2');
        return sample(t, 'hubble_http_requests_total', labels('POST', '403')) >= 2 ? t : undefined;
      },
      { what: 'hubble_http_requests_total on node-2', timeoutMs: 20_000, intervalMs: 500 },
    );
    // two clients: each sent one GET /private and one POST /public (the wait for the policy added more GETs)
    expect(sample(text, 'hubble_http_requests_total', labels('POST', '403'))).toBe(2);
    expect(sample(text, 'hubble_http_requests_total', labels('GET', '403'))).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'hubble_http_requests_total', labels('GET', '200'))).toBe(4);
  }, 60_000);
});
