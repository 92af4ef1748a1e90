// Service + EndpointSlices → load-balancer frontends with their backends: the pure half of the
// agent's service handling (upstream pkg/k8s/service.go ParseService, pkg/k8s/endpoints.go
// ParseEndpointSliceV1, and the frontend expansion of pkg/loadbalancer). No I/O: objects in,
// LbService[] and typed events out, so it is tested array-in/array-out.
import type { LbBackend, LbProto, LbService, LbServiceType } from '../../../datapath/lb.js';
import type { KubeObject } from '../../framework/index.js';

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface ServiceObject extends KubeObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    externalIPs?: string[];
    ports?: ServicePort[];
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

export interface EndpointSliceObject extends KubeObject {
  addressType?: string;
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
    nodeName?: string;
  }[];
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[];
}

/** Where the translation runs: the node, its addresses, and what the config allows. */
export interface TranslateContext {
  nodeName: string;
  /** this node's IPv4 addresses NodePort frontends are served on */
  nodeAddresses: readonly string[];
  /** `node-port-range` */
  nodePortRange: readonly [number, number];
  /** `kube-proxy-replacement`: NodePort, ExternalIPs and LoadBalancer frontends only when true */
  kubeProxyReplacement: boolean;
}

/** Why a Service or a port of it has no frontend, or how its backends were chosen. */
export type TranslateEvent =
  | {
      type: 'ignored';
      service: string;
      reason: 'headless' | 'service-proxy-name' | 'external-name' | 'no-ipv4-cluster-ip';
    }
  | { type: 'unsupported-protocol'; service: string; port: string; protocol: string }
  | { type: 'node-port-out-of-range'; service: string; port: string; nodePort: number }
  | { type: 'terminating-fallback'; service: string; port: string; backends: number };

/** Upstream's label for Services another proxy handles (KEP-2447, "service.kubernetes.io/service-proxy-name"). */
export const SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
/** The label linking a slice to its Service (discovery.k8s.io/v1). */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Kubernetes' ClientIP affinity default (ClientIPConfig.timeoutSeconds). */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;

const isIpv4 = (s: string | undefined): s is string => !!s && /^\d{1,3}(\.\d{1,3}){3}$/.test(s);
const keyOf = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/** The EndpointSlices that belong to a Service, by its key: the index the reconciler keeps. */
export function sliceServiceKey(s: EndpointSliceObject): string | undefined {
  const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  return svc ? `${s.metadata?.namespace ?? ''}/${svc}` : undefined;
}

interface Candidate {
  address: string;
  port: number;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** The endpoints of the slices for one service port (matched by port name and protocol). */
function candidates(slices: readonly EndpointSliceObject[], portName: string, proto: LbProto): Candidate[] {
  const out = new Map<string, Candidate>();
  for (const s of slices) {
    if (s.addressType !== 'IPv4') continue;
    const p = (s.ports ?? []).find((x) => (x.name ?? '') === portName && (x.protocol ?? 'TCP') === proto);
    if (!p || !p.port) continue;
    for (const e of s.endpoints ?? []) {
      const address = e.addresses?.[0];
      if (!isIpv4(address)) continue;
      // upstream ParseEndpointConditionsV1: nil ready/serving mean true; terminating only when set
      const ready = e.conditions?.ready !== false;
      const c: Candidate = {
        address,
        port: p.port,
        ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        ready,
        serving: e.conditions?.serving ?? ready,
        terminating: e.conditions?.terminating === true,
      };
      out.set(`${address}:${p.port}`, c);
    }
  }
  return [...out.values()].sort((a, b) => compareIp(a.address, b.address) || a.port - b.port);
}

function compareIp(a: string, b: string): number {
  const n = (s: string) => s.split('.').reduce((x, p) => x * 256 + Number(p), 0);
  return n(a) - n(b);
}

/**
 * Backends that take new connections: the ready ones; when none is ready, the serving ones that
 * are terminating (upstream v1.16+, KEP-1669), marked terminating. `local` keeps only this node's.
 */
function pickBackends(
  all: readonly Candidate[],
  proto: LbProto,
  local: string | undefined,
): { backends: LbBackend[]; fallback: boolean } {
  const scoped = local === undefined ? all : all.filter((c) => c.nodeName === local);
  const active = scoped.filter((c) => c.ready && !c.terminating);
  if (active.length)
    return {
      backends: active.map((c) => ({ address: c.address, port: c.port, proto, state: 'active' })),
      fallback: false,
    };
  const terminating = scoped.filter((c) => c.serving && c.terminating);
  return {
    backends: terminating.map((c) => ({ address: c.address, port: c.port, proto, state: 'terminating' })),
    fallback: terminating.length > 0,
  };
}

/** One Service and its slices → its frontends; events say what was left out and why. */
export function translateService(
  svc: ServiceObject,
  slices: readonly EndpointSliceObject[],
  ctx: TranslateContext,
): { services: LbService[]; events: TranslateEvent[] } {
  const name = keyOf(svc);
  const spec = svc.spec ?? {};
  const events: TranslateEvent[] = [];
  const ignore = (reason: Extract<TranslateEvent, { type: 'ignored' }>['reason']) => {
    events.push({ type: 'ignored', service: name, reason });
    return { services: [], events };
  };
  if (svc.metadata?.labels?.[SERVICE_PROXY_NAME] !== undefined) return ignore('service-proxy-name');
  if (spec.type === 'ExternalName') return ignore('external-name');
  if (spec.clusterIP === 'None') return ignore('headless');
  const clusterIps = (spec.clusterIPs?.length ? spec.clusterIPs : [spec.clusterIP]).filter(isIpv4);
  if (!clusterIps.length) return ignore('no-ipv4-cluster-ip');

  const affinityTimeoutSec =
    spec.sessionAffinity === 'ClientIP'
      ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT)
      : 0;
  const intLocal = spec.internalTrafficPolicy === 'Local';
  const extLocal = spec.externalTrafficPolicy === 'Local';
  const nodePorts = ctx.kubeProxyReplacement && (spec.type === 'NodePort' || spec.type === 'LoadBalancer');
  const [lo, hi] = ctx.nodePortRange;

  const out: LbService[] = [];
  for (const p of spec.ports ?? []) {
    const portName = p.name ?? '';
    const label = portName || String(p.port);
    const protocol = p.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') {
      events.push({ type: 'unsupported-protocol', service: name, port: label, protocol });
      continue;
    }
    const proto: LbProto = protocol;
    const all = candidates(slices, portName, proto);
    const pick = (local: boolean) => {
      const r = pickBackends(all, proto, local ? ctx.nodeName : undefined);
      if (r.fallback)
        events.push({ type: 'terminating-fallback', service: name, port: label, backends: r.backends.length });
      return r.backends;
    };
    const internal = pick(intLocal);
    const external = extLocal ? pick(true) : intLocal ? pick(false) : internal;
    const base = { name, ...(affinityTimeoutSec ? { affinityTimeoutSec } : {}) };
    const add = (address: string, port: number, type: LbServiceType, backends: LbBackend[], extra = {}) =>
      out.push({ ...base, frontend: { address, port, proto }, type, backends, ...extra });

    for (const ip of clusterIps) add(ip, p.port, 'ClusterIP', internal, intLocal ? { intLocal } : {});
    if (!ctx.kubeProxyReplacement) continue;
    for (const ip of (spec.externalIPs ?? []).filter(isIpv4)) add(ip, p.port, 'ExternalIPs', external, { extLocal });
    for (const ing of svc.status?.loadBalancer?.ingress ?? [])
      if (isIpv4(ing.ip)) add(ing.ip, p.port, 'LoadBalancer', external, { extLocal });
    if (nodePorts && p.nodePort) {
      if (p.nodePort < lo || p.nodePort > hi) {
        events.push({ type: 'node-port-out-of-range', service: name, port: label, nodePort: p.nodePort });
        continue;
      }
      for (const ip of ctx.nodeAddresses) add(ip, p.nodePort, 'NodePort', external, { extLocal });
      add('0.0.0.0', p.nodePort, 'NodePort', external, { extLocal, routable: false });
    }
  }
  return { services: out, events };
}

/** Every Service with its slices (indexed by `sliceServiceKey`) → the whole desired LB state. */
export function translateAll(
  services: readonly ServiceObject[],
  slicesByService: ReadonlyMap<string, readonly EndpointSliceObject[]>,
  ctx: TranslateContext,
): { services: LbService[]; events: TranslateEvent[] } {
  const all: LbService[] = [];
  const events: TranslateEvent[] = [];
  const seen = new Set<string>();
  // each service keyed once; byte order, not localeCompare (its first call in the agent would load
  // ICU's collator, 8-30 ms)
  const keyed = [...services].map((svc) => [keyOf(svc), svc] as const);
  keyed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, svc] of keyed) {
    const r = translateService(svc, slicesByService.get(key) ?? [], ctx);
    events.push(...r.events);
    for (const s of r.services) {
      // two Services claiming one frontend: the first by name keeps it, as the maps hold one
      const id = `${s.frontend.address}:${s.frontend.port}/${s.frontend.proto}`;
      if (seen.has(id)) continue;
      seen.add(id);
      all.push(s);
    }
  }
  return { services: all, events };
}
