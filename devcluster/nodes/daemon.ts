// The nodes daemon: one detached host process per devcluster that `up --nodes N` starts after the
// namespaces exist. It bridges nodes/apiserver.sock to the API server, starts each node's
// forwarder and agent and the operator, registers the Node objects, and runs the scheduler and
// every node's kubelet-like runner. SIGTERM: pods are torn down (CNI DEL while agents still run),
// then its children stop. `down` also cleans up after it if it crashed (layout.ts).
//
//   node build/devcluster/nodes/daemon.js --dir .devcluster   (compiled by `npm run build`)
import type { ChildProcess } from 'node:child_process';
import type { Server } from 'node:net';
import { parseArgs } from 'node:util';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { startComponentCredentials, type ComponentCredentials } from '../auth-tokens.js';
import { KubeClient, Manager, ApiError, type ResourceRef } from '../../controllers/framework/index.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { CONFLIST_NAME, readConflist } from './cni-install.js';
import { stopPids } from './fabric.js';
import { forward } from './forwarder.js';
import { KubeletServer, KUBELET_SOCKET_NAME } from './kubelet-server.js';
import { NodesLayout, type NodeInfo } from './layout.js';
import {
  ciliumBinariesPresent,
  relaySocket,
  startAgent,
  startForwarder,
  startOperator,
  startRelay,
  startHubbleUi,
  hubbleUiLog,
  waitForLog,
  writeClusterConfig,
} from './processes.js';
import { NodeRunner } from './runner.js';
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

const AGENT_READY_TIMEOUT_MS = 45_000;

/**
 * Waits for an agent's REST API to answer healthz (ok, or starting: its IPAM then waits for the
 * pod CIDR itself, so an ADD is served). A slow agent is logged, not fatal (pods retry ADD).
 */
async function waitForAgent(node: string, socketPath: string): Promise<void> {
  const client = new AgentClient({ socketPath, timeoutMs: 2000 });
  const deadline = Date.now() + AGENT_READY_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      last = (await client.healthz()).status;
      return log(`cilium-agent on ${node} answers (${last})`);
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`cilium-agent on ${node} is not ready after ${AGENT_READY_TIMEOUT_MS} ms (${last}); continuing`);
}

/** What the daemon has started so far: a stop at any moment (even during start-up) stops all of it. */
const started: {
  children: ChildProcess[];
  manager?: Manager;
  runners: NodeRunner[];
  bridge?: Server;
  client?: KubeClient;
  creds?: ComponentCredentials;
} = { children: [], runners: [] };
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
    await stopPids(started.children.map((c) => c.pid ?? 0));
    started.bridge?.close();
    started.client?.close();
    started.creds?.stop();
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
  started.bridge = await forward(`unix:${layout.apiserverSocket}`, `tcp:127.0.0.1:${state.apiserverPort}`);
  // all forwarders start at once (each is a Node start-up of its own)
  await Promise.all(
    state.nodes.map((n) =>
      waitForLog(track(startForwarder(layout, state, n)), layout.node(n.name).forwarderLog, 'forwarding'),
    ),
  );
  const client = (started.client = KubeClient.fromFile(layout.kubeconfig));
  for (const n of state.nodes) await registerNode(client, n);
  // Each component runs as the install's ServiceAccount for it, on a rotated token (auth-tokens.ts).
  const creds = (started.creds = await startComponentCredentials(
    client,
    layout.kubeconfig,
    join(layout.root, 'serviceaccounts'),
    {
      onError: (e) => log(`token rotation failed: ${(e as Error).message}`),
    },
  ));

  const config = writeClusterConfig(layout, state);
  const present = ciliumBinariesPresent();
  const hostPids: number[] = [];
  let hubbleUi: Promise<string | undefined> | undefined;
  if (state.agents && present.operator) {
    const op = track(startOperator(layout, config, creds.kubeconfig.operator));
    if (op.pid) hostPids.push(op.pid);
    // on disk at once: `down` finds the operator (host namespace) even if this daemon dies now
    layout.write({ ...(layout.read() ?? state), hostPids });
    log(`started cilium-operator (pid ${op.pid})`);
  } else log(state.agents ? 'cmd/cilium-operator.ts does not exist: no operator' : 'agents disabled: no operator');
  if (state.agents && present.agent) {
    for (const n of state.nodes) {
      const a = track(startAgent(layout, state, n, config, creds.kubeconfig.agent));
      log(`started cilium-agent on ${n.name} (pid ${a.pid})`);
    }
    const relay = track(startRelay(layout, state));
    log(
      `started hubble-relay in ${state.nodes[0]!.name}'s namespace (pid ${relay.pid}), serving ${relaySocket(layout)}`,
    );
    const ui = track(startHubbleUi(layout));
    if (ui.pid) hostPids.push(ui.pid);
    layout.write({ ...(layout.read() ?? state), hostPids });
    // its URL is waited for with the agents' start, not before it
    hubbleUi = waitForLog(ui, hubbleUiLog(layout), 'hubble-ui listening on', 60_000).then(() => {
      const url = /listening on (\S+)/.exec(readFileSync(hubbleUiLog(layout), 'utf8'))?.[1];
      log(`started hubble-ui (pid ${ui.pid}) at ${url}`);
      return url;
    });
  } else log(state.agents ? 'cmd/cilium-agent.ts does not exist: no agents' : 'agents disabled: no agents');

  // upNodes installed the plugin and wrote each node's conflist: run them as a runtime would.
  const binDir = join(layout.cniDir, 'bin');
  const manager = (started.manager = new Manager({ name: 'devcluster-nodes', client }));
  new Scheduler(state.nodes.map((n) => n.name)).register(manager);
  for (const n of state.nodes) {
    const p = layout.node(n.name);
    const conflist = readConflist(join(p.confDir, CONFLIST_NAME));
    const r = new NodeRunner({ runId: state.runId, node: n, install: { binDir, conflist }, conflist, podsDir: p.pods });
    r.register(manager);
    started.runners.push(r);
    // the kubelet's streaming server (logs, exec) that the API server proxies to
    await new KubeletServer({ sandbox: (key) => r.sandboxes.get(key) }, join(p.dir, KUBELET_SOCKET_NAME)).start();
  }
  await manager.start();
  // `up` returns when pods can get networking: every started agent's REST API answers.
  if (state.agents && present.agent)
    await Promise.all(state.nodes.map((n) => waitForAgent(n.name, layout.node(n.name).socket)));

  const hubbleUiUrl = await hubbleUi?.catch((e: Error) => void log(`hubble-ui did not start: ${e.message}`));
  layout.write({ ...(layout.read() ?? state), daemonPid: process.pid, hostPids, hubbleUiUrl, ready: true });
  log(`ready: ${state.nodes.map((n) => `${n.name}=${n.ip}`).join(', ')}`);
}

main().catch((e: unknown) => {
  console.error(`nodes daemon failed: ${(e as Error).stack ?? String(e)}`);
  void stop(1);
});
