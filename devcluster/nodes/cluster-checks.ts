// What the demo and the end-to-end tests ask of a running devcluster: are the nodes addressed, are
// the pods running (and at which IPs), does a TCP connect from one pod's network namespace get through.
import { spawn } from 'node:child_process';
import { testing, type KubeClient, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import { CILIUM_NODES } from '../../controllers/operator/resources.js';
import { podNetns } from './nodes.js';

const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true };

/** Waits until `nodes` CiliumNodes carry the pod CIDRs cilium-operator hands out. */
export async function waitForPodCIDRs(client: KubeClient, nodes: number, timeoutMs: number): Promise<void> {
  await testing.waitFor(
    () =>
      client
        .list<KubeObject & { spec?: { ipam?: { podCIDRs?: string[] } } }>(CILIUM_NODES)
        .then((l) => l.items.filter((n) => n.spec?.ipam?.podCIDRs?.length).length >= nodes),
    { what: `${nodes} CiliumNode(s) with pod CIDRs`, timeoutMs },
  );
}

export interface WaitForPodsOptions {
  /** How many pods must run. */
  count: number;
  /**
   * Only pods in these namespaces count; when left out, every namespace but kube-system (where the
   * install's own agent and operator pods run).
   */
  namespaces?: readonly string[];
  what: string;
  timeoutMs: number;
  /** How often to list (a large cluster wants fewer lists); testing.waitFor's default when left out. */
  intervalMs?: number;
  /** Called after each list with the pods that count and how many of them run (a benchmark's progress line). */
  onProgress?: (running: number, listed: number) => void;
}

/** Waits until `count` pods run; returns their IPs by "namespace/name". */
export async function waitForPods(client: KubeClient, o: WaitForPodsOptions): Promise<Map<string, string>> {
  const ips = new Map<string, string>();
  await testing.waitFor(
    async () => {
      const pods = (await client.list<KubeObject & { status?: { podIP?: string; phase?: string } }>(PODS)).items.filter(
        (p) =>
          o.namespaces ? o.namespaces.includes(p.metadata?.namespace ?? '') : p.metadata?.namespace !== 'kube-system',
      );
      for (const p of pods)
        if (p.status?.podIP) ips.set(`${p.metadata!.namespace}/${p.metadata!.name}`, p.status.podIP);
      const running = pods.filter((p) => p.status?.phase === 'Running').length;
      o.onProgress?.(running, pods.length);
      return pods.length === o.count && running === pods.length;
    },
    { what: o.what, timeoutMs: o.timeoutMs, intervalMs: o.intervalMs },
  );
  return ips;
}

/** One TCP connect from pod `from`'s ("namespace/name") network namespace; true when it connects within timeoutS. */
export async function tcpFromPod(
  dir: string,
  from: string,
  ip: string,
  port: number,
  timeoutS = 1.5,
): Promise<boolean> {
  const netns = await podNetns(dir, from);
  const code = `import socket; s=socket.socket(); s.settimeout(${timeoutS}); s.connect(('${ip}', ${port})); print('ok')`;
  return new Promise((resolve) => {
    const p = spawn('nsenter', [`--net=${netns}`, '--', 'python3', '-c', code], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', () => resolve(false));
    p.on('close', () => resolve(out.includes('ok')));
  });
}
