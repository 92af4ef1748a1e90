// Shared setup for the datapath kernel tests: a per-run bpffs pin root that is always removed,
// and a pair of backends (kernel + sim) programmed with the same state, so every verdict test
// also checks that the two agree.
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { KernelDatapath } from '../../datapath/kernel.js';
import { SimDatapath } from '../../datapath/sim.js';
import {
  defaultConfig,
  type DatapathConfig,
  type EndpointSpec,
  type Hook,
  type IpcacheEntry,
  type Verdict,
} from '../../datapath/datapath.js';
import { buildFrame, type PacketSpec } from '../../datapath/packet.js';
import { mapEntries, swapPolicy, type RuleSpec } from './policy-rules.js';

export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function pinRoot(): string {
  return `/sys/fs/bpf/${uniqueName('cilium-ts-test')}`;
}

export function removePins(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Events unlimited, so every drop reason is observable in test runs. */
export const testConfig = { ...defaultConfig, eventsRate: 0 };

export class Pair {
  readonly kernel: KernelDatapath;
  readonly sim: SimDatapath;
  readonly pins: string;

  constructor(config: DatapathConfig = testConfig) {
    this.pins = pinRoot();
    this.kernel = new KernelDatapath({ pinRoot: this.pins, config, readEvents: false });
    this.sim = new SimDatapath({ config });
  }

  endpoints(eps: EndpointSpec[]): void {
    this.kernel.syncEndpoints(eps);
    this.sim.syncEndpoints(eps);
  }

  ipcache(entries: IpcacheEntry[]): void {
    this.kernel.syncIpcache(entries);
    this.sim.syncIpcache(entries);
  }

  policy(ep: number, rules: RuleSpec[]): void {
    const entries = mapEntries(rules);
    swapPolicy(this.kernel, ep, entries);
    swapPolicy(this.sim, ep, entries);
  }

  deletePolicy(ep: number): void {
    this.kernel.deletePolicy(ep);
    this.sim.deletePolicy(ep);
  }

  /** Runs a packet through both; returns the kernel's verdict and the sim's. */
  run(spec: PacketSpec | Uint8Array, hook: Hook): { k: Verdict; s: Verdict } {
    const frame = spec instanceof Uint8Array ? spec : buildFrame(spec);
    return { k: this.kernel.process(frame, hook), s: this.sim.process(frame, hook) };
  }

  close(): void {
    try {
      this.kernel.close();
    } finally {
      removePins(this.pins);
    }
  }
}
