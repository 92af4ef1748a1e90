// Benchmark (#18): CRD mode against kvstore mode on the same two-node devcluster set-up (each mode
// its own cluster, one after the other: the install's identity mode is fixed at install time).
// Simulated remote nodes and their pods are written where remote agents would write them — CRD
// mode: CiliumNodes, CiliumIdentities and CiliumEndpoints through the API server; kvstore mode:
// node, identity (id + per-node value) and IPIdentityPair keys in the kvstore etcd. Then new pods,
// each with a new identity, are created one by one, and the time until both real agents have the
// entry (with its identity) in their kernel ipcache maps is measured. Also counted over the whole
// run: API server requests (its request log), the agents' CPU and bytes read (/proc of their pids:
// watch streams from the API server or from etcd), and writes to the store behind the mode (etcd
// revisions: the API server's etcd in CRD mode, the kvstore etcd in kvstore mode).
//   npm run bench:kvstore [-- --nodes 20 --pods-per-node 500 --new-pods 100 --modes crd,kvstore]
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { encodeIpIdentityPair, encodeLabels, ipNet, type KvNode } from '../../controllers/kvstore/keys.js';
import { MapNames } from '../../datapath/constants.js';
import { remoteEndpointInfo } from '../../datapath/codecs.js';
import { ipcacheKeys } from '../../datapath/map-entries.js';
import { loadAddon } from '../../datapath/addon.js';
import { ensureEtcdTls, type EtcdTls } from '../../devcluster/apiserver/tls.js';
import { downDetached, readState, upDetached } from '../../devcluster/cluster.js';
import { downKvstoreEtcd, etcdSecretObject, upKvstoreEtcd } from '../../devcluster/kvstore-etcd.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { waitForPodCIDRs } from '../../devcluster/nodes/cluster-checks.js';
import { pct } from './scale-harness.js';
import { pool } from './pool.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    'pods-per-node': { type: 'string' },
    'new-pods': { type: 'string' },
    modes: { type: 'string' },
  },
});
const SIM_NODES = Number(values.nodes ?? 20);
const PODS_PER_NODE = Number(values['pods-per-node'] ?? 500);
const NEW_PODS = Number(values['new-pods'] ?? 100);
const MODES = (values.modes ?? 'crd,kvstore').split(',') as ('crd' | 'kvstore')[];
const IDENTITIES = 100;
const FIRST_ID = 30_000;
const log = (l: string) => console.error(`[kvstore-bench] ${l}`);

const res = (group: string, plural: string, kind: string, namespaced: boolean): ResourceRef => ({
  group,
  version: group ? 'v2' : 'v1',
  plural,
  kind,
  namespaced,
});
const CEPS = res('cilium.io', 'ciliumendpoints', 'CiliumEndpoint', true);
const CNODES = res('cilium.io', 'ciliumnodes', 'CiliumNode', false);
const IDS = res('cilium.io', 'ciliumidentities', 'CiliumIdentity', false);
const NS = res('', 'namespaces', 'Namespace', false);
const PODS = res('', 'pods', 'Pod', true);
const SIM_NS = 'bench-sim';

const nodeName = (i: number) => `sim-node-${i}`;
const nodeIp = (i: number) => `172.31.0.${i + 1}`;
/** sim node i has 10.(128+i).0.0/16 (room for 500 pods); pod j is .(j/250).(j%250+2) in it */
const podIp = (node: number, j: number) => `10.${128 + node}.${Math.floor(j / 250)}.${(j % 250) + 2}`;
const labelsOf = (id: number) => ({
  'k8s:app': `app-${id - FIRST_ID}`,
  'k8s:io.kubernetes.pod.namespace': SIM_NS,
});

function procIo(pid: number): { cpuS: number; readBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { cpuS: (Number(f[11]) + Number(f[12])) / 100, readBytes: Number(/rchar:\s+(\d+)/.exec(io)?.[1] ?? 0) };
}

const etcdClient = (endpoint: string, tls: EtcdTls) =>
  new Etcd3({
    hosts: endpoint,
    credentials: {
      rootCertificate: Buffer.from(tls.caCert),
      certChain: Buffer.from(tls.clientCert),
      privateKey: Buffer.from(tls.clientKey),
    },
  });
const revision = async (e: Etcd3) => Number((await e.get('bench-revision-probe').exec()).header.revision);

interface ModeReport {
  mode: string;
  loadS: number;
  latency: { p50: number; p99: number; max: number; n: number; missed: number };
  apiRequests: number;
  agentCpuS: number;
  agentReadMiB: number;
  storeWrites: number;
}

async function runMode(mode: 'crd' | 'kvstore'): Promise<ModeReport> {
  const dir = join(mkdtempSync(join(tmpdir(), `kts-bench-kvstore-${mode}-`)), 'c');
  const client = () => KubeClient.fromFile(join(dir, 'kubeconfig'));
  let k: KubeClient | undefined;
  let store: Etcd3 | undefined;
  try {
    await upDetached({ dir, port: 0 });
    const kv = mode === 'kvstore' ? await upKvstoreEtcd(dir) : undefined;
    const state = await upNodes(dir, {
      nodes: 2,
      progress: log,
      ...(kv ? { kvstore: { port: kv.port, secret: etcdSecretObject(kv.tls) } } : {}),
    });
    k = client();
    await waitForPodCIDRs(k, 2, 120_000);
    store = kv ? etcdClient(kv.endpoint, kv.tls) : etcdClient(readState(dir)!.etcdEndpoint, ensureEtcdTls(dir));
    const agents = await agentPids(k);
    const addon = loadAddon();
    const fds = state.nodes.map((n) => addon.objGet(join(state.bpfRoot, n.name, 'tc', 'globals', MapNames.ipcache)));
    const value = new Uint8Array(remoteEndpointInfo.size);
    /** how many agents hold `ip` with identity `id` */
    const seenBy = (ip: string, id: number) => {
      const key = ipcacheKeys([`${ip}/32`])[0]!;
      return fds.filter((fd) => addon.mapLookup(fd, key, value) && remoteEndpointInfo.decode(value).secIdentity === id)
        .length;
    };
    const apiLog = join(dir, 'apiserver.log');
    const apiLines = () => (existsSync(apiLog) ? readFileSync(apiLog, 'utf8').split('\n').length : 0);
    const before = { api: apiLines(), rev: await revision(store), io: agents.map(procIo) };

    const writer = mode === 'crd' ? crdWriter(k) : kvWriter(store);
    const t0 = Date.now();
    log(`${mode}: loading ${SIM_NODES} nodes × ${PODS_PER_NODE} pods, ${IDENTITIES} identities`);
    await writer.nodes();
    await pool(
      Array.from({ length: IDENTITIES }, (_, i) => FIRST_ID + i),
      16,
      (id) => writer.identity(id),
    );
    const pods = Array.from({ length: SIM_NODES * PODS_PER_NODE }, (_, n) => ({
      node: n % SIM_NODES,
      j: Math.floor(n / SIM_NODES),
      id: FIRST_ID + (n % IDENTITIES),
    }));
    await pool(pods, 32, (p) => writer.pod(p.node, p.j, p.id));
    // loaded once both agents hold the last pod
    const last = pods.at(-1)!;
    while (seenBy(podIp(last.node, last.j), last.id) < fds.length) await new Promise((r) => setTimeout(r, 100));
    const loadS = (Date.now() - t0) / 1000;
    log(`${mode}: loaded in ${loadS.toFixed(1)} s; ${NEW_PODS} new pods, each with a new identity`);

    const lat: number[] = [];
    let missed = 0;
    for (let i = 0; i < NEW_PODS; i++) {
      const node = i % SIM_NODES;
      const j = PODS_PER_NODE + Math.floor(i / SIM_NODES);
      const id = FIRST_ID + IDENTITIES + i;
      const start = performance.now();
      await writer.identity(id);
      await writer.pod(node, j, id);
      const deadline = start + 30_000;
      while (seenBy(podIp(node, j), id) < fds.length && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 2));
      if (performance.now() >= deadline) missed++;
      else lat.push(performance.now() - start);
    }
    const after = { api: apiLines(), rev: await revision(store), io: agents.map(procIo) };
    for (const fd of fds) addon.close(fd);
    const sum = (f: (x: { cpuS: number; readBytes: number }) => number) =>
      after.io.reduce((s, x, i) => s + f(x) - f(before.io[i]!), 0);
    return {
      mode,
      loadS,
      latency: {
        p50: Math.round(pct(lat, 50)),
        p99: Math.round(pct(lat, 99)),
        max: Math.round(Math.max(...lat)),
        n: lat.length,
        missed,
      },
      apiRequests: after.api - before.api,
      agentCpuS: Math.round(sum((x) => x.cpuS) * 10) / 10,
      agentReadMiB: Math.round((sum((x) => x.readBytes) / 2 ** 20) * 10) / 10,
      storeWrites: after.rev - before.rev,
    };
  } finally {
    store?.close();
    k?.close();
    await downNodes(dir).catch(() => undefined);
    await downKvstoreEtcd(dir).catch(() => undefined);
    await downDetached(dir).catch(() => undefined);
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
}

/** The two agents' pids (their containers run as host processes: `devcluster://<pid>`). */
async function agentPids(k: KubeClient): Promise<number[]> {
  for (;;) {
    const pods = await k.list<
      KubeObject & { status?: { containerStatuses?: { name: string; containerID?: string }[] } }
    >(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=cilium' });
    const pids = pods.items.map((p) =>
      Number(
        /^devcluster:\/\/(\d+)$/.exec(
          p.status?.containerStatuses?.find((c) => c.name === 'cilium-agent')?.containerID ?? '',
        )?.[1] ?? 0,
      ),
    );
    if (pids.length === 2 && pids.every(Boolean)) return pids;
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Writer {
  nodes(): Promise<void>;
  identity(id: number): Promise<void>;
  pod(node: number, j: number, id: number): Promise<void>;
}

/** CRD mode: what remote agents write through the API server. */
function crdWriter(k: KubeClient): Writer {
  const uids: string[] = [];
  return {
    async nodes() {
      await k.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SIM_NS } });
      for (let i = 0; i < SIM_NODES; i++) {
        const cn = await k.create<KubeObject>(CNODES, {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNode',
          metadata: { name: nodeName(i) },
          spec: { addresses: [{ type: 'InternalIP', ip: nodeIp(i) }], ipam: { podCIDRs: [`10.${128 + i}.0.0/16`] } },
        } as KubeObject);
        uids[i] = cn.metadata?.uid ?? '';
      }
    },
    async identity(id) {
      await k.create(IDS, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumIdentity',
        metadata: { name: String(id), labels: { app: `app-${id - FIRST_ID}` } },
        'security-labels': labelsOf(id),
      } as KubeObject);
    },
    async pod(node, j, id) {
      const name = `pod-${node}-${j}`;
      await k.create(CEPS, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumEndpoint',
        metadata: {
          name,
          namespace: SIM_NS,
          ownerReferences: [{ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name: nodeName(node), uid: uids[node] }],
        },
      } as KubeObject);
      await k.patch(
        CEPS,
        name,
        SIM_NS,
        {
          status: {
            id: 1,
            identity: { id, labels: Object.entries(labelsOf(id)).map(([l, v]) => `${l}=${v}`) },
            networking: { addressing: [{ ipv4: podIp(node, j) }], node: nodeIp(node) },
            state: 'ready',
          },
        } as KubeObject,
        'merge',
        { subresource: 'status' },
      );
    },
  };
}

/** kvstore mode: what remote agents write to etcd (upstream's keys; reference layout in controllers/kvstore/keys.ts). */
function kvWriter(e: Etcd3): Writer {
  return {
    async nodes() {
      for (let i = 0; i < SIM_NODES; i++) {
        const n: KvNode = {
          Name: nodeName(i),
          Cluster: 'devcluster',
          IPAddresses: [{ Type: 'InternalIP', IP: nodeIp(i) }],
          IPv4AllocCIDR: ipNet(`10.${128 + i}.0.0/16`),
          IPv6AllocCIDR: null,
          IPv4HealthIP: '',
          IPv6HealthIP: '',
          ClusterID: 0,
        };
        await e.put(`cilium/state/nodes/v1/devcluster/${nodeName(i)}`).value(JSON.stringify(n));
      }
    },
    async identity(id) {
      const labels = encodeLabels(labelsOf(id));
      await e.put(`cilium/state/identities/v1/id/${id}`).value(labels);
      await e.put(`cilium/state/identities/v1/value/${labels}/${nodeIp(id % SIM_NODES)}`).value(String(id));
    },
    async pod(node, j, id) {
      const ip = podIp(node, j);
      await e.put(`cilium/state/ip/v1/default/${ip}`).value(
        encodeIpIdentityPair({
          IP: ip,
          Mask: null,
          HostIP: nodeIp(node),
          ID: id,
          Key: 0,
          Metadata: `bench/${nodeName(node)}`,
          K8sNamespace: SIM_NS,
          K8sPodName: `pod-${node}-${j}`,
        }),
      );
    },
  };
}

const reports: ModeReport[] = [];
for (const mode of MODES) reports.push(await runMode(mode));
const load = loadavg().map((x) => x.toFixed(2));
console.log(
  [
    `kvstore bench: ${SIM_NODES} simulated nodes × ${PODS_PER_NODE} pods, ${IDENTITIES} identities, then ${NEW_PODS} new pods each with a new identity; 2 real agents; load average ${load.join(' ')}`,
    `mode     load s  new pod → both agents' ipcache p50/p99/max ms  API requests  agent CPU s  agent read MiB  store writes`,
    ...reports.map(
      (r) =>
        `${r.mode.padEnd(8)} ${r.loadS.toFixed(1).padStart(6)}  ${`${r.latency.p50}/${r.latency.p99}/${r.latency.max} (n=${r.latency.n}, missed ${r.latency.missed})`.padEnd(46)} ${String(r.apiRequests).padStart(12)}  ${String(r.agentCpuS).padStart(11)}  ${String(r.agentReadMiB).padStart(14)}  ${String(r.storeWrites).padStart(12)}`,
    ),
  ].join('\n'),
);
process.exit(0);
