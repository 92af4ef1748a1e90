// What the parser asks the agent: who an endpoint, an IP or an identity is. The agent implements
// it over its endpoint manager, ipcache and identity allocator; tests use StaticResolver.
import type { Service } from './types.js';

/** A local or remote pod as Hubble shows it. */
export interface EndpointInfo {
  /** the endpoint id (0 for a pod on another node) */
  id: number;
  identity: number;
  namespace: string;
  podName: string;
  /** "source:key=value", e.g. "k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=demo" */
  labels: string[];
  workloads?: { name: string; kind: string }[];
  ips?: string[];
}

export interface Resolver {
  /** a local endpoint by its endpoint id (the `source` of a datapath event) */
  endpointById(id: number): EndpointInfo | undefined;
  /** any pod (local or remote) by one of its IPs */
  endpointByIp(ip: string): EndpointInfo | undefined;
  /** the labels of a security identity (reserved ones included: "reserved:world") */
  identityLabels(identity: number): string[] | undefined;
  /**
   * The Service an address:port belongs to: a frontend, or (cilium-ts) a backend taking its new
   * connections — socket-LB translates at connect(), so packets only ever carry the backend.
   */
  serviceAt?(ip: string, port: number, proto: 'TCP' | 'UDP'): Service | undefined;
  /** DNS names the FQDN cache learned for an IP (source_names / destination_names of L7 flows) */
  namesOf?(ip: string): string[] | undefined;
  /** the security identity of an address that is no pod (ipcache: world, a CIDR identity, a node) */
  identityOfIp?(ip: string): number | undefined;
}

/** Reserved identities' labels (docs: internals/security-identities), used when the resolver does not know them. */
export const reservedIdentityLabels: Readonly<Record<number, string[]>> = {
  1: ['reserved:host'],
  2: ['reserved:world'],
  3: ['reserved:unmanaged'],
  4: ['reserved:health'],
  5: ['reserved:init'],
  6: ['reserved:remote-node'],
  7: ['reserved:kube-apiserver'],
  8: ['reserved:ingress'],
};

/** A resolver over tables the owner keeps current (the agent: add/remove on endpoint and ipcache events; tests). */
export class StaticResolver implements Resolver {
  private readonly byId = new Map<number, EndpointInfo>();
  private readonly byIp = new Map<string, EndpointInfo>();
  private readonly identities = new Map<number, string[]>();
  private readonly services = new Map<string, Service>();
  private readonly names = new Map<string, string[]>();

  constructor(endpoints: EndpointInfo[] = [], identities: Record<number, string[]> = {}) {
    for (const e of endpoints) this.add(e);
    for (const [id, labels] of Object.entries(identities)) this.identities.set(Number(id), labels);
  }

  add(e: EndpointInfo): void {
    if (e.id) this.byId.set(e.id, e);
    for (const ip of e.ips ?? []) this.byIp.set(ip, e);
    this.identities.set(e.identity, e.labels);
  }

  /** Forgets an endpoint (by id for a local one, or by its IPs). */
  remove(e: Pick<EndpointInfo, 'id' | 'ips'>): void {
    if (e.id) this.byId.delete(e.id);
    for (const ip of e.ips ?? []) this.byIp.delete(ip);
  }

  setIdentity(identity: number, labels: string[] | undefined): void {
    if (labels) this.identities.set(identity, labels);
    else this.identities.delete(identity);
  }

  endpointById(id: number): EndpointInfo | undefined {
    return this.byId.get(id);
  }
  endpointByIp(ip: string): EndpointInfo | undefined {
    return this.byIp.get(ip);
  }
  identityLabels(identity: number): string[] | undefined {
    return this.identities.get(identity);
  }

  /** Names the Service at an address:port (undefined forgets it). */
  setService(ip: string, port: number, proto: 'TCP' | 'UDP', svc: Service | undefined): void {
    if (svc) this.services.set(`${ip}:${port}/${proto}`, svc);
    else this.services.delete(`${ip}:${port}/${proto}`);
  }
  serviceAt(ip: string, port: number, proto: 'TCP' | 'UDP'): Service | undefined {
    return this.services.get(`${ip}:${port}/${proto}`);
  }

  /** The names learned for an IP (undefined or [] forgets them). */
  setNames(ip: string, names: string[] | undefined): void {
    if (names?.length) this.names.set(ip, names);
    else this.names.delete(ip);
  }
  namesOf(ip: string): string[] | undefined {
    return this.names.get(ip);
  }
}
