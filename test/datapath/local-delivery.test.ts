// Local delivery: a packet between two endpoints of this node is redirected into the destination
// pod from the source's from-container program, after the source's egress and the destination's
// ingress conntrack and policy (BPF_PROG_TEST_RUN, with the sim run alongside and compared).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Drop, TracePoint } from '../../datapath/constants.js';
import type { Hook, Verdict } from '../../datapath/datapath.js';
import { formatMac } from '../../datapath/mac.js';
import { buildFrame, TcpFlags, type PacketSpec } from '../../datapath/packet.js';
import { Pair, testConfig } from './harness.js';

const A = { id: 21, ip: '10.5.0.1', identity: 1001, mac: '02:00:00:00:00:21', nodeMac: '02:00:00:00:01:21' };
const B = { id: 22, ip: '10.5.0.2', identity: 2002, mac: '02:00:00:00:00:22', nodeMac: '02:00:00:00:01:22' };
/** A local endpoint whose MACs the agent does not know: reached through the routed path. */
const N = { id: 23, ip: '10.5.0.3', identity: 3003 };

const allowAll = (direction: 'ingress' | 'egress') => ({ identity: 0, direction, protocol: 0, port: 0 }) as const;

let dp: Pair;
let sport = 30000;

function setup(pair: Pair): void {
  pair.endpoints([
    { id: A.id, ips: [A.ip], ifindex: 1, identity: A.identity, mac: A.mac, nodeMac: A.nodeMac },
    { id: B.id, ips: [B.ip], ifindex: 1, identity: B.identity, mac: B.mac, nodeMac: B.nodeMac },
    { id: N.id, ips: [N.ip], ifindex: 1, identity: N.identity },
  ]);
  pair.ipcache([
    { prefix: `${A.ip}/32`, identity: A.identity },
    { prefix: `${B.ip}/32`, identity: B.identity },
    { prefix: `${N.ip}/32`, identity: N.identity },
  ]);
}

beforeAll(() => {
  dp = new Pair();
  setup(dp);
});

afterAll(() => dp?.close());

function both(pair: Pair, spec: PacketSpec, hook: Hook = 'from-container'): Verdict {
  const { k, s } = pair.run(spec, hook);
  const strip = (v: Verdict): unknown => ({ ...v, events: v.events.map((e) => ({ ...e, hash: 0 })) });
  expect(strip(s)).toEqual(strip(k));
  return k;
}

describe('local delivery (redirect into the destination pod)', () => {
  it('applies the destination ingress policy in the source program and rewrites L2 and TTL', () => {
    dp.policy(A.id, [allowAll('egress'), allowAll('ingress')]);
    dp.policy(B.id, [{ identity: A.identity, direction: 'ingress', protocol: 6, port: 80 }, allowAll('egress')]);
    const syn: PacketSpec = { src: A.ip, dst: B.ip, proto: 'tcp', sport: sport++, dport: 80, tcpFlags: TcpFlags.syn };
    const v = both(dp, syn);
    expect(v.allowed).toBe(true);
    expect(v.redirected).toBeDefined();
    const out = v.redirected!.frame;
    expect(formatMac(out.subarray(0, 6))).toBe(B.mac);
    expect(formatMac(out.subarray(6, 12))).toBe(B.nodeMac);
    const sent = buildFrame(syn);
    expect(out[22]).toBe(sent[22]! - 1);
    // everything above L2 but the TTL and the checksum is untouched
    expect(Buffer.from(out.subarray(26))).toEqual(Buffer.from(sent.subarray(26)));
    // both halves reported: A's egress (from-lxc) and B's ingress (to-lxc), each with its verdict
    const verdicts = v.events.filter((e) => e.type === 'policy-verdict');
    expect(verdicts).toEqual([
      expect.objectContaining({ direction: 'egress', source: A.id, remoteLabel: B.identity, verdict: 0 }),
      expect.objectContaining({ direction: 'ingress', source: B.id, remoteLabel: A.identity, verdict: 0 }),
    ]);
    expect(v.events.filter((e) => e.type === 'trace').map((e) => e.type === 'trace' && [e.obsPoint, e.source])).toEqual(
      [
        [TracePoint.fromLxc, A.id],
        [TracePoint.toLxc, B.id],
      ],
    );
    // B's reply goes back the same way: its egress sees a reply, A's ingress conntrack too
    const reply = both(dp, {
      src: B.ip,
      dst: A.ip,
      proto: 'tcp',
      sport: 80,
      dport: syn.sport!,
      tcpFlags: TcpFlags.syn | TcpFlags.ack,
    });
    expect(reply).toMatchObject({ allowed: true, events: [] });
    expect(reply.redirected).toBeDefined();
  });

  it('a packet the source may send but the destination may not receive is dropped as the destination ingress drop', () => {
    dp.policy(A.id, [allowAll('egress'), allowAll('ingress')]);
    dp.policy(B.id, [{ identity: A.identity, direction: 'ingress', protocol: 6, port: 80 }, allowAll('egress')]);
    const v = both(dp, { src: A.ip, dst: B.ip, proto: 'tcp', sport: sport++, dport: 81, tcpFlags: TcpFlags.syn });
    expect(v).toMatchObject({ allowed: false, reason: Drop.policy });
    expect(v.redirected).toBeUndefined();
    expect(v.events.find((e) => e.type === 'drop')).toMatchObject({
      source: B.id,
      srcLabel: A.identity,
      dstLabel: B.identity,
      reasonName: 'POLICY_DENIED',
    });
    // and the source's egress denial still comes first
    dp.policy(A.id, [allowAll('ingress')]);
    const e = both(dp, { src: A.ip, dst: B.ip, proto: 'tcp', sport: sport++, dport: 80, tcpFlags: TcpFlags.syn });
    expect(e.events.find((x) => x.type === 'drop')).toMatchObject({ source: A.id, reasonName: 'POLICY_DENIED' });
  });

  it('takes the routed path to an endpoint without MACs, and when the TTL is about to expire', () => {
    dp.policy(A.id, [allowAll('egress'), allowAll('ingress')]);
    const v = both(dp, { src: A.ip, dst: N.ip, proto: 'udp', sport: sport++, dport: 53 });
    expect(v.allowed).toBe(true);
    expect(v.redirected).toBeUndefined();
    // N's ingress is decided later, by its own to-container program
    dp.policy(N.id, []);
    expect(both(dp, { src: A.ip, dst: N.ip, proto: 'udp', sport: sport++, dport: 53 }, 'to-container')).toMatchObject({
      allowed: false,
      reason: Drop.policy,
    });

    dp.policy(B.id, [allowAll('ingress'), allowAll('egress')]);
    const frame = buildFrame({ src: A.ip, dst: B.ip, proto: 'udp', sport: sport++, dport: 53 });
    frame[22] = 1; // TTL 1 (the checksum is not checked on this path)
    const { k, s } = dp.run(frame, 'from-container');
    expect(k.redirected).toBeUndefined();
    expect(s.redirected).toBeUndefined();
    expect(k.allowed && s.allowed).toBe(true);
  });

  it('is off with localRedirect: false — the routed path, the same verdicts', () => {
    const off = new Pair({ ...testConfig, localRedirect: false });
    try {
      setup(off);
      off.policy(A.id, [allowAll('egress')]);
      off.policy(B.id, []);
      const v = both(off, { src: A.ip, dst: B.ip, proto: 'tcp', sport: sport++, dport: 80, tcpFlags: TcpFlags.syn });
      expect(v).toMatchObject({ allowed: true });
      expect(v.redirected).toBeUndefined();
      // B's ingress denies it when the packet reaches B's veth
      expect(
        both(
          off,
          { src: A.ip, dst: B.ip, proto: 'tcp', sport: sport++, dport: 80, tcpFlags: TcpFlags.syn },
          'to-container',
        ),
      ).toMatchObject({ allowed: false, reason: Drop.policy });
    } finally {
      off.close();
    }
  });
});
