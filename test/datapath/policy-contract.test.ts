// The contract between policy/ and datapath/: policy/entries.ts states the datapath's lookup as
// `lookupVerdict` over its MapEntry list. Here the same entries go into the kernel through
// an atomic policy swap, and crafted packets must get exactly the verdict policy/ predicts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Drop } from '../../datapath/constants.js';
import { buildFrame } from '../../datapath/packet.js';
import { lookupVerdict } from '../../policy/index.js';
import { Pair } from './harness.js';
import { mapEntries, swapPolicy, type RuleSpec } from './policy-rules.js';

const EP = { id: 21, ip: '10.5.0.1', identity: 1001 };
const PEERS = [
  { ip: '10.5.0.2', identity: 2002 },
  { ip: '10.5.0.3', identity: 3003 },
  { ip: '192.0.2.77', identity: 2 },
];
let dp: Pair;

beforeAll(() => {
  dp = new Pair();
  dp.endpoints([{ id: EP.id, ips: [EP.ip], ifindex: 1, identity: EP.identity }]);
  dp.ipcache([
    { prefix: EP.ip, identity: EP.identity },
    ...PEERS.filter((p) => p.identity !== 2).map((p) => ({ prefix: p.ip, identity: p.identity })),
  ]);
});

afterAll(() => dp?.close());

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 4294967296;
  };
}

describe('policy/ lookupVerdict is what the kernel does', () => {
  it('on 2,000 random (entries, packet) cases', () => {
    const r = rng(42);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
    let sport = 30000;
    const seen = new Set<string>();
    for (let round = 0; round < 40; round++) {
      const rules: RuleSpec[] = Array.from({ length: 1 + Math.floor(r() * 10) }, () => {
        const protocol = pick([0, 6, 17, 1]);
        const port = protocol === 0 ? 0 : pick([0, 80, 443, 8080, 1000]);
        return {
          identity: pick([0, 2002, 3003, 2]),
          direction: pick(['ingress', 'egress'] as const),
          protocol,
          port,
          endPort: port && r() < 0.3 ? port + 200 : undefined,
          deny: r() < 0.25,
        };
      });
      const entries = mapEntries(rules);
      swapPolicy(dp.kernel, EP.id, entries);
      for (let i = 0; i < 50; i++) {
        const peer = pick(PEERS);
        const egress = r() < 0.5;
        const proto = pick(['tcp', 'udp', 'icmp'] as const);
        const port = proto === 'icmp' ? 8 : pick([80, 81, 443, 8080, 8200, 8281, 1000, 1100, 22]);
        sport = sport >= 65000 ? 30000 : sport + 1;
        const spec = egress
          ? { src: EP.ip, dst: peer.ip, proto, dport: port, sport, icmpId: sport }
          : { src: peer.ip, dst: EP.ip, proto, dport: port, sport, icmpId: sport };
        const want = lookupVerdict(
          entries,
          egress ? 'egress' : 'ingress',
          peer.identity,
          proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 1,
          port,
        );
        const got = dp.kernel.process(buildFrame(spec), egress ? 'from-container' : 'to-container');
        const expected =
          want === 'allow'
            ? { allowed: true, reason: 0 }
            : { allowed: false, reason: want === 'deny' ? Drop.policyDeny : Drop.policy };
        expect({ allowed: got.allowed, reason: got.reason }).toEqual(expected);
        seen.add(want);
      }
    }
    expect([...seen].sort()).toEqual(['allow', 'deny', 'drop']);
  });
});
