// Geneve framed by the datapath (datapath/bpf/geneve.h), against crafted frames through
// BPF_PROG_TEST_RUN: the bytes of the outer headers (RFC 8926: version 0, no options, protocol
// Transparent Ethernet Bridging, VNI = source identity; IPv4 with a valid header checksum, TTL 64,
// this node to the remote node; UDP to 6081 from a flow-hash port, checksum 0), framing on both
// paths (a pod's packet in cil_from_container, the node's own in cil_to_underlay), and the decap
// in cil_from_underlay: the VNI is the identity the destination's ingress policy sees, and what
// is not Geneve to this node is handed on untouched. Pins are removed, on failure too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { parseIp } from '../../datapath/ip.js';
import { ProgramNames } from '../../datapath/constants.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { OverlayDefines } from '../../datapath/overlay-codecs.js';
import { OverlayDatapath } from '../../datapath/overlay-kernel.js';
import { buildFrame, checksum, TcpFlags, type PacketSpec } from '../../datapath/packet.js';
import { pinRoot, removePins, testConfig } from './harness.js';
import { setRules } from './policy-rules.js';

const TC_ACT_UNSPEC = -1;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const NODE = '172.31.0.1';
const OTHER_NODE = '172.31.0.2';
const POD = { id: 301, ip: '10.210.1.5', identity: 40001 };
const REMOTE_POD = '10.210.2.7';
const ALLOWED = 40002; // an identity POD admits on 8080
const REFUSED = 40003; // one it does not
const PORT = 6081;
const pins = pinRoot();
let dp: KernelDatapath;
let overlay: OverlayDatapath;

const tcp = (src: string, dst: string, sport: number, dport: number): PacketSpec => ({
  src,
  dst,
  proto: 'tcp',
  sport,
  dport,
  tcpFlags: TcpFlags.syn,
  payloadLen: 20,
});

function run(prog: number, data: Uint8Array): { retval: number; out: Uint8Array } {
  const r = loadAddon().progTestRun(prog, data, 1, data.length + 128);
  return { retval: r.retval | 0, out: r.dataOut ?? new Uint8Array() }; // TC_ACT_UNSPEC comes as a u32
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ip4 = (s: string) => parseIp(s).bytes.subarray(0, 4);

/** Another node's framing, written out here by the RFC (independent of geneve.h). */
function frame(inner: Uint8Array, vni: number, o: { dst?: string; port?: number; flags?: number } = {}): Uint8Array {
  const out = new Uint8Array(inner.length + 50);
  const v = new DataView(out.buffer);
  out.set(inner.subarray(0, 14), 0); // outer MACs: the inner frame's will do for a test
  const ipLen = inner.length + 36;
  out.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0], 14);
  out.set(ip4(OTHER_NODE), 26);
  out.set(ip4(o.dst ?? NODE), 30);
  v.setUint16(24, checksum(out.subarray(14, 34)));
  v.setUint16(34, 54321);
  v.setUint16(36, o.port ?? PORT);
  v.setUint16(38, ipLen - 20);
  out.set([0, o.flags ?? 0, 0x65, 0x58, (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0], 42);
  out.set(inner, 50);
  return out;
}

beforeAll(() => {
  dp = new KernelDatapath({ pinRoot: pins, config: testConfig, readEvents: false });
  overlay = new OverlayDatapath({ pinRoot: pins });
  // BPF_PROG_TEST_RUN runs on loopback: ifindex 1 is the pod's veth here and the "underlay"
  dp.syncEndpoints([
    {
      id: POD.id,
      ips: [POD.ip],
      ifindex: 1,
      identity: POD.identity,
      mac: '02:00:00:00:01:05',
      nodeMac: '02:00:00:00:01:01',
    },
  ]);
  dp.syncIpcache([{ prefix: `${REMOTE_POD}/32`, identity: ALLOWED }]);
  setRules(dp, POD.id, [
    { identity: 0, direction: 'egress', protocol: 0, port: 0 },
    { identity: ALLOWED, direction: 'ingress', protocol: 6, port: 8080 },
  ]);
  overlay.configure({ ifindex: 1, podCidrBits: 24, protocol: 'geneve', port: PORT, localIp: NODE });
  overlay.syncTunnels([{ podCidr: '10.210.2.0/24', nodeIp: OTHER_NODE }]);
});

afterAll(() => {
  try {
    overlay?.close();
    dp?.close();
  } finally {
    removePins(pins);
  }
});

/** Checks every outer header byte of `out`, the frame `inner` framed with `vni`; returns the UDP source port. */
function expectFramed(out: Uint8Array, inner: Uint8Array, vni: number): number {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  expect(out.length).toBe(inner.length + 50);
  expect(hex(out.subarray(0, 14))).toBe(hex(inner.subarray(0, 14))); // outer L2: the frame's own
  const ipLen = inner.length + 36;
  // version 4, IHL 5, TOS 0, total length, id 0, no fragment flags, TTL 64, UDP
  expect(hex(out.subarray(14, 24))).toBe(`4500${ipLen.toString(16).padStart(4, '0')}000000004011`);
  expect(checksum(out.subarray(14, 34))).toBe(0);
  expect(hex(out.subarray(26, 30))).toBe(hex(ip4(NODE)));
  expect(hex(out.subarray(30, 34))).toBe(hex(ip4(OTHER_NODE)));
  const sport = v.getUint16(34);
  expect(sport).toBeGreaterThanOrEqual(32768);
  expect(sport).toBeLessThanOrEqual(60999);
  expect(v.getUint16(36)).toBe(PORT);
  expect(v.getUint16(38)).toBe(ipLen - 20);
  expect(v.getUint16(40)).toBe(0); // no UDP checksum (IPv4)
  // Geneve: ver 0, opt len 0, flags 0, protocol 0x6558, VNI, reserved
  const vniHex = vni.toString(16).padStart(6, '0');
  expect(hex(out.subarray(42, 50))).toBe(`00006558${vniHex}00`);
  expect(hex(out.subarray(50))).toBe(hex(inner)); // the whole inner frame, unchanged
  return sport;
}

describe('Geneve framing', () => {
  it("frames a pod's packet for a remote pod with the pod's identity as VNI and redirects it", () => {
    const inner = buildFrame(tcp(POD.ip, REMOTE_POD, 40000, 8080));
    const r = run(dp.programFd(ProgramNames.fromContainer), inner);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expectFramed(r.out, inner, POD.identity);
  });

  it("frames the node's own packet for a remote pod as remote-node in cil_to_underlay", () => {
    const inner = buildFrame(tcp('10.210.1.1', REMOTE_POD, 40001, 8080));
    const r = run(overlay.programFd('egress', 'underlay'), inner);
    expect(r.retval).toBe(TC_ACT_OK);
    expectFramed(r.out, inner, OverlayDefines.IDENTITY_REMOTE_NODE);
  });

  it('takes the UDP source port from the flow: one flow one port, flows spread', () => {
    const prog = overlay.programFd('egress', 'underlay');
    const ports = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const inner = buildFrame(tcp('10.210.1.1', REMOTE_POD, 42000 + i, 8080));
      const a = expectFramed(run(prog, inner).out, inner, OverlayDefines.IDENTITY_REMOTE_NODE);
      const b = expectFramed(run(prog, inner).out, inner, OverlayDefines.IDENTITY_REMOTE_NODE);
      expect(b).toBe(a);
      ports.add(a);
    }
    expect(ports.size).toBeGreaterThan(8);
  });

  it('hands on what is not for a remote pod CIDR, untouched', () => {
    const prog = overlay.programFd('egress', 'underlay');
    for (const spec of [tcp(NODE, OTHER_NODE, 40002, 22), tcp(NODE, '192.0.2.1', 40003, 443)]) {
      const inner = buildFrame(spec);
      const r = run(prog, inner);
      expect(r.retval).toBe(TC_ACT_UNSPEC);
      expect(hex(r.out)).toBe(hex(inner));
    }
  });
});

describe('Geneve decap (cil_from_underlay)', () => {
  const prog = () => overlay.programFd('ingress', 'underlay');

  it('strips the outer headers and delivers with the VNI as identity: the policy admits it', () => {
    const inner = buildFrame(tcp(REMOTE_POD, POD.ip, 40010, 8080));
    const r = run(prog(), frame(inner, ALLOWED));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    // the inner frame, addressed to the pod by local delivery (MACs), TTL one less
    expect(r.out.length).toBe(inner.length);
    expect(hex(r.out.subarray(0, 12))).toBe('020000000105020000000101');
    expect(hex(r.out.subarray(14, 22))).toBe(hex(inner.subarray(14, 22)));
    expect(r.out[22]).toBe(inner[22]! - 1);
    expect(hex(r.out.subarray(26))).toBe(hex(inner.subarray(26)));
  });

  it('refuses by the carried identity alone (the ipcache says otherwise), and the host identity', () => {
    const inner = buildFrame(tcp(REMOTE_POD, POD.ip, 40011, 8080));
    expect(run(prog(), frame(inner, REFUSED)).retval).toBe(TC_ACT_SHOT);
    expect(run(prog(), frame(inner, 1)).retval).toBe(TC_ACT_SHOT);
  });

  it('drops Geneve it cannot take: critical options, OAM', () => {
    const inner = buildFrame(tcp(REMOTE_POD, POD.ip, 40012, 8080));
    expect(run(prog(), frame(inner, ALLOWED, { flags: 0x40 })).retval).toBe(TC_ACT_SHOT);
    expect(run(prog(), frame(inner, ALLOWED, { flags: 0x80 })).retval).toBe(TC_ACT_SHOT);
    // truncated inside the Geneve header
    expect(run(prog(), frame(inner, ALLOWED).subarray(0, 46)).retval).toBe(TC_ACT_SHOT);
  });

  it('hands on, untouched, what is not Geneve to this node', () => {
    const inner = buildFrame(tcp(REMOTE_POD, POD.ip, 40013, 8080));
    for (const data of [
      frame(inner, ALLOWED, { port: 4789 }),
      frame(inner, ALLOWED, { dst: '172.31.0.9' }),
      buildFrame({ src: OTHER_NODE, dst: NODE, proto: 'udp', sport: 53, dport: 53, payloadLen: 8 }),
      buildFrame(tcp(OTHER_NODE, NODE, 40014, 6081)),
    ]) {
      const r = run(prog(), data);
      expect(r.retval).toBe(TC_ACT_UNSPEC);
      expect(hex(r.out)).toBe(hex(data));
    }
  });

  it('a frame framed by cil_to_underlay decaps back to itself on the other side', () => {
    const back = new OverlayDatapath({ pinRoot: pins });
    try {
      const inner = buildFrame(tcp('10.210.1.1', REMOTE_POD, 40015, 8080));
      const framed = run(overlay.programFd('egress', 'underlay'), inner).out;
      // the receiving node: its own address is OTHER_NODE
      back.configure({ ifindex: 1, podCidrBits: 24, protocol: 'geneve', port: PORT, localIp: OTHER_NODE });
      const r = run(back.programFd('ingress', 'underlay'), framed);
      expect(r.retval).toBe(TC_ACT_OK); // not a local endpoint: the stack
      expect(hex(r.out)).toBe(hex(inner));
    } finally {
      back.configure({ ifindex: 1, podCidrBits: 24, protocol: 'geneve', port: PORT, localIp: NODE });
      back.close();
    }
  });

  it('refuses a Geneve configuration without the port or the node address', () => {
    expect(() => overlay.configure({ ifindex: 1, podCidrBits: 24, protocol: 'geneve' })).toThrow(
      /Geneve framing needs the tunnel port/,
    );
  });
});
