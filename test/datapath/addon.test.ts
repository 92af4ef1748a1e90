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
