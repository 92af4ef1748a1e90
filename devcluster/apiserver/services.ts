// Service defaulting and the ClusterIP allocator, as kube-apiserver's service REST storage does
// them: type ClusterIP by default, a free address from the service CIDR (10.96.0.0/16 here;
// .1 is the "kubernetes" service), ports with protocol TCP and targetPort = port.
import { fieldError, invalid } from './errors.js';
import type { KubeObject } from './store.js';

export const SERVICE_CIDR_BASE = (10 << 24) | (96 << 16);
export const SERVICE_CIDR_SIZE = 1 << 16;
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
/** kube-apiserver's --service-node-port-range default */
export const NODE_PORT_RANGE: readonly [number, number] = [30000, 32767];

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

interface ServiceSpec {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ports?: { port: number; protocol?: string; targetPort?: number | string; name?: string; nodePort?: number }[];
  sessionAffinity?: string;
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  internalTrafficPolicy?: string;
}

/**
 * Gives each port of a NodePort or LoadBalancer Service a node port from NODE_PORT_RANGE not in
 * `used` (lowest free first, like the ClusterIPs here; upstream picks at random), and refuses a
 * requested one that is out of range or taken, with kube-apiserver's messages.
 */
export function allocateNodePorts(svc: KubeObject, used: Set<number>): void {
  const spec = svc.spec as ServiceSpec;
  if (spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') return;
  const [lo, hi] = NODE_PORT_RANGE;
  const mine = new Set<number>();
  (spec.ports ?? []).forEach((p, i) => {
    if (p.nodePort === undefined) return;
    const bad = (msg: string) =>
      invalid('Service', '', svc.metadata.name ?? '', [
        fieldError.invalid(`spec.ports[${i}].nodePort`, p.nodePort, msg),
      ]);
    if (p.nodePort < lo || p.nodePort > hi)
      throw bad(`provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`);
    if (used.has(p.nodePort) && !mine.has(p.nodePort)) throw bad('provided port is already allocated');
    mine.add(p.nodePort);
  });
  let next = lo;
  for (const p of spec.ports ?? []) {
    if (p.nodePort !== undefined) continue;
    while (next <= hi && (used.has(next) || mine.has(next))) next++;
    if (next > hi)
      throw invalid('Service', '', svc.metadata.name ?? '', [
        fieldError.invalid('spec.ports', p.port, 'range is full'),
      ]);
    p.nodePort = next;
    mine.add(next);
  }
}

/** Fills the Service defaults and allocates a ClusterIP not in `used`. */
export function defaultService(svc: KubeObject, used: Set<string>): void {
  const spec = (svc.spec ??= {}) as ServiceSpec;
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const p of spec.ports ?? []) {
    p.protocol ??= 'TCP';
    p.targetPort ??= p.port;
  }
  if (spec.type === 'ExternalName') return;
  spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.clusterIP === 'None') {
    spec.clusterIPs = ['None'];
    return;
  }
  if (spec.clusterIP) {
    const n = ipToInt(spec.clusterIP);
    if (n - SERVICE_CIDR_BASE < 0 || n - SERVICE_CIDR_BASE >= SERVICE_CIDR_SIZE) {
      throw invalid('Service', '', svc.metadata.name ?? '', [
        fieldError.invalid(
          'spec.clusterIPs[0]',
          spec.clusterIP,
          'provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16',
        ),
      ]);
    }
    if (used.has(spec.clusterIP)) {
      throw invalid('Service', '', svc.metadata.name ?? '', [
        fieldError.invalid(
          'spec.clusterIPs',
          [spec.clusterIP],
          'failed to allocate IP ' + spec.clusterIP + ': provided IP is already allocated',
        ),
      ]);
    }
  } else {
    // Lowest free address from .10 up: deterministic, which keeps test output stable.
    for (let i = 10; i < SERVICE_CIDR_SIZE - 1; i++) {
      const ip = intToIp(SERVICE_CIDR_BASE + i);
      if (!used.has(ip)) {
        spec.clusterIP = ip;
        break;
      }
    }
  }
  spec.clusterIPs = [spec.clusterIP as string];
  spec.ipFamilies ??= ['IPv4'];
  spec.ipFamilyPolicy ??= 'SingleStack';
}
