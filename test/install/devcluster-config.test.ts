// The devcluster starts its agent and operator with exactly the configuration the manifests give
// them, and they act on it: both start without a refused or unknown key, the agent sizes its
// conntrack table from bpf-ct-global-*-max and serves metrics on prometheus-serve-addr, the
// operator serves metrics on operator-prometheus-serve-addr (the devcluster's only change: a free
// port, since it shares the host's network).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processLaunch } from '../../cdk8s/process-launch.js';
import { KubeClient, testing } from '../../controllers/framework/index.js';
import { loadAddon } from '../../datapath/addon.js';
import { MapNames } from '../../datapath/constants.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { NodesLayout, netnsPath, type NodesState } from '../../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { waitForPodCIDRs } from '../../devcluster/nodes/cluster-checks.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-install-config-'));
const layout = new NodesLayout(dir);
let state: NodesState;
let client: KubeClient | undefined;

beforeAll(async () => {
  await upDetached({ dir });
  state = await upNodes(dir, { nodes: 1 });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  await waitForPodCIDRs(client, 1, 60_000);
  await testing.waitFor(() => readFileSync(layout.node('node-1').agentLog, 'utf8').includes('cilium-agent ready'), {
    what: 'the agent to be ready',
    timeoutMs: 60_000,
  });
}, 120_000);

afterAll(async () => {
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 60_000);

/** GET `url` with python3 inside a network namespace (or here when none). */
const get = (url: string, netns?: string) =>
  execFileSync(
    netns ? 'nsenter' : 'python3',
    [
      ...(netns ? [`--net=${netnsPath(netns)}`, '--', 'python3'] : []),
      '-c',
      `import urllib.request; print(urllib.request.urlopen('${url}', timeout=5).read().decode())`,
    ],
    { encoding: 'utf8' },
  );

describe("the devcluster runs the binaries with the manifests' configuration", () => {
  it('neither process refuses a key or meets one it does not know', () => {
    const agentLog = readFileSync(layout.node('node-1').agentLog, 'utf8');
    const operatorLog = readFileSync(layout.operatorLog, 'utf8');
    for (const log of [agentLog, operatorLog]) {
      expect(log).not.toContain('invalid configuration');
      expect(log).not.toContain('unknown configuration key');
    }
    expect(operatorLog).toContain('cilium-operator started');
  });

  it('the agent sizes cilium_ct4_global from bpf-ct-global-tcp-max + bpf-ct-global-any-max', () => {
    const c = processLaunch('cilium-agent').config;
    const addon = loadAddon();
    const fd = addon.objGet(join(state.bpfRoot, 'node-1', 'tc', 'globals', MapNames.ct4));
    try {
      expect(addon.mapInfo(fd).maxEntries).toBe(
        Number(c['bpf-ct-global-tcp-max']) + Number(c['bpf-ct-global-any-max']),
      );
    } finally {
      addon.close(fd);
    }
  });

  it('the agent serves /metrics on prometheus-serve-addr, the operator on operator-prometheus-serve-addr', () => {
    const port = processLaunch('cilium-agent').config['prometheus-serve-addr']!.split(':').at(-1);
    expect(get(`http://127.0.0.1:${port}/metrics`, state.nodes[0]!.netns)).toContain('cilium_endpoint_state');
    const started = readFileSync(layout.operatorLog, 'utf8')
      .split('\n')
      .find((l) => l.includes('cilium-operator started'))!;
    const metrics = (JSON.parse(started) as { metrics: { host: string; port: number } }).metrics;
    // the operator is a hostNetwork pod: it listens in its node's namespace (the only node here)
    expect(get(`http://127.0.0.1:${metrics.port}/metrics`, state.nodes[0]!.netns)).toContain('controller_runtime');
  });
});
