// Request validation for the agent's REST API: every value a caller sends is checked for type,
// shape and length before any part of the agent sees it, so a malformed request is a 400 with the
// field named, never a 500 from deep inside the endpoint manager.
import { AgentError, AgentErrorCode } from '../errors.js';
import type { EndpointChangeRequest, TraceRequest } from './types.js';

/** Kubernetes' limits: a DNS-1123 subdomain (pod names) and label (namespaces). */
const POD_NAME_MAX = 253;
const NAMESPACE_MAX = 63;
/** The kernel's IFNAMSIZ minus the terminating NUL. */
const IFNAME_MAX = 15;
/** Runtimes use 64 hex characters; leave room for others but not for megabytes. */
const CONTAINER_ID_MAX = 256;
const NETNS_PATH_MAX = 4096;

const bad = (message: string): AgentError => new AgentError(AgentErrorCode.BadRequest, message);

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IFNAME_BAD = /[/:\s]/;
/** `namespace/pod` or a container id: printable, no whitespace. */
const OWNER = /^[a-zA-Z0-9][a-zA-Z0-9_./-]*$/;

export const isIpv4 = (s: unknown): boolean => typeof s === 'string' && IPV4.test(s);

export function requireIpv4(s: string, what: string): string {
  if (!isIpv4(s)) throw bad(`${what} must be an IPv4 address (got ${JSON.stringify(s.slice(0, 64))})`);
  return s;
}

function str(o: Record<string, unknown>, key: string, max: number, required = true): string {
  const v = o[key];
  if (v === undefined && !required) return '';
  if (typeof v !== 'string' || (required && !v)) throw bad(`${key} must be a non-empty string`);
  if (v.length > max) throw bad(`${key} is longer than ${max} characters`);
  return v;
}

function ifname(o: Record<string, unknown>, key: string): string {
  const v = str(o, key, IFNAME_MAX);
  if (v === '.' || v === '..' || IFNAME_BAD.test(v)) throw bad(`${key} ${JSON.stringify(v)} is not an interface name`);
  return v;
}

/** The IPAM owner a caller records: `namespace/pod` or a container id. */
export function requireOwner(raw: string | null): string {
  if (!raw) throw bad('owner is required (namespace/pod or the container id)');
  if (raw.length > POD_NAME_MAX + NAMESPACE_MAX + 1 || !OWNER.test(raw))
    throw bad(`owner ${JSON.stringify(raw.slice(0, 64))} is not namespace/pod or a container id`);
  return raw;
}

export function optionalContainerId(raw: string | null): string | undefined {
  if (raw === null || raw === '') return undefined;
  if (raw.length > CONTAINER_ID_MAX || !CONTAINER_ID.test(raw))
    throw bad(`container ${JSON.stringify(raw.slice(0, 64))} is not a container id`);
  return raw;
}

/** PUT /endpoint/{id}: a complete, well-formed EndpointChangeRequest. */
export function asChangeRequest(body: unknown): EndpointChangeRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw bad('PUT /endpoint needs an EndpointChangeRequest object');
  const o = body as Record<string, unknown>;
  const containerId = str(o, 'container-id', CONTAINER_ID_MAX);
  if (!CONTAINER_ID.test(containerId)) throw bad('container-id has characters a container id cannot have');
  const index = o['interface-index'];
  if (typeof index !== 'number' || !Number.isInteger(index) || index <= 0 || index > 0x7fffffff)
    throw bad('interface-index must be the host-side veth ifindex (a positive integer)');
  for (const k of ['mac', 'host-mac'] as const) {
    const v = o[k];
    if (v !== undefined && v !== '' && (typeof v !== 'string' || !MAC.test(v)))
      throw bad(`${k} must be a MAC address like 02:00:00:00:00:01`);
  }
  const addressing = o.addressing;
  if (!addressing || typeof addressing !== 'object' || Array.isArray(addressing))
    throw bad('addressing must be an object with ipv4');
  const ipv4 = (addressing as Record<string, unknown>).ipv4;
  if (typeof ipv4 !== 'string' || !isIpv4(ipv4)) throw bad('addressing.ipv4 is required and must be an IPv4 address');
  const pod = str(o, 'k8s-pod-name', POD_NAME_MAX);
  const ns = str(o, 'k8s-namespace', NAMESPACE_MAX);
  if (!DNS_SUBDOMAIN.test(pod)) throw bad('k8s-pod-name is not a valid pod name');
  if (!DNS_LABEL.test(ns)) throw bad('k8s-namespace is not a valid namespace name');
  const netns = str(o, 'netns-path', NETNS_PATH_MAX, false);
  const sync = o['sync-build'];
  if (sync !== undefined && typeof sync !== 'boolean') throw bad('sync-build must be a boolean');
  return {
    'container-id': containerId,
    'container-interface-name': ifname(o, 'container-interface-name'),
    'interface-name': ifname(o, 'interface-name'),
    'interface-index': index,
    mac: (o.mac as string | undefined) ?? '',
    'host-mac': (o['host-mac'] as string | undefined) ?? '',
    addressing: { ipv4 },
    'k8s-pod-name': pod,
    'k8s-namespace': ns,
    ...(netns ? { 'netns-path': netns } : {}),
    ...(sync !== undefined ? { 'sync-build': sync } : {}),
  };
}

/** A trace peer: `{identity: n}` or `{labels: ["k8s:app=web", …] | {key: value}}`. */
function tracePeer(v: unknown, what: string): TraceRequest['source'] {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be {identity} or {labels}`);
  const o = v as Record<string, unknown>;
  if ('identity' in o) {
    if (typeof o.identity !== 'number' || !Number.isInteger(o.identity) || o.identity < 0 || o.identity > 0xffffffff)
      throw bad(`${what}.identity must be a non-negative integer`);
    return { identity: o.identity };
  }
  const l = o.labels;
  if (Array.isArray(l) && l.length <= 256 && l.every((x) => typeof x === 'string' && x.length <= 1024))
    return { labels: l };
  if (
    l &&
    typeof l === 'object' &&
    !Array.isArray(l) &&
    Object.keys(l).length <= 256 &&
    Object.values(l).every((x) => typeof x === 'string')
  )
    return { labels: l };
  throw bad(`${what} must be {identity: n} or {labels: string[] | {key: value}}`);
}

/** POST /policy/trace: two peers, a port and a protocol of the right types. */
export function asTraceRequest(body: unknown): Required<Pick<TraceRequest, 'source' | 'destination'>> & {
  port: number;
  protocol: string | number;
} {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('trace needs an object body');
  const o = body as Record<string, unknown>;
  if (!o.source || !o.destination) throw bad('trace needs source and destination ({identity} or {labels})');
  const port = o.port ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw bad('port must be an integer in 0..65535');
  const protocol = o.protocol ?? 'TCP';
  if (
    !(typeof protocol === 'string' && protocol.length <= 16) &&
    !(typeof protocol === 'number' && Number.isInteger(protocol) && protocol >= 0 && protocol <= 255)
  )
    throw bad('protocol must be a name (TCP, UDP, …) or a number 0..255');
  return {
    source: tracePeer(o.source, 'source'),
    destination: tracePeer(o.destination, 'destination'),
    port,
    protocol,
  };
}
