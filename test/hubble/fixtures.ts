// Synthetic but realistic events: real frames from datapath/packet.ts run through the sim
// datapath with a default-deny policy for one pod, plus a resolver that knows the pods.
import { defaultConfig, type Datapath } from '../../datapath/datapath.js';
import { SimDatapath } from '../../datapath/sim.js';
import { buildFrame, type PacketSpec } from '../../datapath/packet.js';
import type { DatapathEvent } from '../../datapath/events.js';
import { StaticResolver, type EndpointInfo } from '../../hubble/resolver.js';
import { setRules } from '../datapath/policy-rules.js';

export const FRONTEND: EndpointInfo = {
  id: 11,
  identity: 1001,
  namespace: 'demo',
  podName: 'frontend-7d9f',
  labels: ['k8s:app=frontend', 'k8s:io.kubernetes.pod.namespace=demo'],
  workloads: [{ name: 'frontend', kind: 'Deployment' }],
  ips: ['10.1.0.1', 'fd01::1'],
};
export const BACKEND: EndpointInfo = {
  id: 12,
  identity: 2002,
  namespace: 'demo',
  podName: 'backend-55c4',
  labels: ['k8s:app=backend', 'k8s:io.kubernetes.pod.namespace=demo', 'k8s:tier=db'],
  ips: ['10.1.0.2', 'fd01::2'],
};
/** a pod on another node: known by IP only */
export const REMOTE: EndpointInfo = {
  id: 0,
  identity: 3003,
  namespace: 'other',
  podName: 'client-1',
  labels: ['k8s:app=client', 'k8s:io.kubernetes.pod.namespace=other'],
  ips: ['10.2.0.5'],
};

export function resolver(): StaticResolver {
  return new StaticResolver([FRONTEND, BACKEND, REMOTE], { 2: ['reserved:world'] });
}

/** A sim datapath: frontend may reach backend on TCP 80; backend denies everything else. */
export function simDatapath(): SimDatapath {
  const dp = new SimDatapath({ config: { ...defaultConfig, eventsRate: 0, eventsBurst: 0, ctLifetimeTcp: 3600 } });
  programPods(dp);
  return dp;
}

/** The pods and policies of these fixtures, programmed into a datapath (sim or kernel). */
export function programPods(dp: Datapath): void {
  dp.syncEndpoints([
    { id: 11, ips: ['10.1.0.1'], ifindex: 1, identity: 1001 },
    { id: 12, ips: ['10.1.0.2'], ifindex: 1, identity: 2002 },
  ]);
  dp.syncIpcache([
    { prefix: '10.1.0.1/32', identity: 1001 },
    { prefix: '10.1.0.2/32', identity: 2002 },
    { prefix: '10.2.0.5/32', identity: 3003 },
    { prefix: '0.0.0.0/0', identity: 2 },
  ]);
  setRules(dp, 11, [{ direction: 'egress', identity: 0, protocol: 0, port: 0 }]);
  setRules(dp, 12, [
    { direction: 'ingress', identity: 1001, protocol: 6, port: 80 },
    { direction: 'ingress', identity: 3003, protocol: 6, port: 5432, deny: true },
    { direction: 'egress', identity: 0, protocol: 0, port: 0 },
  ]);
}

const LOCAL_IPS = new Set(['10.1.0.1', '10.1.0.2']);

/** Events produced by one frame leaving `from` (egress hook of the sender, ingress of the receiver). */
export function eventsFor(dp: SimDatapath, spec: PacketSpec): DatapathEvent[] {
  const frame = buildFrame(spec);
  // a sender on another node reaches this node's programs only at the receiver's hook
  if (!LOCAL_IPS.has(spec.src)) return dp.process(frame, 'to-container').events;
  const out = dp.process(frame, 'from-container');
  if (!out.allowed) return out.events;
  return [...out.events, ...dp.process(frame, 'to-container').events];
}

/**
 * Polls `probe` until it returns a value; fails naming `what` after `timeoutMs`. Tests await
 * delivery with it and leave latency to the benchmarks: a loaded machine is slow, not wrong.
 */
export async function eventually<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 10))) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** A policy drop of a TCP frontend → backend frame to `dport`, fed to a server as the ring would. */
export function observeDrop(server: { observe(e: DatapathEvent): void }, dport: number): void {
  const data = buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'tcp', dport });
  server.observe({
    type: 'drop',
    source: 12,
    hash: 0,
    lenOrig: data.length,
    ipv6: false,
    data,
    reason: 133,
    reasonName: 'POLICY_DENIED',
    srcLabel: 1001,
    dstLabel: 2002,
    ifindex: 1,
  });
}
