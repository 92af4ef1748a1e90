// The agent issue end to end on a two-node devcluster: real kubectl, real cilium-cni, real
// agents and operator, real eBPF on veths in network namespaces, real TCP between pods.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD_DIR as REPO_BUILD, binaryEntry } from '../../cdk8s/process-launch.js';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { downDetached, upDetached, type Devcluster } from '../../devcluster/cluster.js';
import { NodesLayout, netnsPath, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../../devcluster/nodes/nodes.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { policyMatrixCases, policyMatrixPods, serverPod, type MatrixPlacement } from './fixtures/policy-matrix.js';
import { startEchoStream } from './fixtures/echo-stream.js';
import { Kubectl } from './harness.js';

const CEPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true };
const CNS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-agent-'));
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let ips = new Map<string, string>();
const streams: ChildProcess[] = [];

/** One TCP connect from a pod's netns; true when it connects within 1 s. */
const tcp = (from: string, to: string, port = 8080): Promise<boolean> => tcpFromPod(dir, from, ips.get(to)!, port, 1.0);

/** The cilium-agent container of a node's cilium pod: its main process and restart count. */
async function agentContainer(node: string): Promise<{ pid: number; restartCount: number }> {
  const pods = await client.list<KubeObject & { status?: { containerStatuses?: Record<string, unknown>[] } }>(
    { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
    { namespace: 'kube-system', labelSelector: 'k8s-app=cilium', fieldSelector: `spec.nodeName=${node}` },
  );
  const c = pods.items[0]?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
  return {
    pid: Number(/^devcluster:\/\/(\d+)$/.exec(String(c?.containerID ?? ''))?.[1] ?? 0),
    restartCount: Number(c?.restartCount ?? -1),
  };
}

/** The hubble CLI against the devcluster's relay. */
function hubble(args: string[]): Promise<{ code: number | null; out: string }> {
  const server = `unix://${join(new NodesLayout(dir).root, 'hubble-relay.sock')}`;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [binaryEntry('hubble'), ...args, '--server', server], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

/** Waits until `from → to` reachability equals `want`; returns how long it took after `since`. */
async function until(from: string, to: string, want: boolean, since: number): Promise<number> {
  await testing.waitFor(async () => (await tcp(from, to)) === want, {
    what: `${from} → ${to} ${want ? 'open' : 'closed'}`,
    timeoutMs: 10_000,
    intervalMs: 20,
  });
  return Date.now() - since;
}

/** The policy matrix's pods: frontend, other and data/db on node-1, backend on node-2. */
const PLACEMENT: MatrixPlacement = { frontend: 'node-1', other: 'node-1', backend: 'node-2', db: 'node-1' };
const PODS_YAML = [
  policyMatrixPods(PLACEMENT),
  serverPod('shop', 'web-1', 'node-1', 'web'),
  serverPod('shop', 'web-2', 'node-2', 'web'),
].join('\n');

beforeAll(async () => {
  await upDetached({ dir });
  state = await upNodes(dir, { nodes: 2 });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
  await waitForPodCIDRs(client, 2, 60_000);
  await kubectl.ok(['apply', '-f', '-'], PODS_YAML);
  ips = await waitForPods(client, { count: 6, what: 'six running pods', timeoutMs: 60_000 });
  // The servers listen once python has started.
  await testing.waitFor(() => tcp('shop/frontend', 'shop/backend'), { what: 'the first server', timeoutMs: 20_000 });
}, 180_000);

afterAll(async () => {
  for (const s of streams) s.kill('SIGKILL');
  kubectl?.stopAll();
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('two-node devcluster: addressing and endpoints', () => {
  it("pods get IPs from their node's podCIDR; kubectl get cep -A shows identity, ready and the IPv4", async () => {
    const cns = (await client.list<KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } }>(CNS)).items;
    const cidr = (node: string) => cns.find((n) => n.metadata?.name === node)!.spec!.ipam!.podCIDRs![0]!;
    const inCidr = (ip: string, c: string) =>
      ip.split('.').slice(0, 3).join('.') === c.split('/')[0]!.split('.').slice(0, 3).join('.');
    expect(inCidr(ips.get('shop/frontend')!, cidr('node-1'))).toBe(true);
    expect(inCidr(ips.get('shop/backend')!, cidr('node-2'))).toBe(true);
    const out = await testing.waitFor(
      async () => {
        const o = await kubectl.ok(['get', 'cep', '-A']);
        // the six test pods (kube-system's relay and DNS pods have endpoints too)
        const ready = o.split('\n').filter((l) => !l.startsWith('kube-system') && /\sready\s/.test(l));
        return ready.length === 6 ? o : undefined;
      },
      { what: 'six ready CEPs', timeoutMs: 20_000 },
    );
    const line = out.split('\n').find((l) => /\sbackend\s/.test(l))!;
    expect(line).toMatch(
      new RegExp(`^shop\\s+backend\\s+\\d+\\s+ready\\s+${ips.get('shop/backend')!.replace(/\./g, '\\.')}`),
    );
  });

  it('pods with the same labels share one identity across nodes', async () => {
    const id = async (name: string) =>
      (await client.get<KubeObject & { status?: { identity?: { id?: number } } }>(CEPS, name, 'shop')).status?.identity
        ?.id;
    const [w1, w2, fe] = await Promise.all([id('web-1'), id('web-2'), id('frontend')]);
    expect(w1).toBeGreaterThanOrEqual(256);
    expect(w1).toBe(w2);
    expect(fe).not.toBe(w1);
  });
});

describe('two-node devcluster: policies change real TCP reachability', () => {
  policyMatrixCases(PLACEMENT, () => ({
    dir,
    kubectl,
    client,
    ips,
    nodes: 2,
    netnsOf: (node) => state.nodes.find((n) => n.name === node)!.netns,
  }));
});

describe('cilium-dbg against a node agent', () => {
  const dbg = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(
        process.execPath,
        [binaryEntry('cilium-dbg'), '--socket', new NodesLayout(dir).node('node-1').socket, ...args],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
    });

  it('status, endpoint list, bpf maps, policy trace, metrics — as tables and as JSON', async () => {
    const status = await dbg(['status']);
    expect(status.out).toMatch(/Agent health:\s+ok/);
    expect(status.out).toMatch(/Node:\s+node-1/);
    const eps = JSON.parse((await dbg(['endpoint', 'list', '-o', 'json'])).out) as {
      id: number;
      'k8s-pod-name': string;
      identity: { id: number };
    }[];
    const fe = eps.find((e) => e['k8s-pod-name'] === 'frontend')!;
    expect(fe.identity.id).toBeGreaterThanOrEqual(256);
    expect((await dbg(['endpoint', 'list'])).out).toMatch(/^ENDPOINT\s+POLICY \(ingress\)/);
    const ipcache = JSON.parse((await dbg(['bpf', 'ipcache', 'list', '-o', 'json'])).out) as {
      prefix: string;
      identity: number;
    }[];
    const backendId = (
      await client.get<KubeObject & { status?: { identity?: { id?: number } } }>(CEPS, 'backend', 'shop')
    ).status!.identity!.id!;
    expect(ipcache).toContainEqual({ prefix: `${ips.get('shop/backend')}/32`, identity: backendId });
    expect((await dbg(['bpf', 'endpoint', 'list'])).out).toContain(ips.get('shop/frontend')!);
    // the MACs cilium-cni reported, which local delivery writes into redirected packets
    const bpfEps = JSON.parse((await dbg(['bpf', 'endpoint', 'list', '-o', 'json'])).out) as {
      ip: string;
      mac?: string;
      nodeMac?: string;
    }[];
    expect(bpfEps.find((e) => e.ip === ips.get('shop/frontend'))).toMatchObject({
      mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
      nodeMac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
    });
    expect((await dbg(['bpf', 'policy', 'get', String(fe.id)])).out).toMatch(/^POLICY\s+DIRECTION/);
    const allow = await dbg([
      'policy',
      'trace',
      '--src-identity',
      String(backendId),
      '--dst-identity',
      String(fe.identity.id),
      '--dport',
      '8080',
    ]);
    expect(allow.out).toMatch(/Final verdict: ALLOW/);
    expect(allow.code).toBe(0);
    const metrics = (await dbg(['metrics', 'list'])).out;
    expect(metrics).toMatch(/cilium_endpoint_state\{endpoint_state="ready"\}\s+\d+/);
    expect((await dbg(['bogus'])).code).toBe(2);
  }, 60_000);
});

/**
 * ServerStatus against a node's Hubble TCP address from inside the first node's namespace (the
 * fabric is not reachable from the host), as a plaintext client, a TLS client without a
 * certificate, and with relay's client certificate: each answer 'ok' or the gRPC status name.
 */
async function probeHubbleTcp(address: string, serverName: string): Promise<Record<string, string>> {
  // relay's client certificate, key and the nodes' CA, from the Secret the install created
  const secret = await client.get<KubeObject & { data: Record<string, string> }>(
    SECRETS,
    'hubble-relay-client-certs',
    'kube-system',
  );
  const tlsDir = mkdtempSync(join(tmpdir(), 'kts-relay-tls-'));
  for (const [key, file] of [
    ['tls.crt', 'client.crt'],
    ['tls.key', 'client.key'],
    ['ca.crt', 'hubble-server-ca.crt'],
  ] as const)
    writeFileSync(join(tlsDir, file), Buffer.from(secret.data[key] ?? '', 'base64'), { mode: 0o600 });
  const script = `
    import * as grpc from '@grpc/grpc-js';
    import { readFileSync } from 'node:fs';
    import { HubbleClient } from ${JSON.stringify(join(REPO_BUILD, 'hubble', 'client.js'))};
    const f = (n) => readFileSync(${JSON.stringify(tlsDir)} + '/' + n);
    const opts = { 'grpc.ssl_target_name_override': ${JSON.stringify(serverName)} };
    const tries = {
      plaintext: new HubbleClient(${JSON.stringify(address)}),
      noClientCert: new HubbleClient(${JSON.stringify(address)}, opts, grpc.credentials.createSsl(f('hubble-server-ca.crt'))),
      relayCert: new HubbleClient(${JSON.stringify(address)}, opts,
        grpc.credentials.createSsl(f('hubble-server-ca.crt'), f('client.key'), f('client.crt'))),
    };
    const out = {};
    for (const [k, c] of Object.entries(tries))
      out[k] = await c.serverStatus(5000).then(() => 'ok', (e) => grpc.status[e.code] ?? String(e));
    console.log(JSON.stringify(out));
    process.exit(0);`;
  return new Promise((resolve, reject) => {
    const p = spawn(
      'nsenter',
      [`--net=${netnsPath(state.nodes[0]!.netns)}`, process.execPath, '--input-type=module', '-e', script],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: join(REPO_BUILD, '..') },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', () => {
      rmSync(tlsDir, { recursive: true, force: true });
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, string>);
      } catch {
        reject(new Error(`probe failed: ${out}`));
      }
    });
  });
}

describe('hubble mutual TLS on every node', () => {
  it("each node's :4244 refuses plaintext and certificate-less clients; relay's certificate is served", async () => {
    for (const n of state.nodes) {
      const r = await probeHubbleTcp(`${n.ip}:4244`, `${n.name}.devcluster.hubble-grpc.cilium.io`);
      expect({ node: n.name, ...r }).toEqual({
        node: n.name,
        plaintext: 'UNAVAILABLE',
        noClientCert: 'UNAVAILABLE',
        relayCert: 'ok',
      });
    }
    // relay reaches both nodes over TLS
    const nodes = await hubble(['list', 'nodes']);
    expect(nodes.out).toMatch(/node-1\s+Connected/);
    expect(nodes.out).toMatch(/node-2\s+Connected/);
  });
});

describe('hubble through relay', () => {
  it('shows denied connections from both nodes with drop reason, pods and labels; --follow streams them', async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-only-frontend, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: frontend-deny-other, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: other}}]
  ingress:
    - fromEntities: [all]
`,
    );
    await until('shop/other', 'shop/backend', false, Date.now()); // node-2: default-deny miss
    await until('shop/other', 'shop/frontend', false, Date.now()); // node-1: deny rule
    type Flow = {
      dropReasonDesc?: string;
      node_name?: string;
      nodeName?: string;
      source?: { podName?: string; labels?: string[] };
      destination?: { podName?: string };
    };
    const drops = async (toPod: string) =>
      (await hubble(['observe', '--verdict', 'DROPPED', '--to-pod', toPod, '--last', '500', '-o', 'json'])).out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Flow)
        .filter((f) => f.source?.podName === 'other');
    const toBackend = await testing.waitFor(async () => (await drops('shop/backend'))[0], {
      what: 'drops to backend',
      timeoutMs: 10_000,
      intervalMs: 300,
    });
    // The latest: an earlier test's CCNP dropped other → frontend by default deny (POLICY_DENIED).
    const toFrontend = await testing.waitFor(
      async () => (await drops('shop/frontend')).find((f) => f.dropReasonDesc === 'POLICY_DENY'),
      {
        what: 'drops to frontend',
        timeoutMs: 10_000,
        intervalMs: 300,
      },
    );
    expect(toBackend).toMatchObject({ dropReasonDesc: 'POLICY_DENIED', destination: { podName: 'backend' } });
    expect(toFrontend).toMatchObject({ dropReasonDesc: 'POLICY_DENY', destination: { podName: 'frontend' } });
    expect(toBackend.source?.labels).toContain('k8s:app=other');
    expect(new Set([toBackend.nodeName ?? toBackend.node_name, toFrontend.nodeName ?? toFrontend.node_name])).toEqual(
      new Set(['node-1', 'node-2']),
    );

    // --follow: a new denied connection shows up while the stream is open.
    const server = `unix://${join(new NodesLayout(dir).root, 'hubble-relay.sock')}`;
    const follow = spawn(
      process.execPath,
      [
        binaryEntry('hubble'),
        'observe',
        '--follow',
        '--verdict',
        'DROPPED',
        '--to-pod',
        'shop/backend',
        '--server',
        server,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    streams.push(follow);
    let followed = '';
    follow.stdout!.on('data', (d: Buffer) => (followed += d));
    await new Promise((r) => setTimeout(r, 1500));
    const before = followed.length;
    const sent = Date.now();
    void tcp('shop/other', 'shop/backend');
    await testing.waitFor(() => followed.slice(before).includes('POLICY_DENIED'), {
      what: 'the followed drop',
      timeoutMs: 10_000,
      intervalMs: 5,
    });
    console.log(
      `hubble --follow through relay: drop printed ${Date.now() - sent} ms after the connect (python start included)`,
    );
    follow.kill('SIGTERM');
    await kubectl.ok(['delete', 'cnp', '-n', 'shop', 'backend-only-frontend', 'frontend-deny-other']);
    await until('shop/other', 'shop/backend', true, Date.now());
  }, 90_000);
});

describe('two-node devcluster: lifecycle', () => {
  it("a deleted pod's CEP is gone, its IP released and its endpoint removed from the agent", async () => {
    const api = new AgentClient({ socketPath: new NodesLayout(dir).node('node-2').socket });
    const ip = ips.get('shop/web-2')!;
    const before = await api.request<{ used: Record<string, string> }>('GET', '/ipam');
    expect(before.used[ip]).toBe('shop/web-2');
    await kubectl.ok(['delete', 'pod', '-n', 'shop', 'web-2', '--wait=true']);
    await testing.waitFor(
      () =>
        client.get(CEPS, 'web-2', 'shop').then(
          () => false,
          () => true,
        ),
      { what: 'the CEP to go', timeoutMs: 20_000 },
    );
    const after = await api.request<{ used: Record<string, string> }>('GET', '/ipam');
    expect(after.used[ip]).toBeUndefined();
    expect((await api.endpointList()).some((e) => e['k8s-pod-name'] === 'web-2')).toBe(false);
  }, 60_000);

  it('SIGKILL of an agent under a TCP stream: the stream survives, policy stays enforced, the restart rewrites nothing', async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: backend-ingress, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: backend}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: frontend}}]
      toPorts: [{ports: [{port: "9000", protocol: TCP}, {port: "8080", protocol: TCP}]}]
`,
    );
    await until('shop/other', 'shop/backend', false, Date.now());
    // A stream: backend echoes on 9000; frontend sends a line every 50 ms and counts the echoes.
    const stream = await startEchoStream({
      serverNetns: await podNetns(dir, 'shop/backend'),
      clientNetns: await podNetns(dir, 'shop/frontend'),
      serverIp: ips.get('shop/backend')!,
      port: 9000,
      cleanup: streams,
    });

    const layout = new NodesLayout(dir);
    const log = layout.node('node-2').agentLog;
    const readyLines = () =>
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"msg":"cilium-agent ready"'));
    // The agent is node-2's cilium DaemonSet pod: the kubelet restarts a killed agent at once the
    // first time, then backs off (10 s, doubling), so a second kill leaves node-2 without its agent
    // for that long.
    const first = await agentContainer('node-2');
    const readyAtFirst = readyLines().length;
    process.kill(first.pid, 'SIGKILL');
    await testing.waitFor(
      async () =>
        (await agentContainer('node-2')).restartCount === first.restartCount + 1 && readyLines().length > readyAtFirst,
      { what: 'the kubelet to restart the agent', timeoutMs: 30_000 },
    );
    const startsBefore = readyLines().length;
    const { pid } = await agentContainer('node-2');
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const atKill = stream.echoes;
    await new Promise((r) => setTimeout(r, 1500));
    // Agent down: the stream flows, the policy still holds.
    expect(stream.echoes).toBeGreaterThan(atKill + 10);
    expect(await tcp('shop/other', 'shop/backend')).toBe(false);
    expect(await tcp('shop/frontend', 'shop/backend')).toBe(true);
    // Relay reports the node whose agent is down and keeps serving the other one.
    const st = await testing.waitFor(
      async () => {
        const r = await hubble(['status']);
        return /Connected Nodes: 1\/2/.test(r.out) ? r.out : undefined;
      },
      { what: 'relay to see node-2 gone', timeoutMs: 15_000, intervalMs: 300 },
    );
    expect(st).toMatch(/node-2/);
    const stillServing = await hubble(['observe', '--last', '5', '-o', 'json']);
    expect(stillServing.code).toBe(0);

    const ready = await testing.waitFor(() => (readyLines().length > startsBefore ? readyLines().at(-1) : undefined), {
      what: 'the kubelet to restart the agent after its backoff',
      timeoutMs: 45_000,
    });
    expect(JSON.parse(ready).restored).toBeGreaterThanOrEqual(1);
    const atRestart = stream.echoes;
    await new Promise((r) => setTimeout(r, 1000));
    expect(stream.echoes).toBeGreaterThan(atRestart + 5);
    expect(stream.clientErr).toBe('');
    expect(await tcp('shop/other', 'shop/backend')).toBe(false);
    const writes = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"msg":"datapath writes after restart"'))
      .at(-1);
    expect(writes && JSON.parse(writes)).toMatchObject({
      ipcache: { added: 0, updated: 0, removed: 0 },
      endpoints: { added: 0, updated: 0, removed: 0 },
      policyMapsReplaced: 0,
    });
  }, 120_000);
});
