// Service defaulting and the ClusterIP allocator, as kube-apiserver's service REST storage does
// them: type ClusterIP by default, a free address from the service CIDR (10.96.0.0/16 here;
// .1 is the "kubernetes" service), ports with protocol TCP and targetPort = port.
import { fieldError, invalid } from './errors.js';
import type { KubeObject } from './store.js';

export const SERVICE_CIDR_BASE = (10 << 24) | (96 << 16);
export const SERVICE_CIDR_SIZE = 1 << 16;
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

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
  ports?: { port: number; protocol?: string; targetPort?: number | string; name?: string }[];
  sessionAffinity?: string;
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  internalTrafficPolicy?: string;
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
