// The per-packet NodePort programs (nodeport.bpf.c) in the kernel, against crafted frames through
// BPF_PROG_TEST_RUN: the Service maps are written by the real KernelLoadBalancer, the "local"
// backend is an entry in the real endpoints map, both shared with the NodePort object by pin. Every
// rewritten frame must carry correct IPv4 and L4 checksums. Pins are removed, on failure too.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { loadAddon } from '../../datapath/addon.js';
import { endpointInfo, endpointKey } from '../../datapath/codecs.js';
import { Drop, Family } from '../../datapath/constants.js';
import { parseIp } from '../../datapath/ip.js';
import type { LbBackend, LbService } from '../../datapath/lb.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { KernelLoadBalancer } from '../../datapath/lb-kernel.js';
import { NodePortFlag, NodePortMapNames } from '../../datapath/nodeport-codecs.js';
import { NodePortDatapath } from '../../datapath/nodeport-kernel.js';
import { buildFrame, checksum, TcpFlags, type PacketSpec } from '../../datapath/packet.js';
import { pinRoot, removePins, testConfig } from './harness.js';

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const NODE = '172.30.0.1';
const CLIENT = '172.30.0.9';
const LOCAL = ['10.0.1.5', '10.0.1.6'];
const REMOTE = ['10.0.2.5', '10.0.2.6'];
const NODE_PORT = 30080;
const pins = pinRoot();
let dp: KernelDatapath;
let lb: KernelLoadBalancer;
let np: NodePortDatapath;

const be = (address: string, proto: 'TCP' | 'UDP' = 'TCP'): LbBackend => ({
  address,
  port: 8080,
  proto,
  state: 'active',
});
const nodePort = (port: number, backends: LbBackend[], extra: Partial<LbService> = {}): LbService => ({
  frontend: { address: NODE, port, proto: backends[0]?.proto ?? 'TCP' },
  type: 'NodePort',
  backends,
  ...extra,
});

/** The Services every test starts from. */
const SERVICES: LbService[] = [
  nodePort(NODE_PORT, [be(LOCAL[0]!)]),
  nodePort(30081, [be(REMOTE[0]!)]),
  nodePort(
    30082,
    [...LOCAL, ...REMOTE].map((a) => be(a)),
  ),
  nodePort(30083, [], { extLocal: true }), // externalTrafficPolicy: Local, no backend on this node
  nodePort(30084, [be(LOCAL[0]!, 'UDP')]),
  nodePort(30085, [be(REMOTE[0]!, 'UDP')]),
  { frontend: { address: '10.96.0.10', port: 80, proto: 'TCP' }, type: 'ClusterIP', backends: [be(LOCAL[0]!)] },
];

interface Seen {
  retval: number;
  frame: Uint8Array;
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

const ip4 = (b: Uint8Array, at: number) => [...b.subarray(at, at + 4)].join('.');

/** The frame's IPv4 header and TCP/UDP checksums verify (a UDP checksum of 0 means "none"). */
function checksumsValid(f: Uint8Array): boolean {
  const ihl = (f[14]! & 0x0f) * 4;
  if (checksum(f.subarray(14, 14 + ihl)) !== 0) return false;
  const proto = f[23]!;
  const l4 = f.subarray(14 + ihl, 14 + ((f[16]! << 8) | f[17]!));
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
  const ok = frame.length >= l4 + 4;
  return {
    retval: r.retval,
    frame,
    src: ok ? ip4(frame, 26) : '',
    dst: ok ? ip4(frame, 30) : '',
    sport: ok ? dv.getUint16(l4) : 0,
    dport: ok ? dv.getUint16(l4 + 2) : 0,
  };
}

const syn = (sport: number, dport = NODE_PORT, src = CLIENT): PacketSpec => ({
  src,
  dst: NODE,
  proto: 'tcp',
  sport,
  dport,
  tcpFlags: TcpFlags.syn,
  payloadLen: 0,
});
const ack = (sport: number, dport = NODE_PORT, src = CLIENT): PacketSpec => ({
  ...syn(sport, dport, src),
  tcpFlags: TcpFlags.ack,
  payloadLen: 10,
});

function markLocal(address: string): void {
  const key = endpointKey.encode({ ip: parseIp(address).bytes, family: Family.ipv4 });
  const value = endpointInfo.encode({ ifindex: 1, lxcId: 7 });
  loadAddon().mapUpdate(np.mapFd('cilium_lxc'), key, value, 0);
}

let nextPort = 40000;
const port = () => nextPort++;

beforeAll(() => {
  // the endpoint object owns the endpoints map, the counters and the event ring the NodePort object shares
  dp = new KernelDatapath({ pinRoot: pins, config: testConfig, readEvents: false });
  lb = new KernelLoadBalancer({ pinRoot: pins });
  np = new NodePortDatapath({ pinRoot: pins });
  for (const a of LOCAL) markLocal(a);
});

beforeEach(() => {
  lb.syncServices(SERVICES);
});

afterAll(() => {
  try {
    np?.close();
    lb?.close();
    dp?.close();
  } finally {
    removePins(pins);
  }
});

describe('NodePort per packet (BPF_PROG_TEST_RUN)', () => {
  it('DNATs a new flow to a local backend and keeps the client address', () => {
    const p = port();
    const r = run('ingress', syn(p));
    expect([r.retval, r.src, r.sport, r.dst, r.dport]).toEqual([TC_ACT_OK, CLIENT, p, LOCAL[0], 8080]);
    expect(checksumsValid(r.frame)).toBe(true);
    const flow = np.flows().find((f) => f.tuple.sport === p);
    expect(flow?.entry.flags).toBe(NodePortFlag.local);
  });

  it('reverse-translates the local backend reply at egress: it comes from nodeIP:nodePort', () => {
    const p = port();
    run('ingress', syn(p));
    const reply = run('egress', {
      src: LOCAL[0]!,
      dst: CLIENT,
      proto: 'tcp',
      sport: 8080,
      dport: p,
      tcpFlags: TcpFlags.syn | TcpFlags.ack,
    });
    expect([reply.retval, reply.src, reply.sport, reply.dst, reply.dport]).toEqual([
      TC_ACT_OK,
      NODE,
      NODE_PORT,
      CLIENT,
      p,
    ]);
    expect(checksumsValid(reply.frame)).toBe(true);
  });

  it('keeps an established flow on its backend while new flows spread', () => {
    const chosen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const p = port();
      const first = run('ingress', syn(p, 30082));
      chosen.add(first.dst);
      for (let k = 0; k < 5; k++) {
        const next = run('ingress', ack(p, 30082));
        expect([next.dst, next.dport]).toEqual([first.dst, 8080]);
        expect(checksumsValid(next.frame)).toBe(true);
      }
    }
    expect(chosen.size).toBeGreaterThan(1);
  });

  it('SNATs a flow to a remote backend to the node address and redirects it out of the device', () => {
    const p = port();
    const r = run('ingress', syn(p, 30081));
    expect([r.retval, r.src, r.sport, r.dst, r.dport]).toEqual([TC_ACT_REDIRECT, NODE, p, REMOTE[0], 8080]);
    expect(checksumsValid(r.frame)).toBe(true);

    const reply = run('ingress', {
      src: REMOTE[0]!,
      dst: NODE,
      proto: 'tcp',
      sport: 8080,
      dport: p,
      tcpFlags: TcpFlags.syn | TcpFlags.ack,
      payloadLen: 7,
    });
    expect([reply.retval, reply.src, reply.sport, reply.dst, reply.dport]).toEqual([
      TC_ACT_REDIRECT,
      NODE,
      30081,
      CLIENT,
      p,
    ]);
    expect(checksumsValid(reply.frame)).toBe(true);
  });

  it('gives a second client with the same source port another SNAT port', () => {
    const p = port();
    const a = run('ingress', syn(p, 30081, CLIENT));
    const b = run('ingress', syn(p, 30081, '172.30.0.10'));
    expect(a.sport).toBe(p);
    expect([b.retval, b.src]).toEqual([TC_ACT_REDIRECT, NODE]);
    expect(b.sport).not.toBe(p);
    const reply = run('ingress', {
      src: REMOTE[0]!,
      dst: NODE,
      proto: 'tcp',
      sport: 8080,
      dport: b.sport,
      tcpFlags: 0x12,
    });
    expect([reply.dst, reply.dport, reply.src, reply.sport]).toEqual(['172.30.0.10', p, NODE, 30081]);
  });

  it('drops a new flow to a frontend without backends (externalTrafficPolicy: Local, none here), counted and reported', () => {
    const counted = () =>
      dp.metrics().find((m) => m.reason === -Drop.noService && m.direction === 'ingress')?.packets ?? 0;
    const before = counted();
    dp.drainEvents();
    expect(run('ingress', syn(port(), 30083)).retval).toBe(TC_ACT_SHOT);
    expect(counted()).toBe(before + 1);
    const drops = dp.drainEvents().filter((e) => e.type === 'drop');
    expect(drops.map((e) => e.type === 'drop' && e.reasonName)).toEqual(['SERVICE_BACKEND_NOT_FOUND']);
  });

  it('translates UDP both ways; a datagram without checksum keeps none', () => {
    const p = port();
    const r = run('ingress', { src: CLIENT, dst: NODE, proto: 'udp', sport: p, dport: 30084, payloadLen: 5 });
    expect([r.retval, r.dst, r.dport]).toEqual([TC_ACT_OK, LOCAL[0], 8080]);
    expect(checksumsValid(r.frame)).toBe(true);
    const reply = run('egress', { src: LOCAL[0]!, dst: CLIENT, proto: 'udp', sport: 8080, dport: p, payloadLen: 3 });
    expect([reply.src, reply.sport]).toEqual([NODE, 30084]);
    expect(checksumsValid(reply.frame)).toBe(true);

    const q = port();
    const nocsum = buildFrame({ src: CLIENT, dst: NODE, proto: 'udp', sport: q, dport: 30085, payloadLen: 5 });
    nocsum[40] = 0;
    nocsum[41] = 0;
    const r2 = run('ingress', nocsum);
    expect([r2.retval, r2.src, r2.dst, r2.frame[40], r2.frame[41]]).toEqual([TC_ACT_REDIRECT, NODE, REMOTE[0], 0, 0]);
    expect(checksumsValid(r2.frame)).toBe(true);
  });

  it('leaves traffic that is not to a NodePort frontend untouched', () => {
    const cases: PacketSpec[] = [
      syn(port(), 22), // the node's own port
      { ...syn(port(), 80), dst: '10.96.0.10' }, // a ClusterIP is not reachable from outside
      { src: CLIENT, dst: NODE, proto: 'icmp', icmpType: 8, icmpId: 3 },
      { src: 'fd00::1', dst: 'fd00::2', proto: 'tcp', sport: 1, dport: NODE_PORT },
      { src: REMOTE[1]!, dst: NODE, proto: 'tcp', sport: 8080, dport: 45678, tcpFlags: 0x12 }, // no such flow
    ];
    for (const spec of cases)
      for (const dir of ['ingress', 'egress'] as const) {
        const frame = buildFrame(spec);
        const r = run(dir, frame);
        expect([spec.dst, dir, r.retval, Buffer.from(r.frame).equals(Buffer.from(frame))]).toEqual([
          spec.dst,
          dir,
          TC_ACT_OK,
          true,
        ]);
      }
  });

  it('passes truncated, fragmented and garbage frames untouched without translating them', () => {
    // BPF_PROG_TEST_RUN refuses an IPv4 frame shorter than its IP header, so cuts start there
    // (the TCP header is what goes missing)
    const whole = buildFrame(syn(port()));
    for (let len = 14 + 20; len < whole.length; len++) {
      const cut = whole.slice(0, len);
      const r = run('ingress', cut);
      expect([len, r.retval]).toEqual([len, TC_ACT_OK]);
      expect(Buffer.from(r.frame).equals(Buffer.from(cut))).toBe(true);
    }
    const frag = buildFrame(syn(port()));
    frag[20] = 0x20; // more fragments
    expect(Buffer.from(run('ingress', frag).frame).equals(Buffer.from(frag))).toBe(true);
    const badIhl = buildFrame(syn(port()));
    badIhl[14] = 0x43;
    expect(run('ingress', badIhl).retval).toBe(TC_ACT_OK);
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      const junk = Uint8Array.from({ length: 34 + (i % 80) }, () => (seed = (seed * 1103515245 + 12345) & 0xff));
      junk[12] = 0x08;
      junk[13] = 0x00;
      for (const dir of ['ingress', 'egress'] as const) expect([0, 2, 7]).toContain(run(dir, junk).retval);
    }
  });

  it('forgets nothing it needs: both maps hold an entry per translated flow', () => {
    const p = port();
    run('ingress', syn(p, 30081));
    const flow = np.flows().find((f) => f.tuple.sport === p && f.tuple.dport === 30081);
    expect(flow?.entry.flags).toBe(NodePortFlag.snat);
    const rev = np.replies().find((r) => r.tuple.dport === flow?.entry.natPort && r.entry.clientPort === p);
    expect(rev?.entry.frontendPort).toBe(30081);
    expect(np.mapFd(NodePortMapNames.ct)).toBeGreaterThan(0);
  });
});
