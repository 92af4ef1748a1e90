// The devcluster's nodes end to end: up with two netns nodes (no cilium-agent: a stand-in of its
// REST API serves each node's socket, and the test installs the routes the agent would), pods
// scheduled across the nodes, wired by cilium-cni, Running with an IP of their node's range,
// reachable across nodes by native routing, `exec`, deletion, and `down` after a crash of the
// nodes daemon leaving no namespace, link, pin or process behind.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { runNamespaces } from '../../devcluster/nodes/fabric.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, execInPod, upNodes } from '../../devcluster/nodes/nodes.js';
import { hostAddress, overlaps, parseCidr, intToIp } from '../../devcluster/nodes/ranges.js';
import { KUBECTL, eventually } from '../e2e/harness.js';
import { FakeAgent } from '../cni/fake-agent.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-nodes-'));
const layout = new NodesLayout(dir);
let state: NodesState;
const agents: FakeAgent[] = [];
const podCidr = new Map<string, string>();

function kubectl(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, args, {
      env: { ...process.env, KUBECONFIG: layout.kubeconfig, KUBECACHEDIR: join(dir, 'kubecache'), HOME: dir },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function getPod(name: string): Promise<
  | {
      spec: { nodeName?: string };
      status: {
        phase?: string;
        podIP?: string;
        conditions?: { type: string; status: string }[];
        containerStatuses?: { name: string; ready: boolean; state: Record<string, unknown> }[];
      };
      metadata: { uid: string; finalizers?: string[] };
    }
  | undefined
> {
  const r = await kubectl(['get', 'pod', name, '-o', 'json']);
  return r.code === 0 ? JSON.parse(r.stdout) : undefined;
}

function ipIn(netns: string, ...args: string[]): string {
  return execFileSync('ip', ['-n', netns, ...args], { encoding: 'utf8' });
}

const POD = (name: string, command: string[]) =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { containers: [{ name: 'main', image: 'ignored:latest', command }] },
  });
const SERVER = `require('http').createServer((q,s)=>s.end('hello from '+process.env.HOSTNAME)).listen(8080,()=>console.log('listening'))`;

beforeAll(async () => {
  await upDetached({ dir, port: 0 });
  state = await upNodes(dir, { nodes: 2, agents: false });
  // Stand-ins for the agent: each node's IPAM from its own /24 of the pool, its router address on
  // cilium_host, and routes to the other nodes' pod CIDRs via their fabric IPs.
  const pool = parseCidr(state.ranges.clusterPool);
  state.nodes.forEach((n, i) => podCidr.set(n.name, `${intToIp(pool.base + (i + 1) * 256)}/24`));
  for (const n of state.nodes) {
    const a = new FakeAgent({ socketPath: layout.node(n.name).socket, cidr: podCidr.get(n.name)! });
    await a.start();
    agents.push(a);
    ipIn(n.netns, 'link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
    ipIn(n.netns, 'link', 'set', 'cilium_net', 'up');
    ipIn(n.netns, 'link', 'set', 'cilium_host', 'up');
    ipIn(n.netns, 'addr', 'add', `${a.gateway}/32`, 'dev', 'cilium_host');
    for (const other of state.nodes)
      if (other !== n) ipIn(n.netns, 'route', 'add', podCidr.get(other.name)!, 'via', other.ip);
  }
}, 90_000);

afterAll(async () => {
  // Idempotent: the last test already tore everything down when it passed.
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
  await Promise.all(agents.map((a) => a.stop()));
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('devcluster nodes', () => {
  test("up: the outside on the fabric answers a node with the node's address (its echo server reports the peer)", async () => {
    const o = state.outside!;
    const script = `import socket\ns=socket.create_connection(('${o.ip}', ${o.port}), timeout=3)\nprint(s.makefile().readline().strip())`;
    let line = '';
    for (let i = 0; i < 50 && !line; i++) {
      try {
        line = execFileSync('ip', ['netns', 'exec', state.nodes[0]!.netns, 'python3', '-c', script], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
      } catch {
        await new Promise((r) => setTimeout(r, 200)); // the server still starting
      }
    }
    expect(line).toMatch(new RegExp(`^peer ${state.nodes[0]!.ip.replace(/\./g, '\\.')}:\\d+$`));
  });

  test('up: node namespaces on a fabric, Node objects with their InternalIP, ranges free on the host', async () => {
    expect(state.nodes.map((n) => n.name)).toEqual(['node-1', 'node-2']);
    expect(runNamespaces(state.runId).sort()).toEqual(
      [state.fabricNetns, state.outside!.netns, ...state.nodes.map((n) => n.netns)].sort(),
    );
    const hostRoutes = JSON.parse(execFileSync('ip', ['-j', '-4', 'route'], { encoding: 'utf8' })) as { dst: string }[];
    for (const r of hostRoutes)
      if (r.dst !== 'default')
        expect(overlaps(r.dst.includes('/') ? r.dst : `${r.dst}/32`, state.ranges.clusterPool)).toBe(false);
    const nodes = JSON.parse((await kubectl(['get', 'nodes', '-o', 'json'])).stdout) as {
      items: {
        metadata: { name: string };
        status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] };
      }[];
    };
    expect(
      nodes.items.map((n) => [
        n.metadata.name,
        n.status.addresses.find((a) => a.type === 'InternalIP')?.address,
        n.status.conditions.find((c) => c.type === 'Ready')?.status,
      ]),
    ).toEqual([
      ['node-1', hostAddress(state.ranges.nodeSubnet, 1), 'True'],
      ['node-2', hostAddress(state.ranges.nodeSubnet, 2), 'True'],
    ]);
    // the same kubeconfig works inside a node: 127.0.0.1:<port> there is the forwarder to the API server
    const inNode = execFileSync(
      'nsenter',
      [`--net=/var/run/netns/${state.nodes[1]!.netns}`, KUBECTL, 'get', 'nodes', '-o', 'name'],
      {
        encoding: 'utf8',
        env: { ...process.env, KUBECONFIG: layout.kubeconfig, KUBECACHEDIR: join(dir, 'kubecache-node'), HOME: dir },
      },
    );
    expect(inNode.split('\n').filter(Boolean)).toEqual(['node/node-1', 'node/node-2']);
    // the node's fabric link answers from the other node
    const ping = execFileSync(
      'nsenter',
      [
        `--net=/var/run/netns/${state.nodes[0]!.netns}`,
        process.execPath,
        '-e',
        `require('net').connect(1,'${state.nodes[1]!.ip}').on('error',e=>{console.log(e.code);process.exit(0)})`,
      ],
      { encoding: 'utf8' },
    );
    expect(ping.trim()).toBe('ECONNREFUSED'); // a RST from node-2's kernel: reachable
  });

  test('a node reaches the API server while the nodes daemon is stopped (no kubelet work between a pod and the API server)', () => {
    // the daemon runs every pod's kubelet work; were the host-side bridge in its event loop, each
    // byte between a pod and the API server (an agent's watch events) would wait behind that work
    const daemon = layout.read()!.daemonPid!;
    process.kill(daemon, 'SIGSTOP');
    try {
      const inNode = execFileSync(
        'nsenter',
        [
          `--net=/var/run/netns/${state.nodes[0]!.netns}`,
          KUBECTL,
          'get',
          'nodes',
          '-o',
          'name',
          '--request-timeout=5s',
        ],
        {
          encoding: 'utf8',
          timeout: 15_000,
          env: { ...process.env, KUBECONFIG: layout.kubeconfig, KUBECACHEDIR: join(dir, 'kubecache-stop'), HOME: dir },
        },
      );
      expect(inNode.split('\n').filter(Boolean)).toEqual(['node/node-1', 'node/node-2']);
    } finally {
      process.kill(daemon, 'SIGCONT');
    }
  });

  test('pods are scheduled across nodes, Running with their node range, reachable across nodes, exec works', async () => {
    expect(
      (await kubectl(['apply', '-f', '-'], POD('server', ['node', '-e', SERVER]) + '\n' + POD('client', []))).code,
    ).toBe(0);
    await eventually(
      async () =>
        (await getPod('server'))?.status.phase === 'Running' && (await getPod('client'))?.status.phase === 'Running',
      30_000,
      'pods Running',
    );
    const server = (await getPod('server'))!;
    const client = (await getPod('client'))!;
    expect(new Set([server.spec.nodeName, client.spec.nodeName])).toEqual(new Set(['node-1', 'node-2']));
    for (const p of [server, client]) {
      expect(overlaps(`${p.status.podIP}/32`, podCidr.get(p.spec.nodeName!)!)).toBe(true);
      expect(p.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(p.status.containerStatuses?.[0]).toMatchObject({
        name: 'main',
        ready: true,
        state: { running: expect.anything() },
      });
      expect(p.metadata.finalizers).toContain('devcluster.cilium-ts.io/kubelet');
    }
    const wide = (await kubectl(['get', 'pods', '-o', 'wide'])).stdout;
    expect(wide).toMatch(
      new RegExp(
        `server\\s+(?:1/1\\s+)?Running\\s+0\\s+\\S+\\s+${server.status.podIP!.replace(/\./g, '\\.')}\\s+${server.spec.nodeName}`,
      ),
    );
    const events = (await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=server', '-o', 'json']))
      .stdout;
    const reasons = (JSON.parse(events) as { items: { reason: string; message: string }[] }).items.map(
      (e) => `${e.reason}: ${e.message}`,
    );
    expect(reasons).toEqual(
      expect.arrayContaining([
        `Scheduled: Successfully assigned default/server to ${server.spec.nodeName}`,
        expect.stringMatching(/^Started: sandbox kts\w+-p-\w+ \(10\./),
      ]),
    );
    const addr = await execInPod(dir, 'default/server', ['ip', '-4', '-br', 'addr', 'show', 'eth0'], { capture: true });
    expect(addr.stdout).toContain(`${server.status.podIP}/32`);
    await eventually(
      async () =>
        /listening/.test(
          readdirSync(join(layout.node(server.spec.nodeName!).pods, 'default_server')).join() +
            execFileSync('cat', [join(layout.node(server.spec.nodeName!).pods, 'default_server', 'main.log')], {
              encoding: 'utf8',
            }),
        ),
      10_000,
      'server listening',
    );
    // the CLI contract: npm run devcluster -- exec NAMESPACE/POD -- CMD…; TCP from node to node
    const get = `require('http').get('http://${server.status.podIP}:8080',r=>r.on('data',d=>console.log(String(d))))`;
    const cli = execFileSync(
      PINNED_NODE,
      [compiledEntry('devcluster/cli.ts'), 'exec', '--dir', dir, 'default/client', '--', 'node', '-e', get],
      { encoding: 'utf8', cwd: join(import.meta.dirname, '..', '..') },
    );
    expect(cli.trim()).toBe('hello from server');
  });

  test('restartPolicy: Never ends Succeeded or Failed by exit code; Always restarts and counts', async () => {
    const pod = (name: string, policy: string, cmd: string[]) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: { restartPolicy: policy, containers: [{ name: 'main', image: 'x', command: cmd }] },
      });
    const apply =
      pod('ok', 'Never', ['sh', '-c', 'exit 0']) +
      '\n' +
      pod('bad', 'Never', ['sh', '-c', 'exit 3']) +
      '\n' +
      pod('flaky', 'Always', ['sh', '-c', 'sleep 0.2; exit 1']);
    expect((await kubectl(['apply', '-f', '-'], apply)).code).toBe(0);
    await eventually(
      async () =>
        (await getPod('ok'))?.status.phase === 'Succeeded' && (await getPod('bad'))?.status.phase === 'Failed',
      30_000,
      'Never pods finished',
    );
    expect((await getPod('bad'))!.status.containerStatuses?.[0]?.state).toMatchObject({
      terminated: { exitCode: 3, reason: 'Error' },
    });
    await eventually(
      async () =>
        (((await getPod('flaky'))?.status.containerStatuses?.[0] as { restartCount?: number } | undefined)
          ?.restartCount ?? 0) >= 1,
      20_000,
      'flaky restarted',
    );
    expect((await kubectl(['delete', 'pod', 'ok', 'bad', 'flaky', '--wait=true', '--timeout=30s'])).code).toBe(0);
  });

  test('a hostNetwork pod runs in its node namespace with the node address, without CNI', async () => {
    const calls = agents.reduce((n, a) => n + a.calls.length, 0);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hostnet', namespace: 'default' },
      spec: { hostNetwork: true, nodeName: 'node-2', containers: [{ name: 'main', image: 'x' }] },
    };
    expect((await kubectl(['apply', '-f', '-'], JSON.stringify(pod))).code).toBe(0);
    await eventually(async () => (await getPod('hostnet'))?.status.phase === 'Running', 20_000, 'hostnet Running');
    expect((await getPod('hostnet'))!.status.podIP).toBe(state.nodes[1]!.ip);
    const addr = await execInPod(dir, 'default/hostnet', ['ip', '-4', '-br', 'addr', 'show', 'eth0'], {
      capture: true,
    });
    expect(addr.stdout).toContain(`${state.nodes[1]!.ip}/`);
    expect((await kubectl(['delete', 'pod', 'hostnet', '--wait=true', '--timeout=30s'])).code).toBe(0);
    expect(agents.reduce((n, a) => n + a.calls.length, 0)).toBe(calls);
    expect(runNamespaces(state.runId)).toContain(state.nodes[1]!.netns);
  });

  test('deleting a pod stops its process, calls CNI DEL and removes its namespace', async () => {
    const server = (await getPod('server'))!;
    const node = state.nodes.find((n) => n.name === server.spec.nodeName)!;
    const agent = agents[state.nodes.indexOf(node)]!;
    const netns = readdirSync('/var/run/netns').find(
      (n) => n === `kts${state.runId}-p-${server.metadata.uid.replace(/-/g, '').slice(0, 12)}`,
    );
    expect(netns).toBeDefined();
    const pids = execFileSync('ip', ['netns', 'pids', netns!], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(pids.length).toBeGreaterThan(0);
    expect((await kubectl(['delete', 'pod', 'server', '--wait=true', '--timeout=30s'])).code).toBe(0);
    expect(await getPod('server')).toBeUndefined();
    expect(existsSync(`/var/run/netns/${netns}`)).toBe(false);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect([...agent.endpoints.keys()].some((k) => k.includes(server.metadata.uid))).toBe(false);
    expect(agent.allocated.has(server.status.podIP!)).toBe(false);
    expect(ipIn(node.netns, '-br', 'link')).not.toMatch(/^lxc/m);
  });

  test('a Deployment runs its replicas on the nodes; its Service gets an EndpointSlice of them', async () => {
    const manifests = [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'echo', namespace: 'default' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'echo' } },
          template: {
            metadata: { labels: { app: 'echo' } },
            spec: {
              containers: [
                {
                  name: 'main',
                  image: 'x',
                  command: ['node', '-e', SERVER],
                  ports: [{ name: 'http', containerPort: 8080 }],
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'echo', namespace: 'default' },
        spec: { selector: { app: 'echo' }, ports: [{ name: 'web', port: 80, targetPort: 'http' }] },
      },
    ];
    expect(
      (await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifests }))).code,
    ).toBe(0);
    const rollout = await kubectl(['rollout', 'status', 'deployment/echo', '--timeout=60s']);
    expect(rollout.stdout).toContain('successfully rolled out');
    const pods = JSON.parse((await kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'json'])).stdout).items as {
      spec: { nodeName: string };
      status: { podIP: string };
    }[];
    // the scheduler places by load: with the client pod still running, the nodes end up even
    const client = (await getPod('client'))!;
    const load = ['node-1', 'node-2'].map(
      (n) => pods.filter((p) => p.spec.nodeName === n).length + (client.spec.nodeName === n ? 1 : 0),
    );
    expect(load.sort()).toEqual([1, 2]);
    await eventually(
      async () => {
        const slices = JSON.parse(
          (await kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=echo', '-o', 'json'])).stdout,
        ).items as {
          endpoints?: { addresses: string[]; conditions: { ready: boolean } }[];
          ports: { port: number }[];
        }[];
        const ready = slices.flatMap((x) => x.endpoints ?? []).filter((e) => e.conditions.ready);
        return (
          ready
            .map((e) => e.addresses[0])
            .sort()
            .join() ===
            pods
              .map((p) => p.status.podIP)
              .sort()
              .join() && slices[0]?.ports[0]?.port === 8080
        );
      },
      20_000,
      'slice with both pods ready on 8080',
    );
    expect((await kubectl(['delete', 'deployment', 'echo'])).code).toBe(0);
    expect((await kubectl(['delete', 'service', 'echo'])).code).toBe(0);
    await eventually(
      async () => !(await kubectl(['get', 'pods', '-l', 'app=echo', '-o', 'name'])).stdout.trim(),
      40_000,
      'echo pods gone',
    );
  });

  test('readiness probes (httpGet, tcpSocket, exec) decide the pod Ready condition', async () => {
    const late = `setTimeout(()=>require('http').createServer((q,s)=>s.end('ok')).listen(8080),1500)`;
    const pod = (name: string, probe: Record<string, unknown>) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: 'x',
              command: ['node', '-e', late],
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { ...probe, periodSeconds: 1 },
            },
          ],
        },
      });
    const apply =
      pod('probe-http', { httpGet: { path: '/', port: 'http' } }) +
      '\n' +
      pod('probe-tcp', { tcpSocket: { port: 8080 } }) +
      '\n' +
      pod('probe-exec', { exec: { command: ['false'] } });
    expect((await kubectl(['apply', '-f', '-'], apply)).code).toBe(0);
    const ready = async (name: string) =>
      (await getPod(name))?.status.conditions?.find((c) => c.type === 'Ready')?.status;
    await eventually(async () => (await getPod('probe-http'))?.status.phase === 'Running', 30_000, 'Running');
    expect(await ready('probe-http')).toBe('False');
    await eventually(
      async () => (await ready('probe-http')) === 'True' && (await ready('probe-tcp')) === 'True',
      20_000,
      'http and tcp probes pass',
    );
    expect(await ready('probe-exec')).toBe('False');
    expect((await getPod('probe-exec'))!.status.containerStatuses?.[0]).toMatchObject({ ready: false });
    expect(
      (await kubectl(['delete', 'pod', 'probe-http', 'probe-tcp', 'probe-exec', '--wait=true', '--timeout=30s'])).code,
    ).toBe(0);
  });

  test('kubectl delete pod waits for the grace period while the process handles SIGTERM; --force kills at once', async () => {
    const pod = (name: string, grace: number, script: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default' },
        spec: {
          terminationGracePeriodSeconds: grace,
          containers: [{ name: 'main', image: 'x', command: ['sh', '-c', script] }],
        },
      });
    const loop = 'while :; do sleep 0.1; done';
    const apply =
      pod('polite', 20, `trap 'echo got TERM; sleep 1; exit 0' TERM; echo up; ${loop}`) +
      '\n' +
      pod('stubborn', 2, `trap '' TERM; ${loop}`) +
      '\n' +
      pod('forced', 30, `trap '' TERM; ${loop}`);
    expect((await kubectl(['apply', '-f', '-'], apply)).code).toBe(0);
    await eventually(
      async () =>
        (await Promise.all(['polite', 'stubborn', 'forced'].map(getPod))).every((p) => p?.status.phase === 'Running'),
      30_000,
      'pods Running',
    );
    // polite: Terminating with the grace period, gone once its TERM handler exits (about 1 s)
    let t = Date.now();
    expect((await kubectl(['delete', 'pod', 'polite', '--wait=false'])).code).toBe(0);
    const deleting = (await getPod('polite')) as unknown as {
      metadata: { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
    };
    expect(deleting.metadata.deletionGracePeriodSeconds).toBe(20);
    expect(Date.parse(deleting.metadata.deletionTimestamp!)).toBeGreaterThan(Date.now() + 15_000);
    expect((await kubectl(['get', 'pod', 'polite', '--no-headers'])).stdout).toMatch(/Terminating/);
    await eventually(async () => (await getPod('polite')) === undefined, 15_000, 'polite gone');
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t).toBeLessThan(15_000);
    // stubborn ignores TERM: KILLed at the deadline (2 s)
    t = Date.now();
    expect((await kubectl(['delete', 'pod', 'stubborn', '--wait=true', '--timeout=30s'])).code).toBe(0);
    expect(Date.now() - t).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - t).toBeLessThan(15_000);
    // forced: gone at once although it ignores TERM and has 30 s
    t = Date.now();
    const forced = await kubectl(['delete', 'pod', 'forced', '--force', '--grace-period=0']);
    expect(forced.code).toBe(0);
    expect(await getPod('forced')).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(10_000);
  });

  test('down after a crash of the nodes daemon leaves no namespace, process or pin', async () => {
    const s = layout.read()!;
    // a pod namespace of an earlier test may still be going away between the listing and `pids`
    const pidsIn = (n: string) => {
      try {
        return execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8', stdio: 'pipe' }).split('\n');
      } catch {
        return [];
      }
    };
    const inNs = runNamespaces(s.runId).flatMap((n) => pidsIn(n).filter(Boolean));
    expect(inNs.length).toBeGreaterThanOrEqual(3); // two forwarders and the client's process
    process.kill(s.daemonPid!, 'SIGKILL');
    await eventually(() => !existsSync(`/proc/${s.daemonPid}`), 5000, 'daemon gone');
    const out = execFileSync(PINNED_NODE, [compiledEntry('devcluster/cli.ts'), 'down', '--dir', dir], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '..', '..'),
    });
    expect(out).toContain('devcluster is down');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`kts${s.runId}`);
    for (const pid of inNs) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(dir);
    expect(execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })).not.toMatch(/^(lxc|br0|n1|n2)\b/m);
    expect(existsSync(s.bpfRoot)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
