// Golden layout test for the tunnel maps: the C compiler, not this file, says where every field of
// datapath/bpf/overlay.h lives (sizeof, offsetof, the bytes of a filled-in struct and every
// define), compared with datapath/overlay-codecs.ts; and the entries the agent writes, byte by byte.
import { describe, expect, it } from '@jest/globals';
import { OverlayDefines, decodeTunnelEntry, overlayStructs, tunnelEntry } from '../../datapath/overlay-codecs.js';
import { describeHeaderMirror } from './c-layout-probe.js';

describeHeaderMirror({
  header: 'overlay.h',
  structs: overlayStructs,
  defines: /^#define\s+((?!CILIUM_TS_OVERLAY_H)\w+)\s/gm,
  values: OverlayDefines,
  codecs: 'overlay-codecs.ts',
});

describe('tunnel map entries', () => {
  it.each([
    // pod CIDR, node IP, key hex, value hex, the prefix address listed
    [
      '10.0.2.0/24',
      '172.30.2.2',
      `0a000200${'00'.repeat(12)}01000000`,
      `ac1e0202${'00'.repeat(12)}01000000`,
      '10.0.2.0',
    ],
    [
      '10.0.2.77/24',
      '172.30.2.2',
      `0a000200${'00'.repeat(12)}01000000`,
      `ac1e0202${'00'.repeat(12)}01000000`,
      '10.0.2.0',
    ],
    [
      '10.244.0.0/16',
      '192.168.1.10',
      `0af40000${'00'.repeat(12)}01000000`,
      `c0a8010a${'00'.repeat(12)}01000000`,
      '10.244.0.0',
    ],
  ])('%s via %s: the prefix address and the node IP', (podCidr, nodeIp, key, value, prefix) => {
    const e = tunnelEntry({ podCidr, nodeIp });
    expect(Buffer.from(e.key).toString('hex')).toBe(key);
    expect(Buffer.from(e.value).toString('hex')).toBe(value);
    expect(decodeTunnelEntry(e.key, e.value)).toEqual({ prefix, nodeIp });
  });

  it('refuses IPv6 (the datapath encapsulates IPv4 only)', () => {
    expect(() => tunnelEntry({ podCidr: 'fd00::/64', nodeIp: '172.30.2.2' })).toThrow(/IPv4 only/);
    expect(() => tunnelEntry({ podCidr: '10.0.2.0/24', nodeIp: 'fd00::2' })).toThrow(/IPv4 only/);
  });
});
