// Masquerading in the kernel: the settings the NodePort object's programs read (snat.h,
// cilium_snat_v4_config) and the NAT table they keep (cilium_snat_v4_external). Both maps belong
// to the NodePort object (nodeport-kernel.ts), pinned beside it, so they outlive an agent restart.
import { loadAddon, type Addon } from './addon.js';
import { ipv4CtTuple } from './codecs.js';
import { fromAddon } from './errors.js';
import { ipv4ToU32, u32ToIpv4 } from './lb.js';
import { dumpMap } from './map-sync.js';
import type { NodePortDatapath } from './nodeport-kernel.js';
import { NatDir, SnatDefines, SnatMapNames, ipv4NatEntry, snatConfig } from './snat-codecs.js';

export interface MasqueradeSettings {
  /** Masquerade at all (`enable-ipv4-masquerade` with `enable-bpf-masquerade`). */
  enabled: boolean;
  /** The address pods' packets leave with: the node's address on the device. */
  nodeAddress: string;
  /** Destinations never masqueraded (`ipv4-native-routing-cidr`), e.g. "10.200.0.0/16"; undefined: none. */
  excludeCidr?: string;
  /** The port range mappings take (upstream's default 32768-65535). */
  portRange?: [number, number];
}

/** One row of `cilium-dbg bpf nat list`. */
export interface NatListEntry {
  proto: number;
  direction: 'egress' | 'ingress';
  /** the tuple as packets carry it */
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  /** what the local side is rewritten to */
  toAddr: string;
  toPort: number;
  created: number;
  lifetime: number;
}

function cidrParts(cidr: string): { addr: number; mask: number } {
  const [a, len] = cidr.split('/');
  const bits = Number(len ?? 32);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { addr: (ipv4ToU32(a!) & mask) >>> 0, mask };
}

export class SnatTable {
  private readonly addon: Addon = loadAddon();

  constructor(private readonly np: NodePortDatapath) {}

  /** Writes what the programs masquerade; takes effect on the next packet. */
  configure(s: MasqueradeSettings): void {
    const ex = s.excludeCidr ? cidrParts(s.excludeCidr) : { addr: 0, mask: 0 };
    const value = snatConfig.encode({
      nodeAddr: ipv4ToU32(s.nodeAddress),
      excludeAddr: ex.addr,
      excludeMask: ex.mask,
      portMin: s.portRange?.[0] ?? 0,
      portMax: s.portRange?.[1] ?? 0,
      flags: s.enabled ? SnatDefines.SNAT_F_ENABLED : 0,
    });
    const fd = this.np.mapFd(SnatMapNames.config);
    try {
      this.addon.mapUpdate(fd, new Uint8Array(4), value, 0);
    } catch (e) {
      throw fromAddon(e, { op: `write ${SnatMapNames.config}` });
    }
  }

  /** The NAT table, both directions of every mapping. */
  entries(): NatListEntry[] {
    const m = {
      fd: this.np.mapFd(SnatMapNames.external),
      name: SnatMapNames.external,
      keySize: ipv4CtTuple.size,
      valueSize: ipv4NatEntry.size,
      maxEntries: 0,
    };
    return dumpMap(this.addon, m).map((e) => {
      const k = ipv4CtTuple.decode(e.key);
      const v = ipv4NatEntry.decode(e.value);
      return {
        proto: k.nexthdr,
        direction: k.flags === NatDir.ingress ? 'ingress' : 'egress',
        saddr: [...k.saddr].join('.'),
        sport: k.sport,
        daddr: [...k.daddr].join('.'),
        dport: k.dport,
        toAddr: u32ToIpv4(v.toAddr),
        toPort: v.toPort,
        created: v.created,
        lifetime: v.lifetime,
      };
    });
  }
}
