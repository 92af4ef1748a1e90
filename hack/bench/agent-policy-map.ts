// bench:agent's view of one endpoint's policy map in the node's kernel: it splits a propagation
// sample into "API call → the agent's write is in the kernel map" and "map → the probe's connect
// gets through", so the agent's share is measured apart from the probe's. Reads the node's pinned
// outer map (cilium_policy_v2 under the node's bpffs directory) through the addon and polls the
// endpoint's inner map every millisecond while a wait is pending.
import { join } from 'node:path';
import { loadAddon } from '../../datapath/addon.js';
import { decodePolicy } from '../../datapath/dump.js';
import { dumpMap } from '../../datapath/map-sync.js';

/** The policy-map key and value sizes (datapath/bpf/policy.h). */
const ENTRY_BYTES = 12;

export class EndpointPolicyWatch {
  private readonly addon = loadAddon();
  private readonly outer: number;

  /** `bpfRoot`: the node's directory on the real bpffs (its /sys/fs/bpf). */
  constructor(
    bpfRoot: string,
    private readonly endpointId: number,
  ) {
    this.outer = this.addon.objGet(join(bpfRoot, 'tc', 'globals', 'cilium_policy_v2'));
  }

  /** Whether the endpoint's map allows ingress from `identity` now (any port). */
  allows(identity: number): boolean {
    const out = new Uint8Array(4);
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, this.endpointId, true);
    if (!this.addon.mapLookup(this.outer, key, out)) return false;
    const fd = this.addon.mapFdById(new DataView(out.buffer).getUint32(0, true));
    try {
      const raw = dumpMap(this.addon, {
        fd,
        name: 'bench policy map',
        keySize: ENTRY_BYTES,
        valueSize: ENTRY_BYTES,
        maxEntries: 0,
      });
      return decodePolicy(raw).some(
        (e) => e.identity === identity && e.direction === 'ingress' && e.verdict === 'allow',
      );
    } finally {
      this.addon.close(fd);
    }
  }

  /**
   * Resolves with performance.now() at the first poll that sees the allow as `want`, or rejects
   * after timeoutMs (a lost update must fail the bench, not hang it).
   */
  waitFor(identity: number, want: boolean, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const poll = () => {
        const now = performance.now();
        if (this.allows(identity) === want) return resolve(now);
        if (now > deadline)
          return reject(
            new Error(
              `endpoint ${this.endpointId}'s policy map did not ${want ? 'allow' : 'stop allowing'} identity ${identity} within ${timeoutMs} ms`,
            ),
          );
        setTimeout(poll, 1);
      };
      poll();
    });
  }

  close(): void {
    this.addon.close(this.outer);
  }
}
