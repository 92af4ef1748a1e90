// Cluster-pool IPAM (upstream `ipam: cluster-pool`): the operator carves node pod CIDRs of
// `cluster-pool-ipv4-mask-size` out of `cluster-pool-ipv4-cidr`. Pure: the controller rebuilds
// it from every CiliumNode before it hands anything out, so a CIDR is never given twice.
import { OperatorErrorCode, PoolError } from './errors.js';

export interface ClusterPoolOptions {
  /** The pool(s), e.g. ["10.200.0.0/16"]. */
  cidrs: string[];
  /** Prefix length of each node's pod CIDR, e.g. 24. */
  maskSize: number;
}

const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const intToIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function parse(cidr: string): { base: number; len: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
  if (!m)
    throw new PoolError(
      OperatorErrorCode.PoolBadConfig,
      `cluster-pool-ipv4-cidr: ${JSON.stringify(cidr)} is not an IPv4 CIDR`,
    );
  const len = Number(m[2]);
  const base = ipToInt(m[1]!);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return { base: (base & mask) >>> 0, len };
}

export class ClusterPool {
  private readonly blocks: string[] = [];
  /** CIDR → owning node. */
  private readonly owners = new Map<string, string>();

  constructor(readonly o: ClusterPoolOptions) {
    for (const c of o.cidrs) {
      const { base, len } = parse(c);
      if (o.maskSize < len || o.maskSize > 30) {
        throw new PoolError(
          OperatorErrorCode.PoolBadConfig,
          `cluster-pool-ipv4-mask-size ${o.maskSize} must be between ${len} (the pool ${c}) and 30`,
        );
      }
      const count = 2 ** (o.maskSize - len);
      const step = 2 ** (32 - o.maskSize);
      for (let i = 0; i < count; i++) this.blocks.push(`${intToIp(base + i * step)}/${o.maskSize}`);
    }
  }

  get capacity(): number {
    return this.blocks.length;
  }

  /** Records an allocation found on a CiliumNode; false when another node already holds it. */
  occupy(cidr: string, node: string): boolean {
    const owner = this.owners.get(cidr);
    if (owner && owner !== node) return false;
    this.owners.set(cidr, node);
    return true;
  }

  /** The node's CIDR: the one it holds, else the first free block. */
  allocate(node: string): string {
    for (const [cidr, owner] of this.owners) if (owner === node) return cidr;
    const free = this.blocks.find((b) => !this.owners.has(b));
    if (!free)
      throw new PoolError(
        OperatorErrorCode.PoolExhausted,
        `the cluster pool ${this.o.cidrs.join(' ')} has no free /${this.o.maskSize} left (${this.capacity} nodes hold one each)`,
      );
    this.owners.set(free, node);
    return free;
  }

  /** Forgets every allocation (before a rebuild from the cluster's CiliumNodes). */
  clear(): void {
    this.owners.clear();
  }

  release(node: string): string[] {
    const freed: string[] = [];
    for (const [cidr, owner] of this.owners) if (owner === node) freed.push(cidr);
    for (const c of freed) this.owners.delete(c);
    return freed;
  }

  ownerOf(cidr: string): string | undefined {
    return this.owners.get(cidr);
  }

  inPool(cidr: string): boolean {
    return this.blocks.includes(cidr);
  }
}
