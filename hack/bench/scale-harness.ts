// The scale harness's workload and measurements. Simulated remote nodes write what their agents
// would: a CiliumNode each, and a CiliumEndpoint per pod (created, then its status patched, owned
// by its CiliumNode so the operator's GC keeps it while the node exists) — no Pods, no kubelets.
// Around them: `pods/100` namespaces, CiliumIdentities, CiliumNetworkPolicies. Then churn at a
// steady rate (CEPs created, deleted, relabelled = a new identity) while the remote pod's
// creation → its entry in the agent's ipcache is timed, an agent restart, the operator's CEP GC
// once every simulated node is gone, and its identity GC once no endpoint uses the identities
// (scale-identity-gc.ts).
import { loadavg } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { KubeObject, ResourceRef } from '../../controllers/framework/index.js';
import type { AgentUnderTest, RestartReport } from './scale-agents.js';
import { identityGcPhase, IDS, type IdentityGcReport } from './scale-identity-gc.js';
import { pool } from './pool.js';
import { resumingWatch } from './scale-watch.js';

export interface ScaleOptions {
  /** Remote pods (CiliumEndpoints) in the steady state. */
  pods: number;
  /** Distinct identities the pods carry (default pods/10, at most 55,536: the 16-bit cluster range from FIRST_ID). */
  identities?: number;
  /** CiliumNetworkPolicies (default 1,000). */
  policies?: number;
  /** Pods per simulated node (default 100). */
  podsPerNode?: number;
  /** Churn operations per second (default 20) and for how long (default 20 s). */
  churnRate?: number;
  churnSeconds?: number;
  /**
   * Phases to leave out (a 50,000-pod load alone takes most of an hour on a busy machine); `gc`
   * leaves out both collectors (the identities stay in use without the CEP GC), `idgc` the identity one.
   */
  skip?: readonly ('restart' | 'gc' | 'idgc')[];
  /** The identity GC phase's `identity-heartbeat-timeout`, seconds (default 60). */
  identityHeartbeatS?: number;
  /** Concurrent API requests while loading (default 32). */
  concurrency?: number;
  progress?: (line: string) => void;
  /** Called once every pod is loaded, before the churn (scale-restart.ts records a kept cluster's load). */
  onLoaded?: () => void;
}

export interface ScaleReport {
  pods: number;
  nodes: number;
  identities: number;
  policies: number;
  loadS: number;
  /** RSS before the remote objects, after them, and per remote pod (bytes: growth over the second half of the pods) */
  rssBaseMiB: number;
  rssMiB: number;
  perPodBytes: number;
  /** every loaded pod's entry reached the agent's ipcache */
  loadedInIpcache: number;
  churnOps: number;
  /** after the churn: deleted pods' addresses still in the ipcache, live pods missing or with a stale identity */
  stale: number;
  wrong: number;
  churnEvents: number;
  latencyMs: { n: number; p50: number; p99: number; max: number };
  /**
   * The same creates split where the harness's own CEP watch saw the status with the identity:
   * create → that watch event (the API server: create, status patch, watch fan-out) and watch
   * event → the agent's map entry (the agent's share, its watch delivered at about the same time).
   */
  splitMs: { api: { p50: number; p99: number }; agent: { p50: number; p99: number }; n: number };
  cpuPer1kEventsS: number;
  restart: RestartReport;
  /** the agent's V8 heap after its last major GC, after the churn (cilium_agent_heap_after_gc_bytes; 0 = none yet) */
  heapAfterGcMiB: number;
  /** Where the agent's RSS was once loaded and after the churn, from its memory gauges (MiB). */
  memory: { loaded: AgentMemory; afterChurn: AgentMemory };
  /**
   * The agent's garbage-collection pauses during the churn (nodejs_gc_duration_seconds): major GCs,
   * their total, and how many stopped the agent for more than 100 ms (each delays every event then)
   */
  agentGc: { major: number; majorS: number; majorOver100ms: number; minorS: number };
  /** API requests per minute by the operator and by the agents (their service accounts), during churn and during the CEP GC */
  operatorRequestsPerMin: { churn: number; gc: number };
  agentRequestsPerMin: { churn: number };
  /**
   * CEPs collected after their nodes went (deleted with propagationPolicy Orphan: the API server
   * only strips the ownerReferences, the operator's CEP GC deletes), how long it took, how many
   * were left at the deadline, and the deletes the operator itself sent; `waitS`: until the first
   * was gone (the operator's CEP GC runs every cilium-endpoint-gc-interval, 5 min), the rest deleting
   */
  gc: {
    ceps: number;
    seconds: number;
    waitS: number;
    left: number;
    operatorDeletes: number;
    /** the harness's node deletions done, and the first CEP released by the API server's collector (s after the start) */
    nodesDeletedS: number;
    firstOrphanedS: number;
  };
  /** The operator's identity GC over the harness's identities once no endpoint uses them; undefined when skipped. */
  identityGc?: IdentityGcReport;
  apiRequestsPerMin: number;
  loadAverage: number[];
}

export const CEPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
export const CNODES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnodes',
  kind: 'CiliumNode',
  namespaced: false,
};
const CNPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumnetworkpolicies',
  kind: 'CiliumNetworkPolicy',
  namespaced: true,
};
export const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };

/**
 * First numeric identity the harness uses (staying clear of what the real nodes' pods hash to is
 * not needed: ids are probed); up to 65,535 that leaves room for 50,000 identities.
 */
const FIRST_ID = 10_000;
const LAST_ID = 65_535;

export const pct = (xs: readonly number[], p: number): number =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]! : NaN;

/** A deterministic PRNG (mulberry32): the same workload each run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimPod {
  ns: string;
  name: string;
  node: number;
  ip: string;
  identity: number;
}

export async function runScale(agent: AgentUnderTest, o: ScaleOptions): Promise<ScaleReport> {
  const log = o.progress ?? (() => {});
  const client = agent.client;
  const perNode = o.podsPerNode ?? 100;
  const nodes = Math.max(1, Math.ceil(o.pods / perNode));
  const identities = Math.max(1, Math.min(LAST_ID - FIRST_ID + 1, o.identities ?? Math.ceil(o.pods / 10)));
  const policies = o.policies ?? 1000;
  const namespaces = Math.max(1, Math.ceil(o.pods / 100));
  const conc = o.concurrency ?? 32;
  const rand = rng(25);
  let requests = 0;
  const counted = <T>(p: Promise<T>): Promise<T> => (requests++, p);

  const nsName = (i: number) => `scale-${i}`;
  const nodeName = (i: number) => `sim-node-${i}`;
  /** node i's pod CIDR 10.(128+i/256).(i%256).0/24; slot j (0..252) its .j+2 */
  const podIp = (node: number, slot: number) => `10.${128 + (node >> 8)}.${node & 255}.${slot + 2}`;
  const freeSlots = Array.from({ length: nodes }, () => Array.from({ length: 253 }, (_, j) => 252 - j));

  const t0 = Date.now();
  log(`loading: ${namespaces} namespaces, ${nodes} simulated nodes, ${identities} identities, ${policies} policies`);
  await pool(
    Array.from({ length: namespaces }, (_, i) => i),
    conc,
    (i) =>
      counted(
        client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName(i) } }).catch(ignoreExists),
      ),
  );
  const nodeUids: string[] = [];
  await pool(
    Array.from({ length: nodes }, (_, i) => i),
    conc,
    async (i) => {
      const created = await counted(
        client.create<KubeObject>(CNODES, {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNode',
          metadata: { name: nodeName(i) },
          spec: {
            addresses: [{ type: 'InternalIP', ip: `172.31.${i >> 8}.${i & 255}` }],
            ipam: { podCIDRs: [`10.${128 + (i >> 8)}.${i & 255}.0/24`] },
          },
        }),
      );
      nodeUids[i] = created.metadata?.uid ?? '';
    },
  );
  /** the identities this run created (one that existed already may be a real pod's, in use) */
  const createdIds = new Set<string>();
  await pool(
    Array.from({ length: identities }, (_, i) => i),
    conc,
    (i) =>
      counted(
        client
          .create(IDS, {
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumIdentity',
            metadata: { name: String(FIRST_ID + i), labels: { app: `app-${i}` } },
            'security-labels': {
              'k8s:app': `app-${i}`,
              'k8s:io.kubernetes.pod.namespace': nsName(i % namespaces),
            },
          } as KubeObject)
          .then(() => void createdIds.add(String(FIRST_ID + i)), ignoreExists),
      ),
  );
  await pool(
    Array.from({ length: policies }, (_, i) => i),
    conc,
    (i) =>
      counted(
        client.create(CNPS, {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNetworkPolicy',
          metadata: { name: `allow-${i}`, namespace: nsName(i % namespaces) },
          spec: {
            endpointSelector: { matchLabels: { app: `app-${i % identities}` } },
            ingress: [
              {
                fromEndpoints: [{ matchLabels: { app: `app-${(i * 7 + 1) % identities}` } }],
                toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
              },
            ],
          },
        }),
      ),
  );
  await settle();
  const rssBase = agent.rss();

  const live = new Map<string, SimPod>();
  let seq = 0;
  const newPod = (): SimPod | undefined => {
    for (let tries = 0; tries < nodes; tries++) {
      const node = Math.floor(rand() * nodes);
      const slot = freeSlots[node]!.pop();
      if (slot === undefined) continue;
      const n = seq++;
      return {
        ns: nsName(n % namespaces),
        name: `pod-${n}`,
        node,
        ip: podIp(node, slot),
        identity: FIRST_ID + Math.floor(rand() * identities),
      };
    }
    return undefined;
  };
  const writeCep = async (p: SimPod) => {
    await counted(
      client.create(CEPS, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumEndpoint',
        metadata: {
          name: p.name,
          namespace: p.ns,
          labels: { 'cilium.io/node': nodeName(p.node) },
          ownerReferences: [
            { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name: nodeName(p.node), uid: nodeUids[p.node] },
          ],
        },
      } as KubeObject),
    );
    await patchIdentity(p);
  };
  const patchIdentity = (p: SimPod) =>
    counted(
      client.patch(
        CEPS,
        p.name,
        p.ns,
        {
          status: {
            id: 1,
            identity: { id: p.identity, labels: [`k8s:app=app-${p.identity - FIRST_ID}`] },
            networking: { addressing: [{ ipv4: p.ip }], node: `172.31.${p.node >> 8}.${p.node & 255}` },
            state: 'ready',
          },
        } as KubeObject,
        'merge',
        { subresource: 'status' },
      ),
    );

  // Loaded in two halves: the RSS growth over the second half is the marginal cost per remote pod
  // (the first objects also pay for code paths warming up and the heap's first growth).
  const initial = Array.from({ length: o.pods }, () => newPod()).filter((p): p is SimPod => Boolean(p));
  const half = Math.floor(initial.length / 2);
  let rssHalf = 0;
  for (const [part, from, to] of [
    [1, 0, half],
    [2, half, initial.length],
  ] as const) {
    log(`loading CiliumEndpoints ${from}..${to}`);
    await pool(initial.slice(from, to), conc, async (p) => {
      await writeCep(p);
      live.set(`${p.ns}/${p.name}`, p);
    });
    await waitIn(agent, initial.slice(from, to), 300_000);
    await settle();
    if (part === 1) rssHalf = agent.rss();
  }
  const loadedInIpcache = await waitIn(agent, [...live.values()], 300_000);
  const loadS = (Date.now() - t0) / 1000;
  const rss = agent.rss();
  const memLoaded = agentMemory(await agent.agentMetrics());
  log(`loaded in ${loadS.toFixed(1)} s; ${loadedInIpcache}/${live.size} in the ipcache; RSS ${mib(rss)} MiB`);
  log(`agent memory once loaded: ${memoryLine(memLoaded)}`);
  o.onLoaded?.();

  // Churn: a steady rate of creates, deletes and relabels; each create timed to its ipcache entry.
  const rate = o.churnRate ?? 20;
  const seconds = o.churnSeconds ?? 20;
  const latencies: number[] = [];
  const apiPart: number[] = [];
  const agentPart: number[] = [];
  const pending = new Map<string, { start: number; identity: number; seen?: number }>();
  // The harness's own CEP watch: when the API server delivered each create's identity to a watcher.
  const seenAt = new Map<string, { at: number; identity: number }>();
  const watchAbort = new AbortController();
  const watchFrom = (await client.list(CEPS, { limit: 1 })).metadata.resourceVersion;
  const watching = (async () => {
    try {
      for await (const ev of client.watch<KubeObject>(CEPS, { resourceVersion: watchFrom }, watchAbort.signal)) {
        const st = (
          ev.object as { status?: { identity?: { id?: number }; networking?: { addressing?: { ipv4?: string }[] } } }
        ).status;
        const ip = st?.networking?.addressing?.[0]?.ipv4;
        const id = st?.identity?.id;
        if (ev.type !== 'DELETED' && ip && id) seenAt.set(ip, { at: performance.now(), identity: id });
      }
    } catch {
      // the split is a diagnostic: a broken watch leaves it empty, never the benchmark failed
    }
  })();
  let ops = 0;
  let events = 0;
  const cpu0 = agent.cpuSeconds();
  const gc0 = gcPauses(await agent.agentMetrics());
  const reqs0 = requests;
  const api0 = requestsByUser(await agent.apiServerMetrics());
  const churnStart = Date.now();
  // A failed churn request is counted and logged, never left to reject unobserved (that ended the
  // process without taking its cluster down).
  let churnFailures = 0;
  const inflight = {
    all: [] as Promise<unknown>[],
    push(p: Promise<unknown>) {
      this.all.push(
        p.catch((e: unknown) => {
          if (churnFailures++ < 5) log(`churn request failed: ${(e as Error).message}`);
        }),
      );
    },
  };
  const deletedIps: string[] = [];
  const poller = setInterval(() => {
    if (!pending.size) return;
    const found = agent.lookup([...pending.keys()]);
    const now = performance.now();
    for (const [ip, id] of found) {
      const p = pending.get(ip)!;
      if (id === p.identity) {
        latencies.push(now - p.start);
        const seen = seenAt.get(ip);
        if (seen && seen.identity === p.identity && seen.at >= p.start) {
          apiPart.push(seen.at - p.start);
          agentPart.push(Math.max(0, now - seen.at));
        }
        pending.delete(ip);
      }
    }
  }, 2);
  while (Date.now() - churnStart < seconds * 1000) {
    const due = churnStart + (ops * 1000) / rate;
    if (Date.now() < due) await new Promise((r) => setTimeout(r, due - Date.now()));
    ops++;
    const r = rand();
    const keys = [...live.keys()];
    if (r < 0.4 || keys.length === 0) {
      const p = newPod();
      if (!p) continue;
      const start = performance.now();
      events += 2;
      inflight.push(
        writeCep(p).then(() => {
          live.set(`${p.ns}/${p.name}`, p);
          pending.set(p.ip, { start, identity: p.identity });
        }),
      );
    } else if (r < 0.7) {
      const key = keys[Math.floor(rand() * keys.length)]!;
      const p = live.get(key)!;
      live.delete(key);
      deletedIps.push(p.ip);
      events++;
      inflight.push(
        counted(client.delete(CEPS, p.name, p.ns)).then(() => freeSlots[p.node]!.push(Number(p.ip.split('.')[3]) - 2)),
      );
    } else {
      const key = keys[Math.floor(rand() * keys.length)]!;
      const p = live.get(key)!;
      p.identity = FIRST_ID + Math.floor(rand() * identities);
      events++;
      inflight.push(patchIdentity(p));
    }
  }
  await Promise.all(inflight.all);
  if (churnFailures) log(`${churnFailures} churn requests failed`);
  const drainUntil = Date.now() + 30_000;
  while (pending.size && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(poller);
  watchAbort.abort();
  await watching;
  // After the churn the ipcache must say exactly what the API says: every live pod with its
  // identity, no deleted pod's address (unless a live pod reuses it).
  await settle();
  const liveIps = new Set([...live.values()].map((p) => p.ip));
  const stale = agent.lookup(deletedIps.filter((ip) => !liveIps.has(ip))).size;
  const wrong = [...live.values()].length - (await waitIn(agent, [...live.values()], 30_000));
  const churnMin = (Date.now() - churnStart) / 60_000;
  const cpu = agent.cpuSeconds() - cpu0;
  const gc1 = gcPauses(await agent.agentMetrics());
  const apiRequestsPerMin = (requests - reqs0) / churnMin;
  const api1 = requestsByUser(await agent.apiServerMetrics());
  const churnRate = (user: string) => Math.round(((api1.get(user) ?? 0) - (api0.get(user) ?? 0)) / churnMin);
  log(
    `churn: ${ops} ops, ${latencies.length} creates timed, ${pending.size} never seen; after it ${stale} deleted pods still in the ipcache, ${wrong} live pods missing or wrong`,
  );

  await settle();
  // Read late: the gauge is 0 until V8's first major GC, which a young process may not have had.
  const metricsAfterChurn = await agent.agentMetrics();
  const heapAfterGc = metricValue(metricsAfterChurn, 'cilium_agent_heap_after_gc_bytes');
  const memAfterChurn = agentMemory(metricsAfterChurn);
  log(`agent memory after the churn: ${memoryLine(memAfterChurn)}`);
  const skipped = new Set(o.skip ?? []);
  let restart: ScaleReport['restart'] = { readyMs: NaN, rewritten: NaN, unchanged: NaN, stagesMs: {} };
  if (!skipped.has('restart')) {
    log('restarting the agent');
    restart = await agent.restart();
    log(`restart: ready in ${restart.readyMs} ms, ${restart.rewritten} entries rewritten`);
  }

  let gc: ScaleReport['gc'] = {
    ceps: NaN,
    seconds: NaN,
    waitS: NaN,
    left: NaN,
    operatorDeletes: NaN,
    nodesDeletedS: NaN,
    firstOrphanedS: NaN,
  };
  let operatorGcPerMin = NaN;
  if (!skipped.has('gc')) {
    // Operator GC: every simulated node goes; the CEPs they own must follow. Orphan: the API server's
    // ownerReference collector would otherwise delete them itself (as kube-controller-manager's
    // would), and that is not the operator's GC; orphaned, they are the operator's to find (no owner,
    // no pod of their name) and delete at its client's rate limit.
    log('deleting the simulated nodes, orphaning their CiliumEndpoints (the operator collects them)');
    const gcStart = Date.now();
    const gcApi0 = requestsByUser(await agent.apiServerMetrics());
    const gcDeletes0 = requestsByUser(await agent.apiServerMetrics(), 'delete');
    const cepsBefore = live.size;
    // The phase's clock is a watch of the CEPs: when the API server's collector first released one
    // (its ownerReference gone), when the operator's first and last delete landed.
    const waiting = new Set(live.keys());
    let gone = 0;
    let firstOrphanedAt = 0;
    let firstGoneAt = 0;
    const watch = resumingWatch(
      client,
      CEPS,
      (await client.list(CEPS, { limit: 1 })).metadata.resourceVersion,
      () => [...waiting].map((k) => ({ metadata: { namespace: k.split('/')[0], name: k.split('/')[1] } })),
      (type, obj) => {
        const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
        if (!waiting.has(key)) return;
        if (type === 'DELETED') {
          waiting.delete(key);
          gone++;
          firstGoneAt ||= Date.now();
        } else if (!obj.metadata?.ownerReferences?.length) firstOrphanedAt ||= Date.now();
      },
    );
    await pool(
      Array.from({ length: nodes }, (_, i) => i),
      conc,
      (i) =>
        counted(client.delete(CNODES, nodeName(i), undefined, { propagationPolicy: 'Orphan' }).catch(() => undefined)),
    );
    const nodesDeletedAt = Date.now();
    // within the interval (cilium-endpoint-gc-interval, 5 min) plus the deletes at upstream's 100 QPS, twice over
    const gcDeadline = Date.now() + 300_000 + cepsBefore * 20;
    let logged = Date.now();
    while (gone < cepsBefore && Date.now() < gcDeadline) {
      await new Promise((r) => setTimeout(r, 250));
      if (Date.now() - logged >= 30_000) {
        logged = Date.now();
        log(`CEP GC: ${gone} of ${cepsBefore} gone`);
      }
    }
    const lastGoneAt = Date.now();
    await watch.stop();
    // one list at the end says what is left, whatever the watch saw (the watch's count if it fails:
    // a list of 50,000 CEPs can outlast the client's 30 s timeout on a loaded machine)
    const left = await client
      .list(CEPS)
      .then((l) => l.items.filter((c) => c.metadata?.namespace?.startsWith('scale-')).length)
      .catch(() => cepsBefore - gone);
    const gcSeconds = (lastGoneAt - gcStart) / 1000;
    const gcApi1 = requestsByUser(await agent.apiServerMetrics());
    const gcDeletes1 = requestsByUser(await agent.apiServerMetrics(), 'delete');
    gc = {
      ceps: cepsBefore - left,
      seconds: gcSeconds,
      waitS: round(((firstGoneAt || lastGoneAt) - gcStart) / 1000),
      nodesDeletedS: round((nodesDeletedAt - gcStart) / 1000),
      firstOrphanedS: firstOrphanedAt ? round((firstOrphanedAt - gcStart) / 1000) : NaN,
      left,
      operatorDeletes: (gcDeletes1.get(OPERATOR_USER) ?? 0) - (gcDeletes0.get(OPERATOR_USER) ?? 0),
    };
    const gcMin = gc.seconds / 60;
    operatorGcPerMin = Math.round(((gcApi1.get(OPERATOR_USER) ?? 0) - (gcApi0.get(OPERATOR_USER) ?? 0)) / gcMin);
  }

  let identityGc: IdentityGcReport | undefined;
  if (!skipped.has('gc') && !skipped.has('idgc')) {
    // a failure here must not cost the figures measured so far: it is logged and the phase reported missing
    identityGc = await identityGcPhase(agent, client, createdIds, {
      heartbeatS: o.identityHeartbeatS,
      operatorRequests: async () => requestsByUser(await agent.apiServerMetrics()).get(OPERATOR_USER) ?? 0,
      progress: log,
    }).catch((e: unknown) => {
      log(`identity GC phase failed: ${(e as Error).message}`);
      return undefined;
    });
  }

  return {
    pods: o.pods,
    nodes,
    identities,
    policies,
    loadS,
    rssBaseMiB: mib(rssBase),
    rssMiB: mib(rss),
    perPodBytes: Math.round((rss - rssHalf) / Math.max(1, initial.length - half)),
    loadedInIpcache,
    churnOps: ops,
    stale,
    wrong,
    churnEvents: events,
    latencyMs: {
      n: latencies.length,
      p50: round(pct(latencies, 50)),
      p99: round(pct(latencies, 99)),
      max: round(Math.max(...latencies)),
    },
    splitMs: {
      n: apiPart.length,
      api: { p50: round(pct(apiPart, 50)), p99: round(pct(apiPart, 99)) },
      agent: { p50: round(pct(agentPart, 50)), p99: round(pct(agentPart, 99)) },
    },
    cpuPer1kEventsS: round((cpu / Math.max(1, events)) * 1000),
    restart,
    heapAfterGcMiB: mib(heapAfterGc),
    memory: { loaded: memLoaded, afterChurn: memAfterChurn },
    agentGc: {
      major: gc1.major - gc0.major,
      majorS: round(gc1.majorS - gc0.majorS),
      majorOver100ms: gc1.majorOver100ms - gc0.majorOver100ms,
      minorS: round(gc1.minorS - gc0.minorS),
    },
    operatorRequestsPerMin: {
      churn: churnRate(OPERATOR_USER),
      gc: operatorGcPerMin,
    },
    agentRequestsPerMin: { churn: churnRate(AGENT_USER) },
    gc,
    identityGc,
    apiRequestsPerMin: Math.round(apiRequestsPerMin),
    loadAverage: loadavg().map(round),
  };
}

const OPERATOR_USER = 'system:serviceaccount:kube-system:cilium-operator';
const AGENT_USER = 'system:serviceaccount:kube-system:cilium';

/** The sum of a metric's series in Prometheus text (NaN when it has none). */
function metricValue(text: string, name: string): number {
  let sum = NaN;
  for (const l of text.split('\n'))
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      sum = (Number.isNaN(sum) ? 0 : sum) + Number(l.slice(l.lastIndexOf(' ') + 1));
  return sum;
}

/** The agent's memory by part, MiB (its process_resident_memory_bytes, nodejs_* gauges; NaN before they existed). */
export interface AgentMemory {
  rss: number;
  /** V8's reserved heap, its used part, and old space's reserved part */
  heapTotal: number;
  heapUsed: number;
  oldSpaceTotal: number;
  /** outside V8's heap: external (Buffers, ArrayBuffers, the addon's) and its ArrayBuffer part */
  external: number;
  arrayBuffers: number;
}

function agentMemory(text: string): AgentMemory {
  const oldSpace = /^nodejs_heap_space_size_total_bytes\{space="old"\} (\S+)$/m.exec(text);
  return {
    rss: mib(metricValue(text, 'process_resident_memory_bytes')),
    heapTotal: mib(metricValue(text, 'nodejs_heap_size_total_bytes')),
    heapUsed: mib(metricValue(text, 'nodejs_heap_size_used_bytes')),
    oldSpaceTotal: mib(oldSpace ? Number(oldSpace[1]) : NaN),
    external: mib(metricValue(text, 'nodejs_external_memory_bytes')),
    arrayBuffers: mib(metricValue(text, 'nodejs_array_buffers_bytes')),
  };
}

/** One line of an AgentMemory: the RSS, V8's heap (reserved / used), the rest. */
export function memoryLine(m: AgentMemory): string {
  return `RSS ${m.rss} MiB = V8 heap ${m.heapTotal} reserved (${m.heapUsed} used; old space ${m.oldSpaceTotal} reserved) + external ${m.external} (ArrayBuffers ${m.arrayBuffers}) + the rest ${Math.round((m.rss - m.heapTotal - m.external) * 10) / 10} (code, stacks, malloc)`;
}

/** The agent's GC pauses so far, from its nodejs_gc_duration_seconds histogram. */
function gcPauses(text: string): ScaleReport['agentGc'] {
  const series = (suffix: string, kind: string, le?: string) => {
    for (const l of text.split('\n')) {
      if (!l.startsWith(`nodejs_gc_duration_seconds_${suffix}{`) || !l.includes(`kind="${kind}"`)) continue;
      if (le === undefined || l.includes(`le="${le}"`)) return Number(l.slice(l.lastIndexOf(' ') + 1));
    }
    return 0;
  };
  const major = series('count', 'major');
  return {
    major,
    majorS: series('sum', 'major'),
    majorOver100ms: major - series('bucket', 'major', '0.1'),
    minorS: series('sum', 'minor'),
  };
}

/** The API server's requests so far by user (devcluster_apiserver_user_requests_total), of one verb if given (e.g. "delete"). */
function requestsByUser(text: string, verb?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^devcluster_apiserver_user_requests_total\{user="([^"]*)"([^}]*)\} (\d+)$/gm)) {
    if (verb && !new RegExp(`verb="${verb}"`, 'i').test(m[2]!)) continue;
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[3]));
  }
  return out;
}

const round = (x: number) => Math.round(x * 100) / 100;
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
const settle = () => new Promise((r) => setTimeout(r, 2000));
const ignoreExists = (e: unknown) => {
  if ((e as { status?: number }).status !== 409) throw e;
};

/** Waits until every pod's IP maps to its identity in the agent's ipcache; how many did. */
async function waitIn(agent: AgentUnderTest, pods: readonly SimPod[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let ok = 0;
  for (;;) {
    ok = 0;
    for (let i = 0; i < pods.length; i += 4096) {
      const chunk = pods.slice(i, i + 4096);
      const found = agent.lookup(chunk.map((p) => p.ip));
      for (const p of chunk) if (found.get(p.ip) === p.identity) ok++;
    }
    if (ok === pods.length || Date.now() > deadline) return ok;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Used heap after full GCs (a few: weak references and finalizers need more than one); the process
 * must run with `node --expose-gc`.
 */
export async function heapUsedAfterGc(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return getHeapStatistics().used_heap_size;
}
