// The agent's side of cilium_proxy4 (datapath/bpf/proxy.h): where a UDP datagram the datapath
// handed to the proxy was going. The programs write an entry per redirected datagram just before
// the proxy's socket gets it; the proxy looks it up by the sender and its own port. The map is
// the one the loaded object pinned (kernel.ts), opened here by its pin.
import { loadAddon, type Addon } from './addon.js';
import { fromAddon } from './errors.js';
import { ipv4ToU32, u32ToIpv4 } from './lb.js';
import { ProxyMapNames, proxy4Key, proxy4Value } from './proxy-codecs.js';

const UDP = 17;

/** An original destination as the datapath saw it. */
export interface ProxyOriginal {
  address: string;
  port: number;
  /** the sender's security identity */
  identity: number;
}

/** Seconds of the monotonic clock, the one bpf_ktime_get_ns() reads (CLOCK_MONOTONIC on Linux). */
export function monotonicSeconds(): number {
  return Number(process.hrtime.bigint() / 1_000_000_000n);
}

export class ProxyMap {
  private fd: number | undefined;
  private addon?: Addon;
  private readonly key = new Uint8Array(proxy4Key.size);
  private readonly value = new Uint8Array(proxy4Value.size);

  /** `pinRoot`: the kernel datapath's bpffs directory (KernelOptions.pinRoot). */
  /** Nothing is opened before the first lookup (the agent makes one whatever its datapath). */
  constructor(private readonly pinRoot: string) {}

  private open(): { addon: Addon; fd: number } {
    this.addon ??= loadAddon();
    if (this.fd === undefined) {
      const path = `${this.pinRoot}/${ProxyMapNames.proxy4}`;
      try {
        this.fd = this.addon.objGet(path);
      } catch (e) {
        throw fromAddon(e, { op: `open ${path} (is the datapath loaded?)` });
      }
    }
    return { addon: this.addon, fd: this.fd };
  }

  /**
   * Where the UDP datagram from `source` to the proxy's `proxyPort` was going; undefined when the
   * datapath left no live entry (not redirected, IPv6, or expired).
   */
  udpOriginal(source: { address: string; port: number }, proxyPort: number): ProxyOriginal | undefined {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(source.address)) return undefined;
    proxy4Key.encode(
      { saddr: ipv4ToU32(source.address), dport: proxyPort, sport: source.port, nexthdr: UDP },
      this.key,
    );
    const { addon, fd } = this.open();
    let found: boolean;
    try {
      found = addon.mapLookup(fd, this.key, this.value);
    } catch (e) {
      throw fromAddon(e, { op: `look up ${ProxyMapNames.proxy4} for ${source.address}:${source.port}` });
    }
    if (!found) return undefined;
    const v = proxy4Value.decode(this.value);
    if (v.lifetime < monotonicSeconds()) return undefined;
    return { address: u32ToIpv4(v.origDaddr), port: v.origDport, identity: v.identity };
  }

  close(): void {
    if (this.fd !== undefined) this.addon?.close(this.fd);
    this.fd = undefined;
  }
}
