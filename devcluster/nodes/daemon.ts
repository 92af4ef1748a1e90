// The nodes daemon: one detached host process per devcluster that `up --nodes N` starts after the
// namespaces exist. It starts the bridge from nodes/apiserver.sock to the API server (a process of
// its own: processes.ts) and each node's forwarder, registers the Node objects, and runs the
// scheduler and every node's kubelet-like runner — which run the install's cilium-agent,
// cilium-operator and hubble-relay pods and the cluster DNS once `up` applied them — and the
// port-forward to the relay pod. SIGTERM: pods on the pod network are torn down first (CNI DEL
// while the agent pods still run), then the agent pods, then its children.
// `down` also cleans up after it if it crashed (layout.ts).
//
//   node build/devcluster/nodes/daemon.js --dir .devcluster   (compiled by `npm run build`)
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KubeClient, Manager, ApiError, type ResourceRef } from '../../controllers/framework/index.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeCgroup } from './cgroups.js';
import { CONFLIST_NAME, readConflist } from './cni-install.js';
import { stopPids } from './fabric.js';
import { NodesLayout, type NodeInfo, type NodesState } from './layout.js';
import { nodeMounts, type NodeView } from './mounts.js';
import { podLauncher } from './pod-launch.js';
import { KubeletServer, KUBELET_SOCKET_NAME } from './kubelet-server.js';
import {
  ciliumBinariesPresent,
  hubbleUiLog,
  relaySocket,
  startApiserverBridge,
  startForwarder,
  startKvstoreBridge,
  startKvstoreForwarder,
  startHubbleUi,
  startRelayPortForward,
  waitForLog,
} from './processes.js';
import { NodeRunner } from './runner.js';
import { Spawner } from './spawner-client.js';
import { CLUSTER_DNS_DEFAULTS } from '../dns/cluster-dns.js';
import { CLUSTER_DNS_IP } from '../dns/manifest.js';
import type { NodeNetwork } from './sandbox.js';
import { Scheduler } from './scheduler.js';
import { NodesError, NodesErrorCode } from './errors.js';

const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };

function log(msg: string): void {
  console.log(`${new Date().toISOString()} ${msg}`);
}

/** A Node per simulated node: InternalIP = its fabric address, Ready. */
async function registerNode(client: KubeClient, n: NodeInfo): Promise<void> {
  const obj = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64' },
    },
    spec: {},
  };
  try {
    await client.create(NODES, obj);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409)) throw e;
  }
  const now = new Date().toISOString();
  await client.patch(
    NODES,
    n.name,
    undefined,
    {
      status: {
        addresses: [
          { type: 'InternalIP', address: n.ip },
          { type: 'Hostname', address: n.name },
        ],
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'devcluster node is ready',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        nodeInfo: {
          kubeletVersion: 'v1.32.0-devcluster',
          operatingSystem: 'linux',
          architecture: 'amd64',
          containerRuntimeVersion: 'devcluster://1',
          kernelVersion: '',
          osImage: 'netns',
          kubeProxyVersion: '',
          machineID: '',
          systemUUID: '',
          bootID: '',
        },
      },
    },
    'merge',
    { subresource: 'status', fieldManager: 'devcluster-kubelet' },
  );
}

/** A node's view of its own directories (mounts.ts). */
export const nodeView = (layout: NodesLayout, s: NodesState, node: string): NodeView => ({
  root: layout.node(node).root,
  bpfRoot: join(s.bpfRoot, node),
  ...(nodeCgroup(s.runId, node) ? { cgroupRoot: nodeCgroup(s.runId, node) } : {}),
});

/**
 * The node's CNI network as a runtime finds it: the conflist in the node's /etc/cni/net.d (the
 * agent pod's install-cni writes it) and the plugin in its /opt/cni/bin, run in the node's view.
 */
function nodeNetwork(layout: NodesLayout, s: NodesState, node: string): () => NodeNetwork | undefined {
  const p = layout.node(node);
  const mounts = nodeMounts(nodeView(layout, s, node));
  return () => {
    const file = join(p.confDir, CONFLIST_NAME);
    if (!existsSync(file) || !existsSync(join(p.cniBinDir, 'cilium-cni'))) return undefined;
    return { binDir: p.cniBinDir, conflist: readConflist(file), mounts, cniPath: '/opt/cni/bin' };
  };
}

/**
 * Keeps the port-forward to the hubble-relay pod (processes.ts) pointed at whichever node runs it:
 * started when the pod's sandbox exists, restarted in the new sandbox when the pod is replaced.
 */
async function followRelayPod(layout: NodesLayout, runners: NodeRunner[]): Promise<void> {
  let current: { netns: string; child: ChildProcess } | undefined;
  while (!stopping) {
    const sb = runners
      .flatMap((r) => [...r.sandboxes.values()])
      .find((s) => s.pod.metadata.namespace === 'kube-system' && s.pod.metadata.labels?.['k8s-app'] === 'hubble-relay');
    if (sb && sb.netns !== current?.netns) {
      if (current?.child.pid) await stopPids([current.child.pid]);
      const c = sb.pod.spec.containers[0];
      const port = c?.ports?.find((p) => p.name === 'grpc')?.containerPort ?? 4245;
      current = { netns: sb.netns, child: track(startRelayPortForward(layout, sb.netns, port)) };
      log(
        `hubble-relay pod ${sb.pod.metadata.name}: port-forward ${relaySocket(layout)} -> ${sb.netns} 127.0.0.1:${port}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What the daemon has started so far: a stop at any moment (even during start-up) stops all of it. */
const started: {
  children: ChildProcess[];
  manager?: Manager;
  runners: NodeRunner[];
  client?: KubeClient;
  /** Runs every pod's `ip netns` and CNI plugin calls (spawner.ts): forks of a small process, off this loop. */
  spawner: Spawner;
} = { children: [], runners: [], spawner: new Spawner() };
let stopping = false;

/** Keeps a started child; one started while stopping (start-up raced a SIGTERM) goes at once. */
function track(child: ChildProcess): ChildProcess {
  started.children.push(child);
  if (stopping && child.pid) void stopPids([child.pid]);
  return child;
}

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    log('stopping: pods, then agents and forwarders');
    await started.manager?.stop().catch(() => undefined);
    await Promise.allSettled(started.runners.map((r) => r.stopAll()));
    started.spawner.close(); // after the pods: their CNI DEL and `ip netns del` run through it
    await stopPids(started.children.map((c) => c.pid ?? 0));
    started.client?.close();
  }
  process.exit(code);
}

async function main(): Promise<void> {
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  const { values } = parseArgs({ options: { dir: { type: 'string' } } });
  const layout = new NodesLayout(values.dir ?? '.devcluster');
  const state = layout.read();
  if (!state) throw new NodesError(NodesErrorCode.NotUp, `no node state in ${layout.stateFile}`);
  const kv = state.kvstore;
  // all forwarders start at once (each is a Node start-up of its own), the host-side bridges too:
  // processes of their own, off this loop (startApiserverBridge says why)
  await Promise.all([
    waitForLog(track(startApiserverBridge(layout, state)), layout.apiserverBridgeLog, 'forwarding'),
    ...(kv ? [waitForLog(track(startKvstoreBridge(layout, kv.port)), layout.kvstoreBridgeLog, 'forwarding')] : []),
    ...state.nodes.flatMap((n) => [
      waitForLog(track(startForwarder(layout, state, n)), layout.node(n.name).forwarderLog, 'forwarding'),
      ...(kv
        ? [
            waitForLog(
              track(startKvstoreForwarder(layout, kv.port, n)),
              layout.node(n.name).kvstoreForwarderLog,
              'forwarding',
            ),
          ]
        : []),
    ]),
  ]);
  const client = (started.client = KubeClient.fromFile(layout.kubeconfig));
  for (const n of state.nodes) await registerNode(client, n);

  const manager = (started.manager = new Manager({ name: 'devcluster-nodes', client }));
  new Scheduler(state.nodes.map((n) => n.name)).register(manager);
  const caCert = readFileSync(join(layout.dir, 'pki', 'ca.crt'), 'utf8');
  for (const n of state.nodes) {
    const p = layout.node(n.name);
    const r = new NodeRunner({
      runId: state.runId,
      node: n,
      network: nodeNetwork(layout, state, n.name),
      podsDir: p.pods,
      // the kubelet's --cluster-dns and --cluster-domain: the kube-dns Service `up` installs
      clusterDns: { ip: CLUSTER_DNS_IP, domain: CLUSTER_DNS_DEFAULTS.zone },
      // KTS_DEVCLUSTER_SPAWNER=off: forked from this process as before (benchmarks compare the two)
      ...(process.env.KTS_DEVCLUSTER_SPAWNER === 'off' ? {} : { exec: started.spawner.run }),
      prepare: podLauncher({
        client,
        node: n,
        view: nodeView(layout, state, n.name),
        imageBin: layout.imageBin,
        apiServerPort: state.apiserverPort,
        ...(state.kubeletApiServer ? { kubeletApiServer: state.kubeletApiServer } : {}),
        caCert,
      }),
    });
    r.register(manager);
    started.runners.push(r);
    // the kubelet's streaming server (logs, exec) that the API server proxies to
    await new KubeletServer({ sandbox: (key) => r.sandboxes.get(key) }, join(p.dir, KUBELET_SOCKET_NAME)).start();
  }
  // One line every 10 s with the event loop's delay: every node's pod starts, status writes and
  // the API bridge share this loop, so a blocked loop delays them all (hack/bench/pod-startup.ts).
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  setInterval(() => {
    const ms = (ns: number) => Math.round(ns / 1e6);
    console.log(
      JSON.stringify({
        event: 'loop-delay',
        p50: ms(delay.percentile(50)),
        p99: ms(delay.max ? delay.percentile(99) : 0),
        max: ms(delay.max),
      }),
    );
    delay.reset();
  }, 10_000).unref();
  await manager.start();
  const hostPids: number[] = [];
  let hubbleUiUrl: string | undefined;
  if (state.agents && ciliumBinariesPresent().agent) {
    void followRelayPod(layout, started.runners);
    // hubble-ui on the host (it reconnects to relay by itself until relay is up)
    const ui = track(startHubbleUi(layout));
    if (ui.pid) hostPids.push(ui.pid);
    // on disk at once: `down` finds it (host namespace) even if this daemon dies now
    layout.write({ ...(layout.read() ?? state), hostPids });
    hubbleUiUrl = await waitForLog(ui, hubbleUiLog(layout), 'hubble-ui listening on', 60_000)
      .then(() => /listening on (\S+)/.exec(readFileSync(hubbleUiLog(layout), 'utf8'))?.[1])
      .catch((e: Error) => void log(`hubble-ui did not start: ${e.message}`));
    if (hubbleUiUrl) log(`started hubble-ui (pid ${ui.pid}) at ${hubbleUiUrl}`);
  }
  // `up` applies the install now: the agents and the operator are pods of it.
  layout.write({ ...(layout.read() ?? state), daemonPid: process.pid, hostPids, hubbleUiUrl, ready: true });
  log(`ready: ${state.nodes.map((n) => `${n.name}=${n.ip}`).join(', ')}`);
}

main().catch((e: unknown) => {
  console.error(`nodes daemon failed: ${(e as Error).stack ?? String(e)}`);
  void stop(1);
});
