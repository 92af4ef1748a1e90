// Every verdict path of the tc programs, on crafted packets through BPF_PROG_TEST_RUN, with the
// sim backend run on the same packets alongside (it must agree on verdict, reason and events).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Drop, PolicyMatch, TracePoint } from '../../datapath/constants.js';
import type { Hook, Verdict } from '../../datapath/datapath.js';
import { buildFrame, TcpFlags, type PacketSpec } from '../../datapath/packet.js';
import { Pair } from './harness.js';

const A = { id: 11, v4: '10.0.0.1', v6: 'fd00::1', identity: 1001 };
const B = { v4: '10.0.0.2', v6: 'fd00::2', identity: 2002 };
const C = { v4: '10.0.0.3', identity: 3003 };
const WORLD_IP = '192.0.2.9';
const BAD_ID_IP = '10.9.9.9';

let dp: Pair;

beforeAll(() => {
  dp = new Pair();
  dp.endpoints([{ id: A.id, ips: [A.v4, A.v6], ifindex: 1, identity: A.identity }]);
  dp.ipcache([
    { prefix: `${A.v4}/32`, identity: A.identity },
    { prefix: `${B.v4}/32`, identity: B.identity },
    { prefix: `${B.v6}/128`, identity: B.identity },
    { prefix: `${C.v4}/32`, identity: C.identity },
    { prefix: `${BAD_ID_IP}/32`, identity: 0 },
  ]);
});

afterAll(() => dp?.close());

function both(spec: PacketSpec | Uint8Array, hook: Hook = 'from-container'): Verdict {
  const { k, s } = dp.run(spec, hook);
  const strip = (v: Verdict): unknown => ({ ...v, events: v.events.map((e) => ({ ...e, hash: 0 })) });
  expect(strip(s)).toEqual(strip(k));
  return k;
}

const tcp = (dst: string, dport: number, extra: Partial<PacketSpec> = {}): PacketSpec => ({
  src: A.v4,
  dst,
  proto: 'tcp',
  dport,
  ...extra,
});
let sport = 20000;
const fresh = (dst: string, dport: number, proto: PacketSpec['proto'] = 'tcp'): PacketSpec => ({
  src: A.v4,
  dst,
  proto,
  dport,
  sport: sport++,
});

describe('policy verdicts (BPF_PROG_TEST_RUN, sim alongside)', () => {
  it('drops with NO_CONFIG when the endpoint has no policy map', () => {
    expect(both(fresh(B.v4, 80))).toMatchObject({ allowed: false, reason: Drop.noConfig });
  });

  it('L3 allow: any protocol and port to one identity, default deny for others', () => {
    dp.policy(A.id, [{ identity: B.identity, direction: 'egress', protocol: 0, port: 0 }]);
    const v = both(fresh(B.v4, 1234));
    expect(v.allowed).toBe(true);
    const pv = v.events.find((e) => e.type === 'policy-verdict');
    expect(pv).toMatchObject({
      verdict: 0,
      direction: 'egress',
      remoteLabel: B.identity,
      dstPort: 1234,
      proto: 6,
      matchType: PolicyMatch.l3Only,
      source: A.id,
    });
    expect(v.events.find((e) => e.type === 'trace')).toMatchObject({
      obsPoint: TracePoint.fromLxc,
      reason: 0,
      srcLabel: A.identity,
      dstLabel: B.identity,
    });
    expect(both(fresh(B.v4, 53, 'udp')).allowed).toBe(true);
    const d = both(fresh(C.v4, 1234));
    expect(d).toMatchObject({ allowed: false, reason: Drop.policy });
    expect(d.events.find((e) => e.type === 'drop')).toMatchObject({
      reason: 133,
      reasonName: 'POLICY_DENIED',
      srcLabel: A.identity,
      dstLabel: C.identity,
      source: A.id,
      ifindex: 1,
    });
  });

  it('L4 allow: one protocol and port', () => {
    dp.policy(A.id, [{ identity: C.identity, direction: 'egress', protocol: 6, port: 80 }]);
    expect(both(fresh(C.v4, 80)).allowed).toBe(true);
    expect(both(fresh(C.v4, 81))).toMatchObject({ allowed: false, reason: Drop.policy });
    expect(both(fresh(C.v4, 80, 'udp'))).toMatchObject({ allowed: false, reason: Drop.policy });
  });

  it('port ranges are matched exactly at both ends', () => {
    dp.policy(A.id, [{ identity: C.identity, direction: 'egress', protocol: 6, port: 8000, endPort: 8080 }]);
    for (const p of [8000, 8001, 8063, 8064, 8079, 8080]) expect(both(fresh(C.v4, p)).allowed).toBe(true);
    for (const p of [7999, 8081, 8096])
      expect(both(fresh(C.v4, p))).toMatchObject({ allowed: false, reason: Drop.policy });
  });

  it('protocol ANY and protocol-only entries', () => {
    dp.policy(A.id, [
      { identity: C.identity, direction: 'egress', protocol: 17, port: 0 },
      { identity: B.identity, direction: 'egress', protocol: 0, port: 0 },
    ]);
    expect(both(fresh(C.v4, 9999, 'udp')).events.find((e) => e.type === 'policy-verdict')).toMatchObject({
      matchType: PolicyMatch.l3Proto,
    });
    expect(both(fresh(C.v4, 9999, 'tcp')).allowed).toBe(false);
    expect(both(fresh(B.v4, 7, 132)).allowed).toBe(true); // SCTP: any protocol
    expect(both({ src: A.v4, dst: B.v4, proto: 'icmp' }).allowed).toBe(true);
  });

  it('identity 0 matches any identity, including the world', () => {
    dp.policy(A.id, [{ identity: 0, direction: 'egress', protocol: 6, port: 443 }]);
    expect(both(fresh(C.v4, 443)).events.find((e) => e.type === 'policy-verdict')).toMatchObject({
      matchType: PolicyMatch.l4Only,
    });
    expect(both(fresh(WORLD_IP, 443)).allowed).toBe(true);
    expect(both(fresh(WORLD_IP, 444)).allowed).toBe(false);
  });

  it('deny beats allow: same identity more specific, and any-identity deny over an identity allow', () => {
    dp.policy(A.id, [
      { identity: B.identity, direction: 'egress', protocol: 0, port: 0 },
      { identity: B.identity, direction: 'egress', protocol: 6, port: 22, deny: true },
      { identity: 0, direction: 'egress', protocol: 6, port: 25, deny: true },
      { identity: C.identity, direction: 'egress', protocol: 6, port: 1000 },
      { identity: C.identity, direction: 'egress', protocol: 6, port: 0, deny: true },
    ]);
    expect(both(fresh(B.v4, 22))).toMatchObject({ allowed: false, reason: Drop.policyDeny });
    expect(both(fresh(B.v4, 25))).toMatchObject({ allowed: false, reason: Drop.policyDeny });
    expect(both(fresh(B.v4, 23)).allowed).toBe(true);
    // a broader deny removes a narrower allow of the same identity
    expect(both(fresh(C.v4, 1000))).toMatchObject({ allowed: false, reason: Drop.policyDeny });
    const d = both(fresh(B.v4, 22)).events.find((e) => e.type === 'drop');
    expect(d).toMatchObject({ reason: 181, reasonName: 'POLICY_DENY' });
  });

  it('a reply is allowed by conntrack after the policy was removed; a new connection is not', () => {
    dp.policy(A.id, [{ identity: C.identity, direction: 'egress', protocol: 6, port: 5432 }]);
    const syn = tcp(C.v4, 5432, { sport: 33333, tcpFlags: TcpFlags.syn });
    expect(both(syn).allowed).toBe(true);
    dp.policy(A.id, []);
    const synAck: PacketSpec = {
      src: C.v4,
      dst: A.v4,
      proto: 'tcp',
      sport: 5432,
      dport: 33333,
      tcpFlags: TcpFlags.syn | TcpFlags.ack,
    };
    const r = both(synAck, 'to-container');
    expect(r).toMatchObject({ allowed: true, reason: 0 });
    expect(r.events).toEqual([]); // replies skip policy: no verdict event
    expect(both(tcp(C.v4, 5432, { sport: 33333, tcpFlags: TcpFlags.ack })).allowed).toBe(true);
    // a fresh connection from C to A meets the (empty) ingress policy
    expect(both({ src: C.v4, dst: A.v4, proto: 'tcp', sport: 5555, dport: 33333 }, 'to-container')).toMatchObject({
      allowed: false,
      reason: Drop.policy,
    });
    // the close is traced once
    const fin = both(tcp(C.v4, 5432, { sport: 33333, tcpFlags: TcpFlags.fin | TcpFlags.ack }));
    expect(fin.events.map((e) => e.type)).toEqual(['trace']);
    dp.deletePolicy(A.id);
    expect(both(tcp(C.v4, 5432, { sport: 33333, tcpFlags: TcpFlags.ack })).allowed).toBe(true);
  });

  it('unknown remote addresses are the world identity; identity 0 in the ipcache is invalid', () => {
    dp.policy(A.id, [{ identity: B.identity, direction: 'egress', protocol: 0, port: 0 }]);
    const w = both(fresh(WORLD_IP, 80));
    expect(w).toMatchObject({ allowed: false, reason: Drop.policy });
    expect(w.events.find((e) => e.type === 'policy-verdict')).toMatchObject({ remoteLabel: 2 });
    dp.policy(A.id, [{ identity: 2, direction: 'egress', protocol: 0, port: 0 }]);
    expect(both(fresh(WORLD_IP, 80)).allowed).toBe(true);
    expect(both(fresh(BAD_ID_IP, 80))).toMatchObject({ allowed: false, reason: Drop.invalidIdentity });
  });

  it('truncated and malformed packets get a defined drop reason', () => {
    dp.policy(A.id, [{ identity: 0, direction: 'egress', protocol: 0, port: 0 }]);
    const good = buildFrame(fresh(B.v4, 80));
    const withLen = (f: Uint8Array, n: number): Uint8Array => f.slice(0, n);
    const ihl3 = good.slice();
    ihl3[14] = 0x43;
    const doff3 = good.slice();
    doff3[14 + 20 + 12] = 3 << 4;
    const frag = good.slice();
    new DataView(frag.buffer).setUint16(14 + 6, 100);
    const lldp = good.slice();
    new DataView(lldp.buffer).setUint16(12, 0x88cc);
    const badTot = good.slice();
    new DataView(badTot.buffer).setUint16(16, 400);
    const cases: [Uint8Array, number][] = [
      [ihl3, Drop.invalid],
      [badTot, Drop.invalid],
      [withLen(good, 14 + 20 + 10), Drop.invalid], // tot_len says 40 bytes, 30 present
      [doff3, Drop.ctInvalidHdr],
      [frag, Drop.fragNoSupport],
      [lldp, Drop.unknownL3],
      [buildFrame({ src: A.v6, dst: B.v6, proto: 'tcp', ipv6Ext: [0, 60, 60, 43, 60] }), Drop.invalidExthdr],
      [withLen(buildFrame({ src: A.v6, dst: B.v6, proto: 'udp' }), 14 + 40 + 4), Drop.ctInvalidHdr],
      [buildFrame({ src: '10.7.7.7', dst: B.v4, proto: 'tcp' }), Drop.invalidSip],
    ];
    for (const [f, reason] of cases) expect(both(f)).toMatchObject({ allowed: false, reason });
    // Shorter than an IP header: BPF_PROG_TEST_RUN itself refuses such frames (EINVAL), so
    // only the sim can be fed them; it must drop them as the program's bounds checks would.
    for (const f of [
      withLen(good, 14),
      withLen(good, 30),
      withLen(buildFrame({ src: A.v6, dst: B.v6, proto: 'udp' }), 14 + 39),
    ]) {
      expect(() => dp.kernel.process(f, 'from-container')).toThrow(expect.objectContaining({ code: 'DP_ERR_INVALID' }));
      expect(dp.sim.process(f, 'from-container')).toMatchObject({ allowed: false, reason: Drop.invalid });
    }
    // truncated TCP: the IP header claims no more than is there
    const shortTcp = buildFrame({ src: A.v4, dst: B.v4, proto: 'udp' }).slice();
    shortTcp[14 + 9] = 6;
    expect(both(shortTcp)).toMatchObject({ allowed: false, reason: Drop.ctInvalidHdr });
    // ARP passes without policy
    const arp = good.slice(0, 42);
    new DataView(arp.buffer).setUint16(12, 0x0806);
    expect(both(arp)).toMatchObject({ allowed: true, events: [] });
    // ingress to an address that is not a local endpoint
    expect(both({ src: B.v4, dst: C.v4, proto: 'tcp' }, 'to-container')).toMatchObject({
      allowed: false,
      reason: Drop.unroutable,
    });
  });

  it('IPv6: L4 policy, extension headers, ICMPv6 echo through conntrack, neighbour discovery passes', () => {
    dp.policy(A.id, [
      { identity: B.identity, direction: 'egress', protocol: 6, port: 80 },
      { identity: B.identity, direction: 'egress', protocol: 58, port: 128 },
    ]);
    const v = both({ src: A.v6, dst: B.v6, proto: 'tcp', dport: 80, sport: 41000 });
    expect(v.allowed).toBe(true);
    expect(v.events.find((e) => e.type === 'policy-verdict')).toMatchObject({ ipv6: true, dstPort: 80 });
    expect(both({ src: A.v6, dst: B.v6, proto: 'tcp', dport: 80, sport: 41001, ipv6Ext: [0, 60] }).allowed).toBe(true);
    expect(both({ src: A.v6, dst: B.v6, proto: 'tcp', dport: 81 })).toMatchObject({
      allowed: false,
      reason: Drop.policy,
    });
    expect(both({ src: A.v6, dst: 'fd00::99', proto: 'tcp', dport: 80 })).toMatchObject({
      allowed: false,
      reason: Drop.policy,
    });
    expect(both({ src: A.v6, dst: B.v6, proto: 'icmp', icmpType: 128, icmpId: 99 }).allowed).toBe(true);
    expect(both({ src: B.v6, dst: A.v6, proto: 'icmp', icmpType: 129, icmpId: 99 }, 'to-container').allowed).toBe(true);
    expect(both({ src: B.v6, dst: A.v6, proto: 'icmp', icmpType: 129, icmpId: 98 }, 'to-container').allowed).toBe(
      false,
    );
    expect(both({ src: A.v6, dst: B.v6, proto: 'icmp', icmpType: 135 })).toMatchObject({ allowed: true, events: [] });
  });

  it('counts every verdict in the per-CPU metrics map', () => {
    const m = dp.kernel.metrics();
    const forwarded = m.filter((x) => x.reason === 0).reduce((a, x) => a + x.packets, 0);
    const denied = m.find((x) => x.reason === 181 && x.direction === 'egress');
    expect(forwarded).toBeGreaterThan(10);
    expect(denied?.packets).toBeGreaterThanOrEqual(3);
    const simDenied = dp.sim.metrics().find((x) => x.reason === 181 && x.direction === 'egress');
    expect(simDenied?.packets).toBe(denied?.packets);
  });
});
