// Upstream's key layout under `cilium/` and its value encodings (Cilium `Documentation/kvstore.rst`,
// `pkg/kvstore/allocator`, `pkg/ipcache/kvstore.go`, `pkg/node/store`): so that `etcdctl get
// --prefix cilium/state` reads as it does on a Cilium cluster.
import { KvstoreError, KvstoreErrorCode } from './errors.js';

export const STATE_PREFIX = 'cilium/state/';
export const IDENTITIES_PREFIX = 'cilium/state/identities/v1/';
/** `id/<ID>` → label string; no lease (the operator collects unused ones). */
export const IDENTITY_ID_PREFIX = `${IDENTITIES_PREFIX}id/`;
/** `value/<labels>/<nodeIP>` → decimal ID, under the owning agent's session lease. */
export const IDENTITY_VALUE_PREFIX = `${IDENTITIES_PREFIX}value/`;
/** `locks/<labels>/<lease>` → the allocation mutex of one label set. */
export const IDENTITY_LOCK_PREFIX = `${IDENTITIES_PREFIX}locks/`;
/** `<ip>` → IPIdentityPair JSON, under the owning agent's session lease (address space "default"). */
export const IPCACHE_PREFIX = 'cilium/state/ip/v1/default/';
/** `<cluster>/<node>` → Node JSON, under the node's agent's session lease. */
export const NODES_PREFIX = 'cilium/state/nodes/v1/';
/** RFC 3339 time, written by the operator every minute under its session lease. */
export const HEARTBEAT_KEY = 'cilium/.heartbeat';

/** Labels as the agent keeps them: `source:key` → value. */
export type LabelRecord = Record<string, string>;

/** Upstream's label string: `source:key=value;` per label, sorted (e.g. `k8s:app=foo;k8s:io.kubernetes.pod.namespace=default;`). */
export function encodeLabels(labels: LabelRecord): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]};`)
    .join('');
}

/** The inverse of encodeLabels; a label without `=` has the empty value. */
export function decodeLabels(text: string): LabelRecord {
  const out: LabelRecord = {};
  for (const part of text.split(';')) {
    if (!part) continue;
    const i = part.indexOf('=');
    if (i < 0) out[part] = '';
    else out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

export const identityIdKey = (id: number): string => `${IDENTITY_ID_PREFIX}${id}`;
/** The trailing `/` ends the label string, so `a;b;` never matches `a;b;c;`. */
export const identityValuePrefix = (labels: string): string => `${IDENTITY_VALUE_PREFIX}${labels}/`;
export const identityValueKey = (labels: string, nodeIp: string): string => `${identityValuePrefix(labels)}${nodeIp}`;
export const identityLockPath = (labels: string): string => `${IDENTITY_LOCK_PREFIX}${labels}`;
export const ipcacheKey = (ip: string): string => `${IPCACHE_PREFIX}${ip}`;
export const nodeKey = (cluster: string, node: string): string => `${NODES_PREFIX}${cluster}/${node}`;

/** The id of an `id/<ID>` key, or undefined for other keys. */
export function idOfKey(key: string): number | undefined {
  if (!key.startsWith(IDENTITY_ID_PREFIX)) return undefined;
  const rest = key.slice(IDENTITY_ID_PREFIX.length);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

/** The label string of a `value/<labels>/<nodeIP>` key (the node part is after the last `/`). */
export function labelsOfValueKey(key: string): string | undefined {
  if (!key.startsWith(IDENTITY_VALUE_PREFIX)) return undefined;
  const rest = key.slice(IDENTITY_VALUE_PREFIX.length);
  const i = rest.lastIndexOf('/');
  return i < 0 ? undefined : rest.slice(0, i);
}

/** Upstream's `identity.IPIdentityPair` as JSON (field names as Go's encoding/json writes them). */
export interface IpIdentityPair {
  IP: string;
  /** base64 of the mask bytes for CIDR entries; null for a host address. */
  Mask: string | null;
  HostIP: string;
  ID: number;
  Key: number;
  Metadata: string;
  K8sNamespace?: string;
  K8sPodName?: string;
  NamedPorts?: { Name: string; Port: number; Protocol: string }[];
}

export function encodeIpIdentityPair(p: IpIdentityPair): string {
  return JSON.stringify(p);
}

export function decodeIpIdentityPair(key: string, text: string): IpIdentityPair {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KvstoreError(KvstoreErrorCode.Decode, `${key}: not JSON`, { cause: e });
  }
  const p = v as Partial<IpIdentityPair> | null;
  if (!p || typeof p.IP !== 'string' || typeof p.ID !== 'number' || !Number.isInteger(p.ID))
    throw new KvstoreError(KvstoreErrorCode.Decode, `${key}: an IPIdentityPair needs "IP" (string) and "ID" (integer)`);
  return {
    IP: p.IP,
    Mask: typeof p.Mask === 'string' ? p.Mask : null,
    HostIP: typeof p.HostIP === 'string' ? p.HostIP : '',
    ID: p.ID,
    Key: typeof p.Key === 'number' ? p.Key : 0,
    Metadata: typeof p.Metadata === 'string' ? p.Metadata : '',
    ...(typeof p.K8sNamespace === 'string' ? { K8sNamespace: p.K8sNamespace } : {}),
    ...(typeof p.K8sPodName === 'string' ? { K8sPodName: p.K8sPodName } : {}),
    ...(Array.isArray(p.NamedPorts) ? { NamedPorts: p.NamedPorts } : {}),
  };
}

/** Upstream's `nodeTypes.Node` as JSON, with the fields the docs show. */
export interface KvNode {
  Name: string;
  Cluster: string;
  IPAddresses: { Type: string; IP: string }[];
  IPv4AllocCIDR: { IP: string; Mask: string } | null;
  IPv6AllocCIDR: { IP: string; Mask: string } | null;
  IPv4HealthIP: string;
  IPv6HealthIP: string;
  ClusterID: number;
}

/** A CIDR as Go's net.IPNet marshals it: IP as text, Mask as base64 bytes. */
export function ipNet(cidr: string): { IP: string; Mask: string } {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const mask = Buffer.alloc(4);
  mask.writeUInt32BE(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
  return { IP: ip!, Mask: mask.toString('base64') };
}

export function decodeNode(key: string, text: string): KvNode {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new KvstoreError(KvstoreErrorCode.Decode, `${key}: not JSON`, { cause: e });
  }
  const n = v as Partial<KvNode> | null;
  if (!n || typeof n.Name !== 'string' || !Array.isArray(n.IPAddresses))
    throw new KvstoreError(KvstoreErrorCode.Decode, `${key}: a Node needs "Name" and "IPAddresses"`);
  return {
    Name: n.Name,
    Cluster: typeof n.Cluster === 'string' ? n.Cluster : '',
    IPAddresses: n.IPAddresses,
    IPv4AllocCIDR: n.IPv4AllocCIDR ?? null,
    IPv6AllocCIDR: n.IPv6AllocCIDR ?? null,
    IPv4HealthIP: n.IPv4HealthIP ?? '',
    IPv6HealthIP: n.IPv6HealthIP ?? '',
    ClusterID: typeof n.ClusterID === 'number' ? n.ClusterID : 0,
  };
}
