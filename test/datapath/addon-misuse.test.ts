// The addon against a careless or hostile caller: every buffer length is checked against the
// map's own info (key and value size, per-CPU value size), handles are tagged by kind and stay
// safe after close, and every misuse is a DP_ERR_ARGUMENT TypeError instead of the kernel
// writing past a buffer or C reading freed memory. hack/asan-addon.sh runs this file (and the
// addon's other tests) against an AddressSanitizer build of the addon.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { loadAddon, objectPath } from '../../datapath/addon.js';
import { BpfMapType, MapNames } from '../../datapath/constants.js';
import { pinRoot, removePins } from './harness.js';

const addon = loadAddon();
const pins = pinRoot();
const fds: number[] = [];
const argument = expect.objectContaining({ code: 'DP_ERR_ARGUMENT', name: 'TypeError' });
const bytes = (n: number) => new Uint8Array(n);

beforeAll(() => void mkdirSync(pins, { recursive: true }));
afterAll(() => {
  for (const fd of fds) addon.close(fd);
  removePins(pins);
});

function map(type: number, keySize: number, valueSize: number): number {
  const fd = addon.mapCreate(type, keySize, valueSize, 16, 0, null, null);
  fds.push(fd);
  return fd;
}

describe('buffer lengths against the map', () => {
  it('short keys, short values and short outputs are refused before the syscall', () => {
    const fd = map(BpfMapType.hash, 8, 56);
    addon.mapUpdate(fd, bytes(8), bytes(56), 0);
    expect(() => addon.mapLookup(fd, bytes(8), bytes(4))).toThrow(argument);
    expect(() => addon.mapLookup(fd, bytes(4), bytes(56))).toThrow(argument);
    expect(() => addon.mapUpdate(fd, bytes(8), bytes(55), 0)).toThrow(argument);
    expect(() => addon.mapUpdate(fd, bytes(7), bytes(56), 0)).toThrow(argument);
    expect(() => addon.mapDelete(fd, bytes(0))).toThrow(argument);
    expect(() => addon.mapLookup(fd, bytes(8), bytes(4))).toThrow(/out is 4 bytes, the map needs at least 56/);
    // the right sizes still work
    expect(addon.mapLookup(fd, bytes(8), bytes(56))).toBe(true);
  });

  it('batches must be exactly count entries at the map’s strides', () => {
    const fd = map(BpfMapType.hash, 4, 8);
    expect(() => addon.mapUpdateBatch(fd, bytes(8), bytes(8), 2, 0)).toThrow(argument);
    expect(() => addon.mapUpdateBatch(fd, bytes(6), bytes(12), 3, 0)).toThrow(argument);
    expect(() => addon.mapDeleteBatch(fd, bytes(4), 2)).toThrow(argument);
    expect(addon.mapUpdateBatch(fd, bytes(8).fill(1, 4), bytes(16), 2, 0)).toBe(2);
  });

  it('mapsWrite checks every map’s strides, and its typed arrays', () => {
    const a = map(BpfMapType.hash, 4, 8);
    const b = map(BpfMapType.hash, 8, 8);
    const removed = new Uint32Array(2);
    // right for the first map, wrong for the second: refused at the second, the first written
    expect(() => addon.mapsWrite(Int32Array.from([a, b]), bytes(4), bytes(8), 1, bytes(0), 0, removed)).toThrow(
      /mapsWrite: keys is 4 bytes, the map needs 8/,
    );
    expect(addon.mapDump(a, 4, 8).count).toBe(1);
    expect(() => addon.mapsWrite(Int32Array.from([a]), bytes(4), bytes(4), 1, bytes(0), 0, removed)).toThrow(argument);
    expect(() => addon.mapsWrite(Int32Array.from([a]), bytes(0), bytes(0), 0, bytes(2), 1, removed)).toThrow(argument);
    expect(() =>
      addon.mapsWrite(Int32Array.from([a, a]), bytes(0), bytes(0), 0, bytes(0), 0, new Uint32Array(1)),
    ).toThrow(argument);
    // fds and removed must be the typed arrays they are declared as
    expect(() =>
      addon.mapsWrite(new Uint32Array([a]) as unknown as Int32Array, bytes(0), bytes(0), 0, bytes(0), 0, removed),
    ).toThrow(argument);
    expect(() =>
      addon.mapsWrite(Int32Array.from([a]), bytes(0), bytes(0), 0, bytes(0), 0, bytes(8) as unknown as Uint32Array),
    ).toThrow(argument);
  });

  it('a dump with the wrong sizes is refused', () => {
    const fd = map(BpfMapType.hash, 4, 8);
    expect(() => addon.mapDump(fd, 2, 8)).toThrow(argument);
    expect(() => addon.mapDump(fd, 4, 4)).toThrow(argument);
    expect(addon.mapDump(fd, 4, 8).count).toBe(0);
    // the worker-thread dump checks its arguments before it queues anything: a throw, not a rejection
    expect(() => addon.mapDumpAsync(fd, 2, 8)).toThrow(argument);
    expect(() => addon.mapDumpAsync(fd, 4, 4)).toThrow(argument);
    expect(() => addon.mapDumpAsync(-1, 4, 8)).toThrow();
  });

  it('per-CPU maps need a value per possible CPU, rounded to 8 bytes', () => {
    const fd = map(BpfMapType.percpuArray, 4, 4);
    const one = bytes(4);
    expect(() => addon.mapLookup(fd, one, bytes(4))).toThrow(argument);
    // possible CPUs ≥ online CPUs: at least availableParallelism() slots of 8 bytes
    expect(() => addon.mapLookup(fd, one, bytes(8 * availableParallelism() - 1))).toThrow(argument);
    const big = bytes(8 * 1024);
    expect(addon.mapLookup(fd, one, big)).toBe(true);
  });

  it('a closed or foreign fd is an errno error, not a crash', () => {
    expect(() => addon.mapLookup(-1, bytes(4), bytes(4))).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^EBADF/), syscall: 'BPF_OBJ_GET_INFO_BY_FD' }),
    );
  });
});

describe('handles', () => {
  it('wrong kind: an object handle is not a ring buffer, a ring buffer not an object, a number neither', () => {
    const obj = addon.objectOpen(objectPath, pins, null);
    try {
      expect(() => addon.ringbufConsume(obj)).toThrow(argument);
      expect(() => addon.ringbufClose(obj)).toThrow(argument);
      expect(() => addon.objectMaps(42 as never)).toThrow(argument);
      expect(() => addon.objectMaps({} as never)).toThrow(argument);
      const events = addon.objectMaps(obj).find((m) => m.name === MapNames.events)!;
      const ring = addon.ringbufOpen(events.fd, () => undefined);
      expect(() => addon.objectMaps(ring)).toThrow(argument);
      expect(() => addon.objectClose(ring)).toThrow(argument);
      addon.ringbufClose(ring);
    } finally {
      addon.objectClose(obj);
    }
  });

  it('double close and use after close throw instead of touching freed memory', async () => {
    const obj = addon.objectOpen(objectPath, pins, null);
    const events = addon.objectMaps(obj).find((m) => m.name === MapNames.events)!;
    const ring = addon.ringbufOpen(events.fd, () => undefined);
    addon.ringbufClose(ring);
    // let libuv finish closing the poll handle, so a dangling pointer would really be dangling
    await new Promise((r) => setTimeout(r, 20));
    expect(() => addon.ringbufClose(ring)).toThrow(argument);
    expect(() => addon.ringbufConsume(ring)).toThrow(argument);
    addon.objectClose(obj);
    expect(() => addon.objectClose(obj)).toThrow(argument);
    expect(() => addon.objectMaps(obj)).toThrow(argument);
  });
});
