// Masquerading (snat.h inside the NodePort programs) in the kernel, against crafted frames through
// BPF_PROG_TEST_RUN: a local pod is an entry in the real endpoints map, a remote node one in the
// real ipcache, both shared with the NodePort object by pin; the settings and the NAT table are
// read and written through SnatTable. Every rewritten frame must carry correct checksums. Pins are
// removed, on failure too.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { endpointInfo, endpointKey } from '../../datapath/codecs.js';
import { Drop, Family } from '../../datapath/constants.js';
import { parseIp } from '../../datapath/ip.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { KernelLoadBalancer } from '../../datapath/lb-kernel.js';
import { NodePortDatapath } from '../../datapath/nodeport-kernel.js';
import { buildFrame, checksum, TcpFlags, type PacketSpec } from '../../datapath/packet.js';
import { SnatTable, type MasqueradeSettings } from '../../datapath/snat-kernel.js';
import { pinRoot, removePins, testConfig } from './harness.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

const NODE = '172.30.0.1';
const OTHER_NODE = '172.30.0.2';
const OUTSIDE = '192.0.2.10';
const POD = '10.200.1.5';
const POD2 = '10.200.1.6';
const REMOTE_POD = '10.200.2.7';
const HOST_EP = '10.200.1.1'; // the node's cilium_host: an endpoint with ENDPOINT_F_HOST
const SETTINGS: MasqueradeSettings = { enabled: true, nodeAddress: NODE, excludeCidr: '10.200.0.0/16' };
const pins = pinRoot();
let dp: KernelDatapath;
let lb: KernelLoadBalancer;
let np: NodePortDatapath;
let snat: SnatTable;

interface Seen {
  retval: number;
  frame: Uint8Array;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** ICMP echo identifier */
  id: number;
}

const ip4 = (b: Uint8Array, at: number) => [...b.subarray(at, at + 4)].join('.');

/** IPv4 header and L4 checksum verify (ICMP: no pseudo header; a UDP checksum of 0 means none). */
function checksumsValid(f: Uint8Array): boolean {
  const ihl = (f[14]! & 0x0f) * 4;
  if (checksum(f.subarray(14, 14 + ihl)) !== 0) return false;
  const proto = f[23]!;
  const l4 = f.subarray(14 + ihl, 14 + ((f[16]! << 8) | f[17]!));
  if (proto === 1) return checksum(l4) === 0;
  if (proto === 17 && l4[6] === 0 && l4[7] === 0) return true;
  let pseudo = proto + l4.length;
  for (let i = 26; i < 34; i += 2) pseudo += (f[i]! << 8) | f[i + 1]!;
  return checksum(l4, pseudo) === 0;
}

function run(dir: 'ingress' | 'egress', input: PacketSpec | Uint8Array): Seen {
  const data = input instanceof Uint8Array ? input : buildFrame(input);
  const r = loadAddon().progTestRun(np.programFd(dir), data, 1, Math.max(data.length, 64));
  const frame = r.dataOut ?? new Uint8Array();
  const l4 = 14 + ((frame[14] ?? 0x45) & 0x0f) * 4;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const ok = frame.length >= l4 + 8;
  return {
    retval: r.retval,
    frame,
    src: ok ? ip4(frame, 26) : '',
    dst: ok ? ip4(frame, 30) : '',
    sport: ok ? dv.getUint16(l4) : 0,
    dport: ok ? dv.getUint16(l4 + 2) : 0,
    id: ok ? dv.getUint16(l4 + 4) : 0,
  };
}

const tcp = (src: string, sport: number, dst: string, dport: number, tcpFlags: number = TcpFlags.syn): PacketSpec => ({
  src,
  dst,
  proto: 'tcp',
  sport,
  dport,
  tcpFlags,
  payloadLen: 0,
});

function markEndpoint(address: string, flags = 0): void {
  const key = endpointKey.encode({ ip: parseIp(address).bytes, family: Family.ipv4 });
  const value = endpointInfo.encode({ ifindex: 1, lxcId: 7, flags });
  loadAddon().mapUpdate(np.mapFd('cilium_lxc'), key, value, 0);
}

const natDrops = () =>
  dp.metrics().find((m) => m.reason === -Drop.natNoMapping && m.direction === 'egress')?.packets ?? 0;

let nextPort = 41000;
const port = () => nextPort++;

beforeAll(() => {
  // the endpoint object owns the endpoints map, the ipcache, the counters and the event ring
  dp = new KernelDatapath({ pinRoot: pins, config: testConfig, readEvents: false });
  lb = new KernelLoadBalancer({ pinRoot: pins });
  np = new NodePortDatapath({ pinRoot: pins });
  snat = new SnatTable(np);
  markEndpoint(POD);
  markEndpoint(POD2);
  markEndpoint(HOST_EP, 1);
  dp.syncIpcache([
    { prefix: `${OTHER_NODE}/32`, identity: 6 },
    { prefix: `${NODE}/32`, identity: 1 },
  ]);
});

beforeEach(() => snat.configure(SETTINGS));

afterAll(() => {
  try {
    np?.close();
    lb?.close();
    dp?.close();
  } finally {
    removePins(pins);
  }
});

describe('masquerading (BPF_PROG_TEST_RUN)', () => {
  it('SNATs a pod flow to the outside to the node address, keeping the pod port, and reverses the reply', () => {
    const p = 45000;
    const out = run('egress', tcp(POD, p, OUTSIDE, 80));
    expect([out.retval, out.src, out.sport, out.dst, out.dport]).toEqual([TC_ACT_OK, NODE, p, OUTSIDE, 80]);
    expect(checksumsValid(out.frame)).toBe(true);

    const reply = run('ingress', tcp(OUTSIDE, 80, NODE, p, TcpFlags.syn | TcpFlags.ack));
    expect([reply.retval, reply.src, reply.sport, reply.dst, reply.dport]).toEqual([TC_ACT_OK, OUTSIDE, 80, POD, p]);
    expect(checksumsValid(reply.frame)).toBe(true);

    const rows = snat.entries().filter((e) => e.sport === p || e.dport === p);
    expect(rows.map((e) => [e.direction, e.saddr, e.daddr, e.toAddr, e.toPort]).sort()).toEqual([
      ['egress', POD, OUTSIDE, NODE, p],
      ['ingress', OUTSIDE, NODE, POD, p],
    ]);
  });

  it('keeps the mapping for later packets of the flow', () => {
    const p = 45001;
    const first = run('egress', tcp(POD, p, OUTSIDE, 443));
    for (let i = 0; i < 3; i++) {
      const next = run('egress', tcp(POD, p, OUTSIDE, 443, TcpFlags.ack));
      expect([next.src, next.sport]).toEqual([first.src, first.sport]);
      expect(checksumsValid(next.frame)).toBe(true);
    }
  });

  it('gives a second pod using the same port toward the same server another port of the range', () => {
    const p = 45002;
    const a = run('egress', tcp(POD, p, OUTSIDE, 8080));
    const b = run('egress', tcp(POD2, p, OUTSIDE, 8080));
    expect([a.src, a.sport, b.src]).toEqual([NODE, p, NODE]);
    expect(b.sport).not.toBe(p);
    expect(b.sport).toBeGreaterThanOrEqual(32768);
    const back = run('ingress', tcp(OUTSIDE, 8080, NODE, b.sport, TcpFlags.ack));
    expect([back.dst, back.dport]).toEqual([POD2, p]);
  });

  it('moves a pod port below the range into it (upstream: ports outside the range are not kept)', () => {
    const out = run('egress', tcp(POD, 5000, OUTSIDE, 80));
    expect(out.src).toBe(NODE);
    expect(out.sport).toBeGreaterThanOrEqual(32768);
  });

  it('masquerades UDP and ICMP echo, and reverses their replies', () => {
    const p = port() + 20000;
    const u = run('egress', { src: POD, dst: OUTSIDE, proto: 'udp', sport: p, dport: 53, payloadLen: 4 });
    expect([u.retval, u.src, u.sport]).toEqual([TC_ACT_OK, NODE, p]);
    expect(checksumsValid(u.frame)).toBe(true);
    const ur = run('ingress', { src: OUTSIDE, dst: NODE, proto: 'udp', sport: 53, dport: p, payloadLen: 4 });
    expect([ur.dst, ur.dport]).toEqual([POD, p]);
    expect(checksumsValid(ur.frame)).toBe(true);

    const ping = run('egress', { src: POD, dst: OUTSIDE, proto: 'icmp', icmpType: 8, icmpId: 40123 });
    expect([ping.retval, ping.src, ping.id]).toEqual([TC_ACT_OK, NODE, 40123]);
    expect(checksumsValid(ping.frame)).toBe(true);
    const pong = run('ingress', { src: OUTSIDE, dst: NODE, proto: 'icmp', icmpType: 0, icmpId: 40123 });
    expect([pong.retval, pong.dst, pong.id]).toEqual([TC_ACT_OK, POD, 40123]);
    expect(checksumsValid(pong.frame)).toBe(true);
  });

  it.each([
    ['another pod (the native-routing CIDR)', POD, REMOTE_POD],
    ['another node (remote-node identity in the ipcache)', POD, OTHER_NODE],
    ['this node', POD, NODE],
    ['a source that is not a local pod', '10.200.9.9', OUTSIDE],
    ['the node itself (cilium_host endpoint)', HOST_EP, OUTSIDE],
  ])('never masquerades to %s', (_what, src, dst) => {
    const p = port();
    const out = run('egress', tcp(src, p, dst, 80));
    expect([out.retval, out.src, out.sport, out.dst]).toEqual([TC_ACT_OK, src, p, dst]);
    expect(snat.entries().some((e) => e.sport === p && e.saddr === src)).toBe(false);
  });

  it('passes everything untouched when masquerading is off', () => {
    snat.configure({ ...SETTINGS, enabled: false });
    const p = port();
    const out = run('egress', tcp(POD, p, OUTSIDE, 80));
    expect([out.src, out.sport]).toEqual([POD, p]);
  });

  it('leaves a reply to an unknown mapping and other traffic to the node alone', () => {
    const r = run('ingress', tcp(OUTSIDE, 80, NODE, 50999, TcpFlags.ack));
    expect([r.retval, r.dst, r.dport]).toEqual([TC_ACT_OK, NODE, 50999]);
  });

  it('drops with NO_MAPPING_FOR_NAT_MASQUERADE when the range is exhausted, and counts it', () => {
    snat.configure({ ...SETTINGS, portRange: [33000, 33001] });
    const before = natDrops();
    const a = run('egress', tcp(POD, 33000, '192.0.2.99', 80));
    const b = run('egress', tcp(POD, 33001, '192.0.2.99', 80));
    expect([a.sport, b.sport]).toEqual([33000, 33001]);
    const c = run('egress', tcp(POD2, 33000, '192.0.2.99', 80));
    expect(c.retval).toBe(TC_ACT_SHOT);
    expect(natDrops()).toBe(before + 1);
    // another destination has its own ports: not exhausted
    const d = run('egress', tcp(POD2, 33000, '192.0.2.98', 80));
    expect([d.retval, d.sport]).toEqual([TC_ACT_OK, 33000]);
  });

  it('passes malformed and fragmented packets without translating them or creating state', () => {
    const p = port();
    const whole = buildFrame(tcp(POD, p, OUTSIDE, 80));
    const truncated = whole.subarray(0, 14 + 20 + 10); // half a TCP header
    expect(run('egress', truncated).retval).toBe(TC_ACT_OK);
    const frag = Uint8Array.from(whole);
    frag[20] = 0x00;
    frag[21] = 0x10; // fragment offset 16: no L4 header of its own
    expect(run('egress', frag).retval).toBe(TC_ACT_OK);
    const badIhl = Uint8Array.from(whole);
    badIhl[14] = 0x43; // IHL 3
    expect(run('egress', badIhl).retval).toBe(TC_ACT_OK);
    // (a frame shorter than an IPv4 header never reaches the program: BPF_PROG_TEST_RUN refuses it)
    const notIp = Uint8Array.from(whole);
    notIp[12] = 0x08;
    notIp[13] = 0x06; // ARP's EtherType over the same bytes
    const arp = run('egress', notIp);
    expect([arp.retval, arp.src]).toEqual([TC_ACT_OK, POD]);
    expect(snat.entries().some((e) => e.sport === p)).toBe(false);
    // an ICMP error or echo reply going out is not an echo request: untouched
    const icmp = run('egress', { src: POD, dst: OUTSIDE, proto: 'icmp', icmpType: 0, icmpId: 9 });
    expect([icmp.retval, icmp.src]).toEqual([TC_ACT_OK, POD]);
  });
});
