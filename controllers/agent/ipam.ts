// Host-scope IPAM: addresses for this node's pods from the pod CIDR the operator gave the node.
// The first usable address is the router (the pods' gateway); allocations are restored from the
// endpoint state files after a restart, so an address in use is never handed out again.
import { AgentErrorCode, IpamError } from './errors.js';

const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const toIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

export class HostIpam {
  private base = 0;
  private size = 0;
  private cidrText = '';
  /** ip → owner (`namespace/pod`, or `router`). */
  private readonly used = new Map<string, string>();
  /** ip → the container that asked (CNI_CONTAINERID), so its DEL frees what never became an endpoint. */
  private readonly containers = new Map<string, string>();
  private next = 2;

  get ready(): boolean {
    return this.size > 0;
  }

  get cidr(): string {
    return this.cidrText;
  }

  /** The pods' gateway: the first usable address of the pod CIDR. */
  get router(): string {
    return toIp(this.base + 1);
  }

  setCidr(cidr: string): void {
    const [ip, len] = cidr.split('/');
    const bits = 32 - Number(len);
    this.base = ((toInt(ip!) >>> bits) << bits) >>> 0;
    this.size = 2 ** bits;
    this.cidrText = cidr;
    this.used.set(this.router, 'router');
  }

  contains(ip: string): boolean {
    const n = toInt(ip);
    return this.size > 0 && n >= this.base && n < this.base + this.size;
  }

  /** Marks an address as used (restore); false when it is outside the CIDR. */
  restore(ip: string, owner: string): boolean {
    if (!this.contains(ip)) return false;
    this.used.set(ip, owner);
    return true;
  }

  allocate(owner: string, containerId?: string): string {
    if (!this.ready)
      throw new IpamError(
        AgentErrorCode.IpamNotReady,
        'this node has no pod CIDR yet: is cilium-operator running and has it allocated one (CiliumNode spec.ipam.podCIDRs)?',
      );
    // Skip network, router and broadcast; start after the last allocation so a released address is not reused at once.
    const usable = this.size - 2;
    for (let i = 0; i < usable; i++) {
      const off = ((this.next - 1 + i) % (usable - 1)) + 2;
      const ip = toIp(this.base + off);
      if (!this.used.has(ip)) {
        this.used.set(ip, owner);
        if (containerId) this.containers.set(ip, containerId);
        this.next = off + 1;
        return ip;
      }
    }
    throw new IpamError(
      AgentErrorCode.IpamExhausted,
      `the pod CIDR ${this.cidrText} has no free address (${this.used.size} in use)`,
    );
  }

  release(ip: string): boolean {
    if (this.used.get(ip) === 'router') return false;
    this.containers.delete(ip);
    return this.used.delete(ip);
  }

  /**
   * Frees the addresses `owner` holds (only those `containerId` asked for, when given) that
   * `inUse` does not claim: allocations whose ADD never produced an endpoint (the plugin gave up,
   * the agent restarted in between). Returns the freed addresses.
   */
  releaseUnused(owner: string, containerId: string | undefined, inUse: (ip: string) => boolean): string[] {
    const freed: string[] = [];
    for (const [ip, o] of this.used) {
      if (o !== owner || o === 'router' || inUse(ip)) continue;
      if (containerId && this.containers.get(ip) !== containerId) continue;
      this.release(ip);
      freed.push(ip);
    }
    return freed;
  }

  get inUse(): number {
    return this.used.size;
  }

  /** ip → owner, for `cilium-dbg` and tests. */
  allocations(): Record<string, string> {
    return Object.fromEntries(this.used);
  }

  owner(ip: string): string | undefined {
    return this.used.get(ip);
  }

  /** The container an address was allocated for (absent for restored and router addresses). */
  containerOf(ip: string): string | undefined {
    return this.containers.get(ip);
  }
}
