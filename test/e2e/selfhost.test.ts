// cilium-ts on the devcluster as the pods of its own install: `up` applies the install, the
// DaemonSet and the operator Deployment run cilium-agent and cilium-operator as hostNetwork pods
// (in each node's namespace, with hostPath and ConfigMap volumes and the ServiceAccount token
// mounted in a mount namespace of their own), `cilium status` reports them as on a real cluster,
// a killed agent process is restarted by the kubelet as a container restart, policy intact, and
// the operator pod's identity GC collects an identity no endpoint uses, under enforced RBAC.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { testing, type KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { tcpFromPod, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import { NodesLayout, type NodesState } from '../../devcluster/nodes/layout.js';
import { execInPod } from '../../devcluster/nodes/nodes.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };
const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true };
const CEPS: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumendpoints',
  kind: 'CiliumEndpoint',
  namespaced: true,
};
const IDENTITIES: ResourceRef = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumidentities',
  kind: 'CiliumIdentity',
  namespaced: false,
};
type Pod = KubeObject & {
  spec: { nodeName?: string; hostNetwork?: boolean };
  status?: {
    phase?: string;
    podIP?: string;
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID: string;
      lastState?: { terminated?: { exitCode: number } };
    }[];
  };
};

const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-selfhost-'));
const cluster = new SelfHostedCluster(dir);
const layout = new NodesLayout(dir);
const progress: string[] = [];
let state: NodesState;
let client: KubeClient;
let kubectl: Kubectl;
let ips = new Map<string, string>();

const APPS_YAML = `
apiVersion: v1
kind: Namespace
metadata: {name: app}
${[
  ['server', 'node-2'],
  ['client', 'node-1'],
  ['other', 'node-1'],
]
  .map(
    ([name, node]) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: app, labels: {app: ${name}}}
spec:
  nodeName: ${node}
  containers: [{name: srv, image: none, command: [python3, -m, http.server, "8080"]}]`,
  )
  .join('\n')}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-from-client, namespace: app}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
`;

const tcp = (from: string): Promise<boolean> => tcpFromPod(dir, from, ips.get('app/server')!, 8080, 1.0);

/** `cilium` (the CLI, compiled) against the devcluster. */
function cilium(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(PINNED_NODE, [binaryEntry('cilium'), ...args, '--kubeconfig', join(dir, 'kubeconfig')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

async function agentPod(node: string): Promise<Pod> {
  const pods = await client.list<Pod>(PODS, {
    namespace: 'kube-system',
    labelSelector: 'k8s-app=cilium',
    fieldSelector: `spec.nodeName=${node}`,
  });
  expect(pods.items).toHaveLength(1);
  return pods.items[0]!;
}

const agentStatus = (p: Pod) => p.status!.containerStatuses!.find((c) => c.name === 'cilium-agent')!;
const pidOf = (containerID: string) => Number(/^devcluster:\/\/(\d+)$/.exec(containerID)?.[1] ?? 0);

beforeAll(async () => {
  ({ state, client, kubectl } = await cluster.up({
    nodes: 2,
    waitForInstall: true,
    progress: (l) => progress.push(l),
    // the operator's identity GC at a pace a test can watch (upstream: 15m and 30m)
    config: { 'identity-gc-interval': '1s', 'identity-heartbeat-timeout': '5s' },
  }));
}, 180_000);

afterAll(() => cluster.down(), 120_000);

describe('cilium-ts runs as the pods of its own install', () => {
  it('up reports each step: nodes, install, every agent, the DaemonSet and the operator', () => {
    const text = progress.join('\n');
    for (const re of [
      /^nodes: node-1 .*node-2/m,
      /^install applied: \d+ objects/m,
      /^agent: cilium-agent on node-1 answers/m,
      /^agent: cilium-agent on node-2 answers/m,
      /^DaemonSet cilium: 2\/2 ready$/m,
      /^Deployment cilium-operator: 2\/2 available$/m,
      /^cluster DNS applied: Deployment coredns, Service kube-dns 10\.96\.0\.10$/m,
      /^Deployment coredns: 1\/1 available$/m,
      /^Deployment hubble-relay: 1\/1 available$/m,
    ])
      expect(text).toMatch(re);
  });

  it('cilium status: the DaemonSet 2/2 ready, the operator and relay Deployments available', async () => {
    const r = await cilium(['status']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^DaemonSet\s+cilium\s+OK\s+desired 2, ready 2, available 2$/m);
    expect(r.out).toMatch(/^Deployment\s+cilium-operator\s+OK\s+desired 2, ready 2, available 2$/m);
    expect(r.out).toMatch(/^Deployment\s+hubble-relay\s+OK\s+desired 1, ready 1, available 1$/m);
    expect(r.out).toMatch(/^ConfigMap\s+cilium-config\s+present$/m);
  });

  it('kubectl get pods -n kube-system lists the agent, operator and relay pods; agents on the host network', async () => {
    const out = await kubectl.ok(['get', 'pods', '-n', 'kube-system', '-o', 'wide', '--no-headers']);
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    // NAME READY STATUS RESTARTS AGE IP NODE …
    const agents = rows.filter((r) => /^cilium-[a-z0-9]{5}$/.test(r[0]!));
    const operators = rows.filter((r) => r[0]!.startsWith('cilium-operator-'));
    expect(agents.map((r) => [r[1], r[2], r[6]]).sort()).toEqual([
      ['1/1', 'Running', 'node-1'],
      ['1/1', 'Running', 'node-2'],
    ]);
    expect(operators.map((r) => [r[1], r[2]])).toEqual([
      ['1/1', 'Running'],
      ['1/1', 'Running'],
    ]);
    // hostNetwork: the pod IP is the node's InternalIP
    for (const r of agents) expect(r[5]).toBe(state.nodes.find((n) => n.name === r[6])!.ip);
    // relay is on the pod network (its address from the cluster pool), DNS on the host network
    const relay = rows.filter((r) => r[0]!.startsWith('hubble-relay-'));
    expect(relay.map((r) => [r[1], r[2]])).toEqual([['1/1', 'Running']]);
    expect(state.nodes.map((n) => n.ip)).not.toContain(relay[0]![5]);
    expect(rows.filter((r) => r[0]!.startsWith('coredns-')).map((r) => [r[1], r[2]])).toEqual([['1/1', 'Running']]);
  });

  it("the agent runs the image's command in its node's namespaces, with its volumes, env and token", async () => {
    const pod = await agentPod('node-1');
    const pid = pidOf(agentStatus(pod).containerID);
    expect(pid).toBeGreaterThan(0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(cmdline.slice(1)).toEqual(['/app/build/cmd/cilium-agent.js', '--config-dir=/tmp/cilium/config-map']);
    const env = Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    expect(env).toMatchObject({
      K8S_NODE_NAME: 'node-1',
      CILIUM_K8S_NAMESPACE: 'kube-system',
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(state.apiserverPort),
    });
    // the node's network namespace, a mount namespace of its own
    const node1 = state.nodes.find((n) => n.name === 'node-1')!;
    expect(readlinkSync(`/proc/${pid}/ns/net`)).toBe(
      execFileSync('ip', ['netns', 'exec', node1.netns, 'readlink', '/proc/self/ns/net'], {
        encoding: 'utf8',
      }).trim(),
    );
    expect(readlinkSync(`/proc/${pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
    const inView = (cmd: string) =>
      execFileSync('nsenter', [`--mount=/proc/${pid}/ns/mnt`, '--', 'sh', '-c', cmd], { encoding: 'utf8' });
    expect(inView('cat /var/run/secrets/kubernetes.io/serviceaccount/namespace')).toBe('kube-system');
    expect(inView('cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt')).toBe(
      readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
    );
    expect(inView('cat /tmp/cilium/config-map/cluster-pool-ipv4-cidr')).toBe(state.ranges.clusterPool);
    // hostPath volumes: the init container wrote the node's CNI configuration; maps pinned on the node's bpffs dir
    expect(inView('ls /host/etc/cni/net.d')).toContain('05-cilium.conflist');
    expect(existsSync(join(layout.node('node-1').confDir, '05-cilium.conflist'))).toBe(true);
    expect(existsSync(join(state.bpfRoot, 'node-1', 'tc', 'globals'))).toBe(true);
    expect(inView('ls /sys/fs/bpf/tc/globals').split('\n')).toEqual(
      expect.arrayContaining(
        execFileSync('ls', [join(state.bpfRoot, 'node-1', 'tc', 'globals')], { encoding: 'utf8' }).split('\n'),
      ),
    );
    const init = (pod.status as { initContainerStatuses?: { name: string; state: Record<string, unknown> }[] })
      .initContainerStatuses;
    // the init containers ran in order, each to completion: bpffs and cgroup2 mounts, then the plugin
    expect(init).toEqual(
      ['mount-bpf-fs', 'mount-cgroup', 'install-cni'].map((name) =>
        expect.objectContaining({ name, state: { terminated: expect.objectContaining({ exitCode: 0 }) } }),
      ),
    );
  });

  it("devcluster exec into the agent pod runs the image's cilium-dbg against the agent's default socket", async () => {
    const pod = await agentPod('node-1');
    const r = await execInPod(dir, `kube-system/${pod.metadata!.name}`, ['cilium-dbg', 'status'], { capture: true });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Agent health:\s+ok/m);
  });

  it('SIGKILL of the agent process: the kubelet restarts the container (restartCount + 1), policy still enforced', async () => {
    await kubectl.ok(['apply', '-f', '-'], APPS_YAML);
    ips = await waitForPods(client, { count: 3, namespaces: ['app'], what: 'the app pods', timeoutMs: 60_000 });
    await testing.waitFor(() => tcp('app/client'), { what: 'the server to listen', timeoutMs: 20_000 });
    await testing.waitFor(async () => !(await tcp('app/other')), {
      what: 'the policy to deny other',
      timeoutMs: 10_000,
    });

    const before = agentStatus(await agentPod('node-2'));
    const pid = pidOf(before.containerID);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const after = await testing.waitFor(
      async () => {
        const c = agentStatus(await agentPod('node-2'));
        return c.restartCount === before.restartCount + 1 && c.ready ? c : undefined;
      },
      { what: 'the agent container to be restarted and ready', timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(pidOf(after.containerID)).not.toBe(pid);
    expect(after.lastState?.terminated?.exitCode).toBe(137);
    const row = await kubectl.ok(['get', 'pods', '-n', 'kube-system', '--field-selector', 'spec.nodeName=node-2']);
    expect(row).toMatch(new RegExp(`^cilium-[a-z0-9]{5}\\s+1/1\\s+Running\\s+${before.restartCount + 1}\\b`, 'm'));
    // the restarted agent serves its API again and the datapath still enforces the policy
    expect((await new AgentClient({ socketPath: layout.node('node-2').socket }).healthz()).status).toBeDefined();
    expect(await tcp('app/client')).toBe(true);
    expect(await tcp('app/other')).toBe(false);
  }, 120_000);

  it("an unused identity is collected by the operator pod, under the install's RBAC", async () => {
    // enforcement is on: a request without credentials is refused
    const anonymous = await new Promise<number>((resolve, reject) =>
      httpsGet(
        {
          host: '127.0.0.1',
          port: state.apiserverPort,
          path: '/api/v1/pods',
          ca: readFileSync(join(dir, 'pki', 'ca.crt')),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ).on('error', reject),
    );
    expect(anonymous).toBe(401);
    // the operator's ServiceAccount may delete identities (what the GC needs), not Secrets
    const review = (verb: string, resource: string, group: string) =>
      client
        .request<{ status?: { allowed?: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'system:serviceaccount:kube-system:cilium-operator',
            groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
            resourceAttributes: { verb, resource, group },
          },
        })
        .then((r) => r.status?.allowed === true);
    expect(await review('delete', 'ciliumidentities', 'cilium.io')).toBe(true);
    expect(await review('patch', 'ciliumidentities', 'cilium.io')).toBe(true);
    expect(await review('delete', 'secrets', '')).toBe(false);

    const label = `gc-${Date.now().toString(36)}`;
    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: gc-probe, namespace: app, labels: {app: ${label}}}
spec:
  nodeName: node-1
  containers: [{name: c, image: none}]`,
    );
    const id = await testing.waitFor(
      async () => {
        const cep = await client
          .get<KubeObject & { status?: { identity?: { id?: number } } }>(CEPS, 'gc-probe', 'app')
          .catch(() => undefined);
        return cep?.status?.identity?.id;
      },
      { what: 'the probe pod to get its identity', timeoutMs: 60_000 },
    );
    const identity = await client.get<KubeObject & { 'security-labels'?: Record<string, string> }>(
      IDENTITIES,
      String(id),
    );
    expect(identity['security-labels']).toMatchObject({ [`k8s:app`]: label });
    // in use: the operator leaves it alone for longer than the heartbeat timeout
    await new Promise((r) => setTimeout(r, 7000));
    expect((await client.get(IDENTITIES, String(id))).metadata?.name).toBe(String(id));

    await kubectl.ok(['delete', 'pod', '-n', 'app', 'gc-probe', '--grace-period=0', '--force']);
    await testing.waitFor(
      () =>
        client.get(IDENTITIES, String(id)).then(
          () => false,
          (e: { status?: number }) => e.status === 404,
        ),
      { what: `identity ${id} to be collected`, timeoutMs: 60_000, intervalMs: 500 },
    );
    // by the operator pod, with its own ServiceAccount, never denied
    const operators = await client.list<Pod>(PODS, { namespace: 'kube-system', labelSelector: 'name=cilium-operator' });
    const logs = await Promise.all(
      operators.items.map((p) => kubectl.ok(['logs', '-n', 'kube-system', p.metadata!.name!])),
    );
    expect(logs.join('\n')).toMatch(
      new RegExp(`Garbage collected identity.*"identity":"${id}"|"identity":"${id}".*Garbage collected identity`),
    );
    expect(logs.join('\n')).not.toMatch(/Forbidden|KTS_ERR_FORBIDDEN| 403 /);
  }, 120_000);

  it('cluster DNS: a pod resolves Services by the search path of the resolv.conf the kubelet wrote', async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: dns-probe, namespace: app}
spec:
  nodeName: node-2
  containers: [{name: c, image: none, command: [sleep, infinity]}]`,
    );
    await testing.waitFor(async () => (await client.get<Pod>(PODS, 'dns-probe', 'app')).status?.phase === 'Running', {
      what: 'the probe pod to run',
      timeoutMs: 60_000,
    });
    expect(await kubectl.ok(['exec', '-n', 'app', 'dns-probe', '--', 'cat', '/etc/resolv.conf'])).toBe(
      'search app.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
    const peer = (
      await client.get<KubeObject & { spec: { clusterIP: string } }>(SERVICES, 'hubble-peer', 'kube-system')
    ).spec.clusterIP;
    // a short name through the search path, from node-2, to the DNS pod wherever it runs
    expect(
      await kubectl.ok(['exec', '-n', 'app', 'dns-probe', '--', 'getent', 'hosts', 'hubble-peer.kube-system']),
    ).toMatch(new RegExp(`^${peer.replace(/\./g, '\\.')}\\s+hubble-peer\\.kube-system\\.svc\\.cluster\\.local$`, 'm'));
    expect(
      (await kubectl.run(['exec', '-n', 'app', 'dns-probe', '--', 'getent', 'hosts', 'nope.app.svc.cluster.local']))
        .code,
    ).not.toBe(0);
  }, 90_000);

  it('hubble-relay, the pod of its Deployment, finds every agent through hubble-peer; killing it restarts its container', async () => {
    const hubble = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(
          PINNED_NODE,
          [binaryEntry('hubble'), ...args, '--server', `unix://${join(layout.root, 'hubble-relay.sock')}`],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (out += d));
        p.on('close', (code) => resolve({ code, out }));
      });
    const bothConnected = async () => {
      const r = await hubble(['list', 'nodes']);
      return r.code === 0 && /^node-1\s+Connected/m.test(r.out) && /^node-2\s+Connected/m.test(r.out);
    };
    await testing.waitFor(bothConnected, { what: 'relay to connect to both agents', timeoutMs: 30_000 });
    const relayStatus = async () =>
      (await client.list<Pod>(PODS, { namespace: 'kube-system', labelSelector: 'k8s-app=hubble-relay' })).items[0]!
        .status!.containerStatuses![0]!;
    const before = await relayStatus();
    process.kill(pidOf(before.containerID), 'SIGKILL');
    await testing.waitFor(
      async () => {
        const c = await relayStatus();
        return c.restartCount === before.restartCount + 1 && c.ready;
      },
      { what: 'the relay container to be restarted and ready', timeoutMs: 60_000, intervalMs: 200 },
    );
    await testing.waitFor(bothConnected, { what: 'the restarted relay to reconnect', timeoutMs: 30_000 });
  }, 120_000);
});
