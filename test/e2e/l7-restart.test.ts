// Either L7 proxy process may restart (docs/design.md decisions 30 and 34): on a one-node
// devcluster where cilium-ts runs as the pods of its own install (the proxies in the
// cilium-l7proxy DaemonSet, paired with the agent's on the same ports, the default), a
// client pod under a CNP that allows it DNS to the cluster DNS (rules.dns matchPattern "*") and
// only GET /public on the server's port 80 runs two loops: keep-alive GET /public, and a DNS
// query of the server's Service name every 100 ms. The agent is SIGKILLed (the kubelet restarts
// its container, which takes seconds); then the proxy process is. What the client sees:
// - "refused": an allowed request whose final outcome is not 200. A request that a connection's
//   end interrupts (a reused keep-alive connection, or a reset before any response) is sent again
//   on a new connection, at most twice, as browsers and Node's agent users do for a GET; a 403, a
//   timeout or a refused connection is refused whatever the retry. Why twice: the process killed
//   holds its connections and, until its exit closed its listener, the new ones in that listener's
//   accept queue; the kernel resets them all, so the first new connection may meet the same end.
//   The retries are counted, and a handful at most is expected.
// - the largest gap between two DNS answers (rcode NOERROR with the address) ≤ 1 s.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PINNED_NODE } from '../../cdk8s/process-launch.js';
import { testing, type KubeClient, type KubeObject } from '../../controllers/framework/index.js';
import { waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { podNetns } from '../../devcluster/nodes/nodes.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-l7restart-'));
const cluster = new SelfHostedCluster(dir);
const NS = 'l7r';
const NAME = `server.${NS}.svc.cluster.local`;
let client: KubeClient;
let kubectl: Kubectl;
let serverIp = '';
let nodeIp = '';

const SERVER = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => s.end('server ' + q.method + ' ' + q.url)); }).listen(80);`;

/**
 * For `ms` milliseconds: keep-alive GET /public in a loop (one retry on a fresh connection when a
 * reused one ends under the request), and a DNS A query of NAME every 100 ms (each its own
 * resolver, 2 s timeout, one try). Prints one JSON summary.
 */
const LOAD = `const http = require('http'); const { Resolver } = require('dns').promises;
const [ip, name, ms, dnsServer] = process.argv.slice(1); const end = Date.now() + Number(ms);
const http_ = { ok: 0, statuses: {}, failures: [], retried: 0 }; const dns = { answers: [], errors: {} };
let agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((ok) => { const r = http.request({ host: ip, port: 80, path: '/public', agent, timeout: 5000 }, (res) => {
  let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => ok({ status: res.statusCode, reused: r.reusedSocket })); res.on('error', (e) => ok({ error: e.code || e.message, reused: r.reusedSocket })); });
  r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  r.on('error', (e) => ok({ error: e.code || e.message, reused: r.reusedSocket })); r.end(); });
const ended = (o) => o.error && (o.reused || o.error === 'ECONNRESET' || o.error === 'EPIPE');
const httpLoop = async () => { while (Date.now() < end) { let o = await get(); let tries = 1;
  for (; tries < 3 && ended(o); tries++) { http_.retried++; agent.destroy(); agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); o = await get(); }
  const k = o.error ? 'error ' + o.error : String(o.status); http_.statuses[k] = (http_.statuses[k] || 0) + 1;
  if (o.status === 200) http_.ok++; else http_.failures.push({ at: Date.now(), what: k, tries });
  await new Promise((r) => setTimeout(r, 20)); } };
const dnsLoop = async () => { const pending = []; while (Date.now() < end) {
  const r = new Resolver({ timeout: 2000, tries: 1 }); r.setServers([dnsServer]);
  pending.push(r.resolve4(name).then((a) => { if (a.length) dns.answers.push(Date.now()); else dns.errors.empty = (dns.errors.empty || 0) + 1; },
    (e) => { dns.errors[e.code] = (dns.errors[e.code] || 0) + 1; }));
  await new Promise((r) => setTimeout(r, 100)); } await Promise.all(pending); };
const started = Date.now();
Promise.all([httpLoop(), dnsLoop()]).then(() => { console.log(JSON.stringify({ started, http: http_, dns })); process.exit(0); });`;

interface LoadResult {
  started: number;
  http: {
    ok: number;
    statuses: Record<string, number>;
    failures: { at: number; what: string; tries: number }[];
    retried: number;
  };
  dns: { answers: number[]; errors: Record<string, number> };
}

const MANIFESTS = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace: NS, labels: { app: 'client' } },
    spec: { nodeName: 'node-1', containers: [{ name: 'c', image: 'none', command: ['sleep', 'infinity'] }] },
  },
  {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'server', namespace: NS, labels: { app: 'server' } },
    spec: {
      nodeName: 'node-1',
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
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'server', namespace: NS },
    spec: { selector: { app: 'server' }, ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] },
  },
];

const POLICY = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'dns-and-public', namespace: NS },
  spec: {
    endpointSelector: { matchLabels: { app: 'client' } },
    egress: [
      {
        // the devcluster's cluster DNS is a hostNetwork pod: the node's address
        toEntities: ['host'],
        toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }], rules: { dns: [{ matchPattern: '*' }] } }],
      },
      {
        toEndpoints: [{ matchLabels: { app: 'server' } }],
        toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/public' }] } }],
      },
    ],
  },
};

type Pod = KubeObject & {
  status?: { containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID: string }[] };
};
const PODS = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };

/** The container's status in the kube-system pod with this label on node-1. */
async function container(label: string, name: string) {
  const pods = await client.list<Pod>(PODS, {
    namespace: 'kube-system',
    labelSelector: label,
    fieldSelector: 'spec.nodeName=node-1',
  });
  return pods.items[0]?.status?.containerStatuses?.find((c) => c.name === name);
}

/** SIGKILLs the container's process and resolves when the kubelet restarted it and it is ready. */
async function killAndWait(label: string, name: string): Promise<void> {
  const before = (await container(label, name))!;
  const pid = Number(/^devcluster:\/\/(\d+)$/.exec(before.containerID)?.[1] ?? 0);
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, 'SIGKILL');
  await testing.waitFor(
    async () => {
      const c = await container(label, name);
      return c && c.restartCount === before.restartCount + 1 && c.ready;
    },
    { what: `${name} restarted and ready`, timeoutMs: 120_000, intervalMs: 200 },
  );
}

/** Runs the load from the client pod for `ms`; resolves with its summary. */
async function load(ms: number): Promise<LoadResult> {
  const netns = await podNetns(dir, `${NS}/client`);
  const child = spawn(
    'nsenter',
    [`--net=${netns}`, '--', PINNED_NODE, '-e', LOAD, serverIp, NAME, String(ms), nodeIp],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return JSON.parse(out.trim().split('\n').at(-1)!) as LoadResult;
}

/** The largest gap between consecutive DNS answers, from the load's start. */
function largestGap(r: LoadResult): number {
  const times = [r.started, ...r.dns.answers].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

beforeAll(async () => {
  // external-l7-proxy is on by default: the cilium-l7proxy DaemonSet paired with the agent's proxies
  const up = await cluster.up({ nodes: 1 });
  ({ client, kubectl } = up);
  // the cluster DNS listens on the node's address (from a pod's namespace, not through the socket LB)
  nodeIp = up.state.nodes[0]!.ip;
  await waitForPodCIDRs(client, 1, 60_000);
  await testing.waitFor(async () => (await container('k8s-app=cilium-l7proxy', 'cilium-l7proxy'))?.ready, {
    what: 'the cilium-l7proxy pod running',
    timeoutMs: 90_000,
    intervalMs: 500,
  });
  await kubectl.ok(['apply', '-f', '-'], MANIFESTS.map((m) => JSON.stringify(m)).join('\n'));
  const ips = await waitForPods(client, { count: 2, what: 'the client and the server', timeoutMs: 90_000 });
  serverIp = ips.get(`${NS}/server`)!;
  expect(serverIp).toBeTruthy();
  await kubectl.ok(['apply', '-f', '-'], JSON.stringify(POLICY));
  // in force: the load sees 200s and DNS answers, and a request outside the rules gets the proxy's 403
  const netns = await podNetns(dir, `${NS}/client`);
  await testing.waitFor(
    async () => {
      const { stdout } = await run(
        'nsenter',
        [`--net=${netns}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${serverIp}/private`],
        { timeout: 10_000 },
      ).catch(() => ({ stdout: '' }));
      return stdout === '403';
    },
    { what: 'the policy in force (GET /private → 403)', timeoutMs: 60_000, intervalMs: 500 },
  );
  const warm = await load(2000);
  expect(warm.http.ok).toBeGreaterThan(0);
  expect(warm.dns.answers.length).toBeGreaterThan(5);
}, 400_000);

afterAll(async () => {
  await kubectl?.run(['delete', 'namespace', NS, '--wait=false']).catch(() => undefined);
  await cluster.down();
}, 120_000);

describe('the L7 proxies outlive the agent (cilium-l7proxy)', () => {
  it('agent SIGKILLed under load: no allowed request refused, DNS answers never more than 1 s apart', async () => {
    // 60 s of load: the agent's restart takes seconds idle and tens of seconds on a loaded CI machine
    const running = load(60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const killedAt = Date.now();
    await killAndWait('k8s-app=cilium', 'cilium-agent');
    const readyAt = Date.now();
    const r = await running;
    // the agent was down for a while inside the load window
    expect(readyAt - killedAt).toBeGreaterThan(1000);
    expect(readyAt).toBeLessThan(r.started + 60_000);
    expect(r.http.failures).toEqual([]);
    expect(r.http.statuses['403']).toBeUndefined();
    expect(r.http.ok).toBeGreaterThan(100);
    console.log(`requests sent again after their connection ended, across the agent's restart: ${r.http.retried}`);
    expect(r.http.retried).toBeLessThanOrEqual(5);
    console.log(`largest gap between DNS answers across the agent's restart: ${largestGap(r)} ms`);
    expect(largestGap(r)).toBeLessThanOrEqual(1000);
    expect(r.dns.answers.length).toBeGreaterThan(200);
  }, 180_000);

  // The agent's own listeners share the ports (one SO_REUSEPORT group, decision 34): the killed
  // proxy's sockets leave the group at once and the agent answers every new flow until the
  // kubelet has the proxy back.
  it('the proxy process SIGKILLed under load: no allowed request refused, DNS answers never more than 1 s apart', async () => {
    const running = load(40_000);
    await new Promise((r) => setTimeout(r, 3000));
    const killedAt = Date.now();
    await killAndWait('k8s-app=cilium-l7proxy', 'cilium-l7proxy');
    const backAt = Date.now();
    const r = await running;
    const gap = largestGap(r);
    console.log(`largest gap between DNS answers across the proxy's restart: ${gap} ms`);
    expect(backAt - killedAt).toBeGreaterThan(1000);
    expect(backAt).toBeLessThan(r.started + 40_000);
    expect(r.http.failures).toEqual([]);
    expect(r.http.statuses['403']).toBeUndefined();
    expect(r.http.ok).toBeGreaterThan(50);
    console.log(`requests sent again after their connection ended, across the proxy's restart: ${r.http.retried}`);
    expect(r.http.retried).toBeLessThanOrEqual(5);
    expect(gap).toBeLessThanOrEqual(1000);
    expect(r.dns.answers.filter((a) => a > backAt).length).toBeGreaterThan(20);
  }, 180_000);
});
