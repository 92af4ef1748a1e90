// The addon's primitives on their own: map create/pin/open/lookup/update/delete/batch/dump,
// tc attach/query/detach on a veth in a private namespace, and argument errors.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadAddon, objectPath } from '../../datapath/addon.js';
import { BpfMapType, MapNames, ProgramNames } from '../../datapath/constants.js';
import { pinRoot, removePins, uniqueName } from './harness.js';

const addon = loadAddon();
const pins = pinRoot();
const ns = uniqueName('cts-addon');

beforeAll(() => {
  mkdirSync(pins, { recursive: true });
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'va', 'up']);
});

afterAll(() => {
  try {
    execFileSync('ip', ['netns', 'del', ns]);
  } finally {
    removePins(pins);
  }
});

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

describe('ebpf-loader-napi', () => {
  it('map create, pin, open pinned, lookup, update, delete, batch, dump, info', () => {
    const fd = addon.mapCreate(BpfMapType.hash, 4, 4, 64, 0, 'cts_test', null);
    addon.objPin(fd, `${pins}/m`);
    const fd2 = addon.objGet(`${pins}/m`);
    const info = addon.mapInfo(fd2);
    expect(info).toMatchObject({ type: BpfMapType.hash, keySize: 4, valueSize: 4, maxEntries: 64, name: 'cts_test' });
    expect(addon.mapInfo(fd).id).toBe(info.id);
    addon.mapUpdate(fd, u32(1), u32(10), 0);
    const out = new Uint8Array(4);
    expect(addon.mapLookup(fd2, u32(1), out)).toBe(true);
    expect(new Uint32Array(out.buffer)[0]).toBe(10);
    expect(addon.mapLookup(fd2, u32(2), out)).toBe(false);
    expect(() => addon.mapUpdate(fd, u32(1), u32(11), 1 /* BPF_NOEXIST */)).toThrow(
      expect.objectContaining({ code: 'EEXIST' }),
    );
    const keys = new Uint8Array(new Uint32Array([2, 3, 4, 5]).buffer);
    const values = new Uint8Array(new Uint32Array([20, 30, 40, 50]).buffer);
    expect(addon.mapUpdateBatch(fd, keys, values, 4, 0)).toBe(4);
    const dump = addon.mapDump(fd2, 4, 4);
    expect(dump.count).toBe(5);
    const pairs = [...Array(dump.count).keys()].map((i) => [
      new DataView(dump.keys.buffer, dump.keys.byteOffset).getUint32(i * 4, true),
      new DataView(dump.values.buffer, dump.values.byteOffset).getUint32(i * 4, true),
    ]);
    expect(pairs.sort((a, b) => a[0]! - b[0]!)).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
      [4, 40],
      [5, 50],
    ]);
    expect(addon.mapDelete(fd, u32(1))).toBe(true);
    expect(addon.mapDelete(fd, u32(1))).toBe(false);
    expect(addon.mapDeleteBatch(fd, new Uint8Array(new Uint32Array([2, 3, 99]).buffer), 3)).toBe(2);
    expect(addon.mapDump(fd, 4, 4).count).toBe(2);
    expect(addon.mapFdById(info.id)).toBeGreaterThan(0);
    addon.close(fd);
    addon.close(fd2);
  });

  it('a dump on a worker thread reads what the dump on the event loop reads, LPM tries included', async () => {
    // the ipcache's layout: a 4-byte prefix length then the IPv4 address; value: identity. More
    // entries than one batch of the dump (4,096), so the batch token is followed.
    const fd = addon.mapCreate(BpfMapType.lpmTrie, 8, 4, 16384, 1 /* BPF_F_NO_PREALLOC */, 'cts_lpm', null);
    const n = 10000;
    const keys = new Uint8Array(n * 8);
    const values = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      new DataView(keys.buffer).setUint32(i * 8, 32, true);
      new DataView(keys.buffer).setUint32(i * 8 + 4, 0x0a000000 + i, false);
      new DataView(values.buffer).setUint32(i * 4, 1000 + i, true);
    }
    expect(addon.mapUpdateBatch(fd, keys, values, n, 0)).toBe(n);
    const pairs = (d: { keys: Uint8Array; values: Uint8Array; count: number }) =>
      [...Array(d.count).keys()]
        .map(
          (i) =>
            `${Buffer.from(d.keys.subarray(i * 8, i * 8 + 8)).toString('hex')}=${Buffer.from(d.values.subarray(i * 4, i * 4 + 4)).toString('hex')}`,
        )
        .sort();
    const pending = addon.mapDumpAsync(fd, 8, 4);
    const sync = addon.mapDump(fd, 8, 4);
    // the worker holds its own duplicate of the fd: closing ours does not cut its read short
    addon.close(fd);
    const async = await pending;
    expect(async.count).toBe(n);
    expect(pairs(async)).toEqual(pairs(sync));
    // every entry once, with its own value
    expect(new Set(pairs(sync)).size).toBe(n);
    const view = new DataView(sync.keys.buffer, sync.keys.byteOffset);
    const identities = new DataView(sync.values.buffer, sync.values.byteOffset);
    for (let i = 0; i < n; i++)
      expect(identities.getUint32(i * 4, true)).toBe(1000 + view.getUint32(i * 8 + 4, false) - 0x0a000000);
  });

  it('mapsWrite: the same upserts, then the same deletes, into many maps; removed counted per map', () => {
    const maps = [0, 1, 2].map(() => addon.mapCreate(BpfMapType.hash, 4, 4, 64, 0, 'cts_many', null));
    try {
      addon.mapUpdate(maps[0]!, u32(7), u32(70), 0);
      addon.mapUpdate(maps[2]!, u32(7), u32(71), 0);
      addon.mapUpdate(maps[2]!, u32(8), u32(80), 0);
      const removed = new Uint32Array(3).fill(99);
      const n = addon.mapsWrite(
        Int32Array.from(maps),
        new Uint8Array(new Uint32Array([1, 2]).buffer),
        new Uint8Array(new Uint32Array([10, 20]).buffer),
        2,
        new Uint8Array(new Uint32Array([7, 8, 9]).buffer),
        3,
        removed,
      );
      expect(n).toBe(3);
      // a missing key is not an error: map 1 had none of them, map 2 both
      expect([...removed]).toEqual([1, 0, 2]);
      for (const fd of maps) {
        const d = addon.mapDump(fd, 4, 4);
        const view = new DataView(d.values.buffer, d.values.byteOffset);
        const keys = new DataView(d.keys.buffer, d.keys.byteOffset);
        const pairs = [...Array(d.count).keys()].map((i) => [keys.getUint32(i * 4, true), view.getUint32(i * 4, true)]);
        expect(pairs.sort((a, b) => a[0]! - b[0]!)).toEqual([
          [1, 10],
          [2, 20],
        ]);
      }
      // nothing to do: no syscall, every slot zero
      expect(
        addon.mapsWrite(Int32Array.from(maps), new Uint8Array(0), new Uint8Array(0), 0, new Uint8Array(0), 0, removed),
      ).toBe(3);
      expect([...removed]).toEqual([0, 0, 0]);
    } finally {
      for (const fd of maps) addon.close(fd);
    }
  });

  it('mapsWrite into LPM tries (the policy maps: no batch update there); a full map fails at its index', () => {
    // key: prefixlen (u32) + 4 data bytes; 2 entries at most in the second map
    const maps = [addon.mapCreate(BpfMapType.lpmTrie, 8, 4, 8, 1, 'cts_lpm_a', null)];
    maps.push(addon.mapCreate(BpfMapType.lpmTrie, 8, 4, 2, 1, 'cts_lpm_b', null));
    try {
      const key = (len: number, a: number) => [len, a];
      const keys = new Uint8Array(new Uint32Array([...key(32, 1), ...key(32, 2)]).buffer);
      const values = new Uint8Array(new Uint32Array([5, 6]).buffer);
      const removed = new Uint32Array(2);
      expect(addon.mapsWrite(Int32Array.from(maps), keys, values, 2, new Uint8Array(0), 0, removed)).toBe(2);
      expect(maps.map((fd) => addon.mapDump(fd, 8, 4).count)).toEqual([2, 2]);
      const third = new Uint8Array(new Uint32Array(key(32, 3)).buffer);
      let err: (Error & { done?: number; code?: string }) | undefined;
      try {
        addon.mapsWrite(Int32Array.from(maps), third, u32(7), 1, new Uint8Array(0), 0, removed);
      } catch (e) {
        err = e as Error & { done?: number; code?: string };
      }
      // the first map took it, the second is full
      expect(err).toMatchObject({ code: 'ENOSPC', done: 1 });
      expect(err?.message).toMatch(/after 1 of 2 maps/);
      expect(maps.map((fd) => addon.mapDump(fd, 8, 4).count)).toEqual([3, 2]);
    } finally {
      for (const fd of maps) addon.close(fd);
    }
  });

  it('object load with a pin root reuses pinned maps; tc attach, query, replace, detach in a namespace', () => {
    const h1 = addon.objectOpen(objectPath, pins, null);
    const maps1 = addon.objectMaps(h1);
    expect(maps1.map((m) => m.name)).toEqual(expect.arrayContaining(Object.values(MapNames)));
    const lxc1 = maps1.find((m) => m.name === MapNames.endpoints)!;
    const h2 = addon.objectOpen(objectPath, pins, null);
    const lxc2 = addon.objectMaps(h2).find((m) => m.name === MapNames.endpoints)!;
    expect(addon.mapInfo(lxc2.fd).id).toBe(addon.mapInfo(lxc1.fd).id); // the same kernel map
    const prog1 = addon.objectPrograms(h1).find((p) => p.name === ProgramNames.fromContainer)!;
    const prog2 = addon.objectPrograms(h2).find((p) => p.name === ProgramNames.fromContainer)!;
    const nsPath = `/run/netns/${ns}`;
    const ifindex = addon.ifIndex('va', nsPath);
    expect(ifindex).toBeGreaterThan(0);
    expect(addon.tcQuery(ifindex, nsPath, 'ingress', 1, 1)).toBe(0);
    addon.tcAttach(ifindex, nsPath, 'ingress', prog1.fd, 1, 1);
    const id1 = addon.tcQuery(ifindex, nsPath, 'ingress', 1, 1);
    expect(id1).toBeGreaterThan(0);
    addon.tcAttach(ifindex, nsPath, 'ingress', prog2.fd, 1, 1); // replace in place
    const id2 = addon.tcQuery(ifindex, nsPath, 'ingress', 1, 1);
    expect(id2).not.toBe(id1);
    expect(addon.tcDetach(ifindex, nsPath, 'ingress', 1, 1)).toBe(true);
    expect(addon.tcQuery(ifindex, nsPath, 'ingress', 1, 1)).toBe(0);
    expect(addon.tcDetach(ifindex, nsPath, 'ingress', 1, 1)).toBe(false);
    addon.objectClose(h1);
    addon.objectClose(h2);
    expect(() => addon.objectMaps(h1)).toThrow(/closed/);
  });

  it('refuses bad arguments with a TypeError instead of crashing', () => {
    expect(() => (addon.mapLookup as (...a: unknown[]) => boolean)('x', 1)).toThrow(
      expect.objectContaining({ code: 'DP_ERR_ARGUMENT' }),
    );
    expect(() => (addon.tcAttach as (...a: unknown[]) => void)(1, null, 'sideways', 1, 1, 1)).toThrow(
      expect.objectContaining({ code: 'DP_ERR_ARGUMENT', name: 'TypeError' }),
    );
    expect(() => addon.ifIndex('no-such-link0', null)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => addon.objectOpen('/nonexistent/lxc.bpf.o', null, null)).toThrow(
      expect.objectContaining({ code: 'ENOENT' }),
    );
  });
});
