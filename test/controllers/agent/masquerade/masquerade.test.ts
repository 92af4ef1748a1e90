// The masquerading room's pure parts: the cilium-config keys (defaults, refusals) and
// `cilium-dbg bpf nat list`'s lines in upstream's format.
import { describe, expect, it } from '@jest/globals';
import { agentOptions } from '../../../../controllers/agent/config.js';
import { natListLines } from '../../../../controllers/agent/masquerade/listing.js';
import type { NatListEntry } from '../../../../datapath/snat-kernel.js';

describe('masquerading options', () => {
  it('are on and in BPF by default, excluding only the pod CIDR when no native-routing CIDR is set', () => {
    expect(agentOptions({}).masquerade).toEqual({ enabled: true, bpf: true });
  });

  it('read the three keys', () => {
    const o = agentOptions({
      'enable-ipv4-masquerade': 'false',
      'enable-bpf-masquerade': 'false',
      'ipv4-native-routing-cidr': '10.200.0.0/16',
    }).masquerade;
    expect(o).toEqual({ enabled: false, bpf: false, nativeRoutingCidr: '10.200.0.0/16' });
  });

  it.each(['10.200.0.0', '10.300.0.0/16', '10.0.0.0/33', 'fd00::/64'])(
    'refuse ipv4-native-routing-cidr=%s naming the key',
    (v) => {
      expect(() => agentOptions({ 'ipv4-native-routing-cidr': v })).toThrow(/ipv4-native-routing-cidr/);
    },
  );
});

describe('bpf nat list', () => {
  const row = (e: Partial<NatListEntry>): NatListEntry => ({
    proto: 6,
    direction: 'egress',
    saddr: '10.200.1.5',
    sport: 45000,
    daddr: '192.0.2.10',
    dport: 80,
    toAddr: '172.30.0.1',
    toPort: 45000,
    created: 100,
    lifetime: 200,
    ...e,
  });

  it('prints both directions as upstream does, OUT before IN', () => {
    const lines = natListLines(
      [
        row({
          direction: 'ingress',
          saddr: '192.0.2.10',
          sport: 80,
          daddr: '172.30.0.1',
          dport: 45000,
          toAddr: '10.200.1.5',
        }),
        row({}),
        row({ proto: 1, sport: 7, dport: 0, toPort: 7 }),
      ],
      112,
    );
    expect(lines).toEqual([
      'ICMP OUT 10.200.1.5:7 -> 192.0.2.10:0 XLATE_SRC 172.30.0.1:7 Created=12sec ago NeedsCT=0',
      'TCP OUT 10.200.1.5:45000 -> 192.0.2.10:80 XLATE_SRC 172.30.0.1:45000 Created=12sec ago NeedsCT=0',
      'TCP IN 192.0.2.10:80 -> 172.30.0.1:45000 XLATE_DST 10.200.1.5:45000 Created=12sec ago NeedsCT=0',
    ]);
  });
});
