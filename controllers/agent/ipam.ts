// Host-scope IPAM: addresses for this node's pods from the pod CIDR the operator gave the node.
// The first usable address is the router (the pods' gateway). Endpoint addresses come back from
// the endpoint state files after a restart; addresses handed out but not (yet) an endpoint are in
// a journal (one durable file per address), so an agent killed between the allocation and the
// endpoint never hands the same address out twice.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isIpv4 } from './api/validate.js';
import { removeFileDurably, writeFileDurably } from './durable-file.js';
import { AgentErrorCode, IpamError } from './errors.js';

export interface HostIpamOptions {
  /** Where allocations are journaled (absent: memory only, as in unit tests). */
  journalDir?: string;
}

/** One journaled allocation. */
export interface IpamJournalEntry {
  ip: string;
  owner: string;
  container?: string;
}

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

  constructor(private readonly o: HostIpamOptions = {}) {
    if (o.journalDir) mkdirSync(o.journalDir, { recursive: true });
  }

  private journalPath(ip: string): string | undefined {
    return this.o.journalDir ? join(this.o.journalDir, `${ip}.json`) : undefined;
  }

  /**
   * Reserves what the journal holds (after setCidr). Entries outside the CIDR, unreadable or
   * already taken are dropped and reported; returns the reserved entries.
   */
  restoreJournal(onDrop: (file: string, why: string) => void = () => undefined): IpamJournalEntry[] {
    const dir = this.o.journalDir;
    if (!dir) return [];
    const kept: IpamJournalEntry[] = [];
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json')) continue;
      let why: string | undefined;
      let e: Partial<IpamJournalEntry> = {};
      try {
        e = (JSON.parse(readFileSync(join(dir, f), 'utf8')) ?? {}) as Partial<IpamJournalEntry>;
      } catch (err) {
        why = `not JSON: ${(err as Error).message}`;
      }
      if (!why && (typeof e.ip !== 'string' || !isIpv4(e.ip) || f !== `${e.ip}.json`)) why = 'not an allocation record';
      else if (!why && typeof e.owner !== 'string') why = 'no owner';
      else if (!why && !this.contains(e.ip!)) why = `${e.ip} is outside the pod CIDR ${this.cidrText}`;
      else if (!why && this.used.has(e.ip!) && this.used.get(e.ip!) !== e.owner)
        why = `${e.ip} is already held by ${this.used.get(e.ip!)}`;
      if (why) {
        onDrop(f, why);
        removeFileDurably(join(dir, f));
        continue;
      }
      this.used.set(e.ip!, e.owner!);
      if (typeof e.container === 'string') this.containers.set(e.ip!, e.container);
      kept.push({ ip: e.ip!, owner: e.owner!, ...(e.container ? { container: e.container } : {}) });
    }
    return kept;
  }

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
        // Durable before anyone learns the address: a crash after this line keeps it reserved.
        const journal = this.journalPath(ip);
        if (journal) writeFileDurably(journal, JSON.stringify({ ip, owner, container: containerId }));
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
    const journal = this.journalPath(ip);
    if (journal && this.used.has(ip)) removeFileDurably(journal);
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
      // Allocations without a recorded container (recovered after a restart) go with their owner.
      const recorded = this.containers.get(ip);
      if (containerId && recorded !== undefined && recorded !== containerId) continue;
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
