// Kernel feature probes: what the kernel backend needs, checked once with libbpf's probes, so a
// machine without them gets one clear error naming the missing feature instead of a verifier
// or syscall failure later.
import { loadAddon } from './addon.js';
import { BpfMapType, BpfProgType } from './constants.js';
import { DatapathError, DatapathErrorCode } from './errors.js';

export interface Features {
  schedCls: boolean;
  lpmTrie: boolean;
  hashOfMaps: boolean;
  lruHash: boolean;
  percpuHash: boolean;
  ringbuf: boolean;
}

/** BPF helper ids (uapi linux/bpf.h) the programs call beyond the basics. */
const HELPER_RINGBUF_RESERVE = 131;

export function probeFeatures(): Features & { ringbufReserve: boolean } {
  const a = loadAddon();
  return {
    schedCls: a.probeProgType(BpfProgType.schedCls),
    lpmTrie: a.probeMapType(BpfMapType.lpmTrie),
    hashOfMaps: a.probeMapType(BpfMapType.hashOfMaps),
    lruHash: a.probeMapType(BpfMapType.lruHash),
    percpuHash: a.probeMapType(BpfMapType.percpuHash),
    ringbuf: a.probeMapType(BpfMapType.ringbuf),
    ringbufReserve: a.probeHelper(BpfProgType.schedCls, HELPER_RINGBUF_RESERVE),
  };
}

/** Throws DP_ERR_UNSUPPORTED naming every missing feature. */
export function requireFeatures(): void {
  const f = probeFeatures();
  const missing = Object.entries(f)
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  if (missing.length)
    throw new DatapathError(
      DatapathErrorCode.Unsupported,
      `this kernel lacks BPF features the kernel backend needs: ${missing.join(', ')} (Linux >= 5.15 with BTF has them all); use the sim backend here`,
    );
}
