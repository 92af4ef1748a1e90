// The native addon (datapath/addon/*.c, built by datapath/Makefile into build/ebpf_loader.node),
// typed. Loading is lazy so that the sim backend and the codecs work on machines without it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DatapathError, DatapathErrorCode } from './errors.js';

export type AddonHandle = { readonly __handle: unique symbol };

/** A map's entries as the addon dumps them: `count` keys, then `count` values, each packed. */
export interface MapDump {
  keys: Uint8Array;
  values: Uint8Array;
  count: number;
}

export interface Addon {
  objectOpen(path: string, pinRoot: string | null, maxEntries: [string, number][] | null): AddonHandle;
  objectClose(h: AddonHandle): void;
  objectPrograms(h: AddonHandle): { name: string; fd: number }[];
  objectMaps(h: AddonHandle): { name: string; fd: number; pinned: boolean }[];
  progTestRun(
    fd: number,
    data: Uint8Array,
    repeat?: number,
    dataOutSize?: number,
  ): { retval: number; duration: number; dataOut?: Uint8Array };
  probeProgType(type: number): boolean;
  probeMapType(type: number): boolean;
  probeHelper(progType: number, helperId: number): boolean;
  numPossibleCpus(): number;
  close(fd: number): void;
  objGet(path: string): number;
  objPin(fd: number, path: string): void;
  mapCreate(
    type: number,
    keySize: number,
    valueSize: number,
    maxEntries: number,
    flags: number,
    name: string | null,
    innerFd: number | null,
  ): number;
  mapInfo(fd: number): MapInfo;
  mapFdById(id: number): number;
  mapLookup(fd: number, key: Uint8Array, out: Uint8Array): boolean;
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags?: number): void;
  mapDelete(fd: number, key: Uint8Array): boolean;
  mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, flags?: number): number;
  mapDeleteBatch(fd: number, keys: Uint8Array, count: number): number;
  /**
   * The same upserts, then the same deletes, into every map of `fds` (maps of one layout: each one's
   * sizes are checked); `removed[i]` gets the deletes that found their key in map i. Returns the
   * maps written; on failure the error's `done` is the index of the map that failed.
   */
  mapsWrite(
    fds: Int32Array,
    keys: Uint8Array,
    values: Uint8Array,
    upsertCount: number,
    deleteKeys: Uint8Array,
    deleteCount: number,
    removed: Uint32Array,
  ): number;
  mapDump(fd: number, keySize: number, valueSize: number): MapDump;
  /** mapDump on a libuv worker thread (the fd is duplicated for it; closing the map meanwhile is harmless). */
  mapDumpAsync(fd: number, keySize: number, valueSize: number): Promise<MapDump>;
  tcAttach(
    ifindex: number,
    netns: string | null,
    dir: 'ingress' | 'egress',
    progFd: number,
    priority: number,
    handle: number,
  ): void;
  tcDetach(ifindex: number, netns: string | null, dir: 'ingress' | 'egress', priority: number, handle: number): boolean;
  tcQuery(ifindex: number, netns: string | null, dir: 'ingress' | 'egress', priority: number, handle: number): number;
  ifIndex(name: string, netns: string | null): number;
  ringbufOpen(fd: number, cb: (events: Uint8Array[]) => void): AddonHandle;
  ringbufConsume(h: AddonHandle): Uint8Array[];
  ringbufClose(h: AddonHandle): void;
  /** cgroup v2 (addon/cgroup.c): hooks are connect4 | sendmsg4 | recvmsg4 | getpeername4 */
  cgroupOpen(path: string): number;
  cgroupLinkCreate(progFd: number, cgroupFd: number, hook: string): number;
  linkUpdate(linkFd: number, progFd: number): void;
  linkDetach(linkFd: number): void;
  cgroupProgCount(cgroupFd: number, hook: string): number;
  /**
   * addon/sock.c: a bound (and for tcp listening) IP_TRANSPARENT socket, made inside `netns` (a
   * path, or null for the caller's); hand the fd to `net.Server.listen({ fd })`. `reuseport`: join
   * the port's SO_REUSEPORT group (the agent's and cilium-l7proxy's listeners, decision 34).
   */
  transparentListen(
    netns: string | null,
    family: 4 | 6,
    proto: 'tcp' | 'udp',
    address: string,
    port: number,
    reuseport?: boolean,
  ): number;
  /** addon/sock.c: an unconnected TCP socket of `netns`, for `new net.Socket({ fd }).connect()` (the proxy's upstream side). */
  tcpSocketIn(netns: string | null, family: 4 | 6): number;
  /** addon/sock.c: an IPv4 raw socket (IP_HDRINCL) of `netns`; close it with `close`. Needs CAP_NET_RAW. */
  rawSocketIn(netns: string | null): number;
  /** addon/sock.c: sends a whole IPv4 packet; 0 when the socket's buffer is full (dropped, as UDP may). */
  rawSendTo(fd: number, address: string, packet: Uint8Array): number;
}

export interface MapInfo {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

export const buildDir = fileURLToPath(new URL('./build/', import.meta.url));
/** `CILIUM_TS_DATAPATH_ADDON` selects another build of the addon (the AddressSanitizer one: hack/asan-addon.sh). */
export const addonPath = process.env.CILIUM_TS_DATAPATH_ADDON || `${buildDir}ebpf_loader.node`;
export const objectPath = `${buildDir}lxc.bpf.o`;
export const sockLbObjectPath = `${buildDir}sock_lb.bpf.o`;
export const nodePortObjectPath = `${buildDir}nodeport.bpf.o`;
export const overlayObjectPath = `${buildDir}overlay.bpf.o`;

let cached: Addon | undefined;

export function loadAddon(): Addon {
  if (cached) return cached;
  if (!existsSync(addonPath)) {
    throw new DatapathError(
      DatapathErrorCode.AddonMissing,
      `the datapath addon is not built (${addonPath}); run \`npm run setup\` (needs clang, libbpf-dev and the Node headers) or use the sim backend`,
    );
  }
  cached = createRequire(import.meta.url)(addonPath) as Addon;
  return cached;
}
