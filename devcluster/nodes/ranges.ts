// Address ranges for the devcluster that cannot collide with the host's own networks: the cluster
// pool (pod CIDRs) and the node subnet (the fabric). The host is only read (`ip -j addr`,
// `ip -j route`); everything we create lives in namespaces of our own, so two devclusters may use
// the same ranges side by side.
import { execFileSync } from 'node:child_process';
import { NodesError, NodesErrorCode } from './errors.js';

export interface Ranges {
  /** cluster-pool-ipv4-cidr handed to the operator. */
  clusterPool: string;
  /** The fabric subnet; node i gets host i+1 (…1 is node-1). */
  nodeSubnet: string;
}

/** Preferences, first free wins (the defaults named in the devcluster's design). */
export const RANGE_CANDIDATES = {
  clusterPool: [
    '10.200.0.0/16',
    '10.201.0.0/16',
    '10.202.0.0/16',
    '10.203.0.0/16',
    '172.29.0.0/16',
    '192.168.128.0/17',
  ],
  nodeSubnet: ['172.30.0.0/24', '172.30.1.0/24', '172.31.0.0/24', '192.168.250.0/24', '10.254.254.0/24'],
};

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new NodesError(NodesErrorCode.Usage, `not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number } {
  const [ip, len] = cidr.split('/');
  const bits = Number(len ?? 32);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { base: (ipToInt(ip!) & mask) >>> 0, bits };
}

export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const bits = Math.min(x.bits, y.bits);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (x.base & mask) >>> 0 === (y.base & mask) >>> 0;
}

/** The i-th host address of a subnet (1-based). */
export function hostAddress(cidr: string, i: number): string {
  return intToIp(parseCidr(cidr).base + i);
}

/** The host's IPv4 prefixes in use: interface subnets and route destinations (not the default route). */
export function hostPrefixes(): string[] {
  const addrs = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr'], { encoding: 'utf8' })) as {
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  const routes = JSON.parse(
    execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }),
  ) as { dst: string; type?: string }[];
  const out = new Set<string>();
  for (const a of addrs) for (const i of a.addr_info ?? []) out.add(`${i.local}/${i.prefixlen}`);
  for (const r of routes) {
    if (!r.dst || r.dst === 'default' || r.dst.includes(':')) continue;
    if (r.dst.startsWith('127.') || r.dst.startsWith('255.')) continue;
    out.add(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
  }
  return [...out].filter((p) => !p.startsWith('127.'));
}

/** The first candidates that overlap none of the host's prefixes (nor each other). */
export function chooseRanges(used: string[] = hostPrefixes()): Ranges {
  const free = (list: string[], also: string[] = []) =>
    list.find((c) => ![...used, ...also].some((u) => overlaps(c, u)));
  const clusterPool = free(RANGE_CANDIDATES.clusterPool);
  if (!clusterPool)
    throw new NodesError(
      NodesErrorCode.NoFreeRange,
      `no free cluster pool among ${RANGE_CANDIDATES.clusterPool.join(', ')} (host uses ${used.join(', ')})`,
    );
  const nodeSubnet = free(RANGE_CANDIDATES.nodeSubnet, [clusterPool]);
  if (!nodeSubnet)
    throw new NodesError(
      NodesErrorCode.NoFreeRange,
      `no free node subnet among ${RANGE_CANDIDATES.nodeSubnet.join(', ')} (host uses ${used.join(', ')})`,
    );
  return { clusterPool, nodeSubnet };
}
