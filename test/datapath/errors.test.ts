// Errors from the kernel carry a stable DP_ERR_* code, the errno name and a sentence naming the
// map and its size when the map is full.
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { BpfMapType } from '../../datapath/constants.js';
import { DatapathError, fromAddon } from '../../datapath/errors.js';
import { probeFeatures, requireFeatures } from '../../datapath/features.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { writeBatches } from '../../datapath/map-sync.js';
import { pinRoot, removePins } from './harness.js';
import { setRules } from './policy-rules.js';

const pins = pinRoot();
afterAll(() => removePins(pins));

describe('datapath errors', () => {
  it('a full hash map is DP_ERR_MAP_FULL naming the map and its size (E2BIG)', () => {
    const addon = loadAddon();
    const fd = addon.mapCreate(BpfMapType.hash, 4, 4, 8, 0, 'tiny', null);
    try {
      const entries = Array.from({ length: 9 }, (_, i) => ({
        key: Uint8Array.of(i, 0, 0, 0),
        value: Uint8Array.of(1, 0, 0, 0),
      }));
      let err: unknown;
      try {
        writeBatches(addon, { fd, name: 'cilium_lxc', keySize: 4, valueSize: 4, maxEntries: 8 }, entries);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DatapathError);
      expect(err).toMatchObject({ code: 'DP_ERR_MAP_FULL', errno: 'E2BIG' });
      expect((err as Error).message).toContain('map cilium_lxc (max_entries 8) is full');
    } finally {
      addon.close(fd);
    }
  });

  it('a policy larger than the per-endpoint policy map is DP_ERR_MAP_FULL, and the old policy stays', () => {
    const dp = new KernelDatapath({ pinRoot: pins, policyMapSize: 16, readEvents: false });
    try {
      setRules(dp, 7, [{ identity: 5, direction: 'ingress', protocol: 6, port: 80 }]);
      const rules = Array.from({ length: 17 }, (_, i) => ({
        identity: 100 + i,
        direction: 'ingress' as const,
        protocol: 6,
        port: 80,
      }));
      expect(() => setRules(dp, 7, rules)).toThrow(expect.objectContaining({ code: 'DP_ERR_MAP_FULL' }));
      expect(() => setRules(dp, 7, rules)).toThrow(/policy map of endpoint 7 \(max_entries 16\) is full/);
      expect(dp.policyEntryCount(7)).toBe(1); // the swap never happened
    } finally {
      dp.close();
    }
  });

  it('other errno values map to codes with advice, and non-addon errors pass through', () => {
    const e = Object.assign(new Error('BPF_OBJ_GET: No such file or directory (ENOENT)'), {
      code: 'ENOENT',
      syscall: 'BPF_OBJ_GET',
    });
    expect(fromAddon(e, { op: 'open pin' })).toMatchObject({ code: 'DP_ERR_NOT_FOUND', errno: 'ENOENT' });
    const perm = Object.assign(new Error('x'), { code: 'EPERM' });
    expect((fromAddon(perm, { op: 'load' }) as Error).message).toMatch(/Run as root/);
    const verifier = Object.assign(
      new Error(
        "bpf_object__load: Permission denied (EACCES)\nlibbpf: prog 'x': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()",
      ),
      { code: 'EACCES', syscall: 'bpf_object__load' },
    );
    const v = fromAddon(verifier, { op: 'load' }) as DatapathError;
    expect(v).toMatchObject({ code: 'DP_ERR_LOAD', errno: 'EACCES' });
    expect(v.message).toContain('BEGIN PROG LOAD LOG');
    const plain = new TypeError('not ours');
    expect(fromAddon(plain, { op: 'x' })).toBe(plain);
    expect(() => loadAddon().objGet('/sys/fs/bpf/does-not-exist-cilium-ts')).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });

  it('feature probes find everything the kernel backend needs on this kernel', () => {
    expect(probeFeatures()).toEqual({
      schedCls: true,
      lpmTrie: true,
      hashOfMaps: true,
      lruHash: true,
      percpuHash: true,
      ringbuf: true,
      ringbufReserve: true,
    });
    expect(() => requireFeatures()).not.toThrow();
  });
});
