// Agent restart soak (issue 16): a two-node devcluster with a TCP stream between pods across the
// nodes and connect loops between pods on both nodes (allowed and denied pairs under a
// CiliumNetworkPolicy); node-1's cilium-agent process is SIGKILLed `--cycles` times, the kubelet
// restarts it, and each cycle waits until the agent container is Ready again. It asserts and
// prints: the stream never breaks (bytes keep flowing, no reset, no stall), no allowed connect
// fails, no denied one succeeds, and no map entry that was right is rewritten — counted twice: the
// agent's own "datapath writes after restart" figures, and a diff of node-1's pinned maps (every
// entry of every map whose contents only the agent writes) before the kill and after Ready.
// The kubelet's CrashLoopBackOff would wait up to 5 min between restarts; the devcluster's
// maxContainerRestartPeriod (KEP-4603) is set to 1 s for the run.
// Needs root (network namespaces, bpffs). Not part of `npm test`:
//   npm run soak:restart -- [--cycles 100] [--max-minutes M] [--agent-log FILE (a copy of node-1's agent log)]
// The killed agent pod is a backend of the hubble-peer Service while Ready, so each kill changes
// that Service and the restarted agent rightly writes its load-balancer entries; those count as
// rewritten only when a write left an entry as it was (more writes than changed entries).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../controllers/framework/index.js';
import { loadAddon } from '../datapath/addon.js';
import { downDetached, upDetached } from '../devcluster/cluster.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../devcluster/nodes/cluster-checks.js';
import { NodesLayout } from '../devcluster/nodes/layout.js';
import { downNodes, podNetns, upNodes } from '../devcluster/nodes/nodes.js';

const { values } = parseArgs({
  options: { cycles: { type: 'string' }, 'agent-log': { type: 'string' }, 'max-minutes': { type: 'string' } },
});
const CYCLES = Number(values.cycles ?? 100);
/** Stops early (and says so) once this much time went by, so a slow machine still reports. */
const MAX_MINUTES = Number(values['max-minutes'] ?? Infinity);
const KILLED_NODE = 'node-1';
const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const NAMESPACES: ResourceRef = {
  group: '',
  version: 'v1',
  plural: 'namespaces',
  kind: 'Namespace',
  namespaced: false,
};
const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
/** Map types whose entries the datapath itself writes (conntrack LRUs, per-CPU counters, rings). */
const DATAPATH_WRITTEN_MAP_TYPES = new Set([5, 6, 9, 10, 27]);
const HASH_OF_MAPS = 13;
const ARRAY_OF_MAPS = 12;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (m: string): void => console.log(`${new Date().toISOString()} ${m}`);
const percentile = (sorted: number[], p: number): number =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;

// server-N run a listener on 8080 (the connect loops) and server-2 also the stream's echo on 9000;
// client-N may reach every server, other-N none (the CNP below).
/**
 * The connect loops' listener: accepts and closes, with a deep accept queue. (python's
 * http.server listens with a backlog of 5: on a busy machine its queue overflowed and the kernel
 * dropped SYNs, which the loops saw as failed allowed connects — 22 drops for 18 failures.)
 */
const ACCEPT_SERVER = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 8080)); s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()
`;
const POD_SPECS = ['1', '2'].flatMap((n) => [
  { name: `server-${n}`, app: 'server', node: `node-${n}`, command: ['python3', '-c', ACCEPT_SERVER] },
  { name: `client-${n}`, app: 'client', node: `node-${n}`, command: ['sleep', 'infinity'] },
  { name: `other-${n}`, app: 'other', node: `node-${n}`, command: ['sleep', 'infinity'] },
]);
const CNP = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'soak-servers', namespace: 'soak' },
  spec: {
    endpointSelector: { matchLabels: { app: 'server' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'client' } }],
        toPorts: [
          {
            ports: [
              { port: '8080', protocol: 'TCP' },
              { port: '9000', protocol: 'TCP' },
            ],
          },
        ],
      },
    ],
  },
};

/** A connect every ~50 ms to each target, 1 s timeout (a lost SYN is a failure); one line per try. */
const CONNECT_LOOP = `
import socket, sys, time
targets = [t.split('=') for t in sys.argv[1:]]
while True:
    for name, ip in targets:
        s = socket.socket(); s.settimeout(1.0)
        try:
            s.connect((ip, 8080)); r = 'ok'
        except Exception as e:
            r = 'no'
        finally:
            s.close()
        print(name, r, flush=True)
    time.sleep(0.05)
`;
/** The stream's client: 1 KiB out, the same back, every 20 ms; any error or a 5 s stall ends it. */
const STREAM_CLIENT = `
import socket, sys, time
deadline = time.time() + 60
while True:  # until the echo server listens (python starts slowly on a busy machine)
    try:
        s = socket.create_connection((sys.argv[1], 9000), timeout=5)
        break
    except ConnectionRefusedError:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
n = 0
while True:
    s.sendall(b'x' * 1024)
    got = 0
    while got < 1024:
        d = s.recv(4096)
        if not d:
            raise SystemExit('connection closed by the server')
        got += len(d)
    n += got
    print(n, flush=True)
    time.sleep(0.02)
`;
const ECHO_SERVER = `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9000)); s.listen(1)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d:
        break
    c.sendall(d)
`;

const dir = mkdtempSync(join(tmpdir(), 'kts-restart-soak-'));
// inherited by the nodes daemon, whose pod runner restarts the killed agent
process.env.KTS_DEVCLUSTER_MAX_CONTAINER_RESTART_PERIOD_MS = '1000';
const children: ChildProcess[] = [];
// Ctrl-C ends the cycles after the current one; the figures so far are printed and everything is
// torn down as on a normal end.
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => (interrupted = true));
const addon = loadAddon();

/** Runs python in a pod's network namespace; stdout lines go to `onLine`. */
async function inPod(pod: string, script: string, args: string[], onLine: (l: string) => void): Promise<ChildProcess> {
  const netns = await podNetns(dir, pod);
  const p = spawn('nsenter', [`--net=${netns}`, '--', 'python3', '-u', '-c', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(p);
  let pending = '';
  p.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) if (l.trim()) onLine(l.trim());
  });
  return p;
}

/**
 * SYNs the pod's own kernel dropped because a listener's accept queue was full (TcpExt
 * ListenDrops): a connect that fails for this was refused by the server, not by the network.
 */
async function listenDrops(pod: string): Promise<number> {
  const netstat = execFileSync('nsenter', [`--net=${await podNetns(dir, pod)}`, '--', 'cat', '/proc/net/netstat'], {
    encoding: 'utf8',
  }).split('\n');
  const [names, nums] = netstat.filter((l) => l.startsWith('TcpExt:')).map((l) => l.split(/\s+/));
  return Number(nums?.[names?.indexOf('ListenDrops') ?? -1] ?? 0);
}

/**
 * Every entry of every map pinned under `root` that only the agent writes, as "map/key" → value
 * (hex); the inner maps of map-in-map pins by their contents, so a swapped-in copy with the same
 * entries counts as unchanged here (the agent's own figures count such swaps).
 */
function snapshotMaps(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  const dumpInto = (fd: number, label: string, depth: number): void => {
    const info = addon.mapInfo(fd);
    if (DATAPATH_WRITTEN_MAP_TYPES.has(info.type)) return;
    const d = addon.mapDump(fd, info.keySize, info.valueSize);
    for (let i = 0; i < d.count; i++) {
      const key = d.keys.subarray(i * info.keySize, (i + 1) * info.keySize);
      const value = d.values.subarray(i * info.valueSize, (i + 1) * info.valueSize);
      const name = `${label}/${hex(key)}`;
      if ((info.type === HASH_OF_MAPS || info.type === ARRAY_OF_MAPS) && depth === 0) {
        const inner = addon.mapFdById(Buffer.from(value).readUInt32LE(0));
        try {
          dumpInto(inner, name, 1);
        } finally {
          addon.close(inner);
        }
      } else out.set(name, hex(value));
    }
  };
  const walk = (path: string): void => {
    for (const entry of readdirSync(path)) {
      const p = join(path, entry);
      if (statSync(p).isDirectory()) walk(p);
      else {
        let fd = -1;
        try {
          fd = addon.objGet(p);
          dumpInto(fd, p.slice(root.length + 1), 0);
        } catch {
          // a pinned program or link, not a map
        } finally {
          if (fd >= 0) addon.close(fd);
        }
      }
    }
  };
  walk(root);
  return out;
}

/** Entries added, removed or changed between two snapshots, as "map/key: before → after". */
function mapDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} → ${b.get(k) ?? 'gone'}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: new → ${v}`);
  return out;
}

/**
 * Entries the agent reports having written at its start ("datapath writes after restart"): the
 * endpoint, ipcache and policy maps (`restore`), and the load-balancer maps (`lb`).
 */
function writesOf(line: string): { restore: number; lb: number } {
  const sum = (o: unknown, key = ''): number =>
    typeof o === 'number'
      ? ['added', 'updated', 'removed', 'upserts', 'deletes'].includes(key)
        ? o
        : 0
      : o && typeof o === 'object'
        ? Object.entries(o).reduce((n, [k, v]) => n + sum(v, k), 0)
        : 0;
  const w = JSON.parse(line) as Record<string, unknown>;
  return { restore: sum(w.ipcache) + sum(w.endpoints) + Number(w.policyMapsReplaced ?? 0), lb: sum(w.loadBalancer) };
}

/** The load-balancer maps (Services): their entries follow Service endpoints, which a kill changes. */
const isLbEntry = (d: string): boolean => /(^|\/)cilium_lb[^/]*\//.test(d);

let failed = false;
try {
  await upDetached({ dir, port: 0 });
  const nodes = await upNodes(dir, { nodes: 2 });
  const layout = new NodesLayout(dir);
  const client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  await waitForPodCIDRs(client, 2, 60_000);
  log(`up: ${nodes.nodes.map((n) => n.name).join(', ')} in ${dir}`);

  await client.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'soak' } } as KubeObject);
  for (const p of POD_SPECS)
    await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: 'soak', labels: { app: p.app } },
      spec: { nodeName: p.node, containers: [{ name: 'main', image: 'none', command: p.command }] },
    } as KubeObject);
  await testing.waitFor(
    () =>
      client.create(CNPS, CNP as KubeObject).then(
        () => true,
        () => false,
      ),
    {
      what: 'the CNP accepted (its CRD installed by the agents)',
      timeoutMs: 60_000,
    },
  );
  const ips = await waitForPods(client, {
    count: POD_SPECS.length,
    namespaces: ['soak'],
    what: 'soak pods',
    timeoutMs: 90_000,
  });
  const ip = (pod: string): string => ips.get(`soak/${pod}`)!;
  for (const [from, to, want] of [
    ['client-1', 'server-2', true],
    ['client-2', 'server-1', true],
    ['other-1', 'server-2', false],
    ['other-2', 'server-1', false],
  ] as const)
    await testing.waitFor(async () => (await tcpFromPod(dir, `soak/${from}`, ip(to), 8080, 1.0)) === want, {
      what: `${from} → ${to} ${want ? 'open' : 'closed by the CNP'}`,
      timeoutMs: 30_000,
      intervalMs: 200,
    });

  // the stream: client-1 (node-1) → server-2 (node-2), through the killed agent's node
  let streamBytes = 0;
  let streamErr = '';
  await inPod('soak/server-2', ECHO_SERVER, [], () => undefined);
  await sleep(500);
  const stream = await inPod('soak/client-1', STREAM_CLIENT, [ip('server-2')], (l) => (streamBytes = Number(l)));
  stream.stderr!.on('data', (d: Buffer) => (streamErr += d.toString()));
  stream.on('exit', (code) => (streamErr ||= `stream client exited ${code}`));

  // connect loops from both nodes: client-N to both servers (allowed), other-N to both (denied)
  const connects = { allowedOk: 0, allowedFailed: 0, deniedRefused: 0, deniedSucceeded: 0 };
  const failures: string[] = [];
  for (const n of ['1', '2'])
    for (const app of ['client', 'other']) {
      const allowed = app === 'client';
      const targets = ['server-1', 'server-2'].map((s) => `${s}=${ip(s)}`);
      await inPod(`soak/${app}-${n}`, CONNECT_LOOP, targets, (l) => {
        const ok = l.endsWith(' ok');
        if (allowed && ok) connects.allowedOk++;
        else if (allowed) {
          connects.allowedFailed++;
          failures.push(`${new Date().toISOString()} ${app}-${n} → ${l}`);
        } else if (ok) {
          connects.deniedSucceeded++;
          failures.push(`${new Date().toISOString()} ${app}-${n} → ${l} (denied, got through)`);
        } else connects.deniedRefused++;
      });
    }
  await testing.waitFor(
    () => {
      if (streamErr) throw new Error(`the stream did not start: ${streamErr}`);
      return streamBytes > 10_240 && connects.allowedOk > 10;
    },
    { what: 'traffic flowing', timeoutMs: 90_000 },
  );

  const agentLog = (): string[] => readFileSync(layout.node(KILLED_NODE).agentLog, 'utf8').split('\n');
  const agentPod = async (): Promise<{ pid: number; restartCount: number; ready: boolean }> => {
    const pods = await client.list<KubeObject & { status?: { containerStatuses?: Record<string, unknown>[] } }>(PODS, {
      namespace: 'kube-system',
      labelSelector: 'k8s-app=cilium',
      fieldSelector: `spec.nodeName=${KILLED_NODE}`,
    });
    const c = pods.items[0]?.status?.containerStatuses?.find((s) => s.name === 'cilium-agent');
    return {
      pid: Number(/^devcluster:\/\/(\d+)$/.exec(String(c?.containerID ?? ''))?.[1] ?? 0),
      restartCount: Number(c?.restartCount ?? -1),
      ready: c?.ready === true,
    };
  };
  const bpffs = join(nodes.bpfRoot, KILLED_NODE);
  await testing.waitFor(async () => (await agentPod()).ready, { what: `${KILLED_NODE}'s agent Ready` });
  const pinned = snapshotMaps(bpffs).size;
  // an empty snapshot would make "nothing changed" trivially true
  if (pinned === 0) throw new Error(`no pinned map entries under ${bpffs}`);
  log(`${pinned} pinned map entries under ${bpffs} are compared across each restart`);

  const readyMs: number[] = [];
  const agentReadyMs: number[] = [];
  /** Right entries written again: endpoint/ipcache/policy writes, LB writes beyond LB changes. */
  let rewritten = 0;
  let otherChanged = 0;
  let lbWritten = 0;
  let lbChanged = 0;
  let stalls = 0;
  let cycle = 0;
  const started = Date.now();
  for (; cycle < CYCLES && !streamErr && !interrupted && Date.now() - started < MAX_MINUTES * 60_000; cycle++) {
    const agent = await agentPod();
    const lines = agentLog();
    const readyBefore = lines.filter((l) => l.includes('"msg":"cilium-agent ready"')).length;
    const bytesBefore = streamBytes;
    const killedAt = Date.now();
    process.kill(agent.pid, 'SIGKILL');
    // The state the restarted agent will find: taken after the kill (nothing writes the maps until
    // the kubelet's restart, 1 s later), not before it, when the running agent may still be
    // applying a Service change (the hubble-peer backend coming back after the last restart).
    const before = snapshotMaps(bpffs);
    await testing.waitFor(
      async () => {
        const now = await agentPod();
        return now.restartCount > agent.restartCount && now.ready && now.pid !== agent.pid;
      },
      { what: `cycle ${cycle + 1}: the agent Ready again`, timeoutMs: 120_000, intervalMs: 100 },
    );
    readyMs.push(Date.now() - killedAt);
    const after = agentLog();
    const readyLines = after.filter((l) => l.includes('"msg":"cilium-agent ready"'));
    if (readyLines.length <= readyBefore)
      throw new Error(`cycle ${cycle + 1}: Ready without a "cilium-agent ready" line`);
    // the agent's own view: the kill to its "ready" line
    agentReadyMs.push(Number((JSON.parse(readyLines.at(-1)!) as { time?: number }).time) - killedAt);
    const writes = after.filter((l) => l.includes('"msg":"datapath writes after restart"')).at(-1);
    if (!writes) throw new Error(`cycle ${cycle + 1}: no "datapath writes after restart" line`);
    const written = writesOf(writes);
    const diff = mapDiff(before, snapshotMaps(bpffs));
    const lbDiff = diff.filter(isLbEntry).length;
    const cycleRewritten = written.restore + Math.max(0, written.lb - lbDiff);
    rewritten += cycleRewritten;
    otherChanged += diff.length - lbDiff;
    lbWritten += written.lb;
    lbChanged += lbDiff;
    if (written.restore + written.lb !== 0) log(`  the agent's writes: ${writes}`);
    for (const d of diff.slice(0, 10)) log(`  changed: ${d}`);
    if (streamBytes <= bytesBefore) stalls++;
    log(
      `cycle ${cycle + 1}/${CYCLES}: Ready after ${readyMs.at(-1)} ms; agent wrote ${written.restore} restore + ${written.lb} LB entries, pinned entries changed ${diff.length - lbDiff} + ${lbDiff} LB, rewritten ${cycleRewritten}; stream ${streamBytes} B; connects ${JSON.stringify(connects)}`,
    );
  }
  await sleep(2000); // the connects in flight at the last restart
  const serverDrops = (await listenDrops('soak/server-1')) + (await listenDrops('soak/server-2'));
  const minutes = (Date.now() - started) / 60_000;
  const sorted = [...readyMs].sort((a, b) => a - b);
  if (cycle < CYCLES)
    console.log(
      `stopped after ${cycle} of ${CYCLES} cycles (${interrupted ? 'interrupted' : `--max-minutes ${MAX_MINUTES}`})`,
    );
  console.log(`restart soak: ${cycle} SIGKILL cycles of ${KILLED_NODE}'s agent in ${minutes.toFixed(1)} min`);
  console.log(
    `  restart → Ready: p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`,
  );
  const agentSorted = [...agentReadyMs].sort((a, b) => a - b);
  console.log(
    `  kill → the agent's "cilium-agent ready" line: p50 ${percentile(agentSorted, 50)} ms, p99 ${percentile(agentSorted, 99)} ms`,
  );
  console.log(
    `  connects: allowed ${connects.allowedOk} ok / ${connects.allowedFailed} failed (servers' listen-queue drops: ${serverDrops}); denied ${connects.deniedRefused} refused / ${connects.deniedSucceeded} got through`,
  );
  console.log(
    `  stream: ${streamBytes} bytes echoed, ${stalls} cycles without progress, error: ${streamErr || 'none'}`,
  );
  console.log(
    `  right entries rewritten by restarts: ${rewritten}; endpoint/ipcache/policy entries changed: ${otherChanged}`,
  );
  console.log(`  Service (LB) entries written at restarts: ${lbWritten}, LB entries changed: ${lbChanged}`);
  for (const f of failures.slice(0, 20)) console.log(`  failure: ${f}`);
  failed =
    cycle < CYCLES ||
    connects.allowedFailed > 0 ||
    connects.deniedSucceeded > 0 ||
    streamErr !== '' ||
    stalls > 0 ||
    rewritten !== 0 ||
    otherChanged !== 0;
  client.close();
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  for (const c of children) c.kill('SIGKILL');
  if (values['agent-log'])
    try {
      copyFileSync(new NodesLayout(dir).node(KILLED_NODE).agentLog, values['agent-log']);
    } catch (e) {
      console.error(`no copy of the agent log: ${(e as Error).message}`);
    }
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
