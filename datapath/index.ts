// The datapath's public entry: the interface, both backends, and a factory that picks the kernel
// backend where the kernel has what it needs and says why when it falls back to the sim.
import { existsSync } from 'node:fs';
import { addonPath, objectPath } from './addon.js';
import type { Datapath } from './datapath.js';
import { DatapathError, DatapathErrorCode } from './errors.js';
import { requireFeatures } from './features.js';
import { KernelDatapath, type KernelOptions } from './kernel.js';
import { SimDatapath, type SimOptions } from './sim.js';

export * from './datapath.js';
export * from './mac.js';
export { DatapathError, type DatapathErrorCode } from './errors.js';
export { Dir, Drop, Identity, MapNames, NotifyType, PolicyMatch, TracePoint } from './constants.js';
export { decodeEvent } from './events.js';
export { DROP_REASONS, dropReasonMetric, dropReasonName, type DropReason } from './drop-reasons.js';
export { KernelDatapath, type KernelOptions } from './kernel.js';
export { SimDatapath, type SimOptions } from './sim.js';
export { buildFrame, TcpFlags, type PacketSpec } from './packet.js';
export { probeFeatures } from './features.js';

export interface CreateOptions {
  /** 'auto' (default): kernel when the addon, the object and the kernel features are there */
  backend: 'kernel' | 'sim' | 'auto';
  kernel: Partial<KernelOptions> & { pinRoot: string };
  sim: Partial<SimOptions>;
}

export const defaultCreateOptions: CreateOptions = {
  backend: 'auto',
  kernel: { pinRoot: '/sys/fs/bpf/cilium-ts' },
  sim: {},
};

/** Returns the datapath and, for 'auto' falling back to the sim, the reason. */
export function createDatapath(opts: Partial<CreateOptions> = {}): { datapath: Datapath; fallbackReason?: string } {
  const o = { ...defaultCreateOptions, ...opts };
  if (o.backend === 'sim') return { datapath: new SimDatapath(o.sim) };
  if (o.backend === 'kernel') return { datapath: new KernelDatapath(o.kernel) };
  try {
    if (!existsSync(addonPath) || !existsSync(objectPath))
      throw new DatapathError(DatapathErrorCode.AddonMissing, 'the datapath is not built (run `npm run setup`)');
    requireFeatures();
    return { datapath: new KernelDatapath(o.kernel) };
  } catch (e) {
    return { datapath: new SimDatapath(o.sim), fallbackReason: e instanceof Error ? e.message : String(e) };
  }
}
