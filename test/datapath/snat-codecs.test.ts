// Golden layout test for the masquerading maps: the C compiler, not this file, says where every
// field of datapath/bpf/nat.h lives (sizeof, offsetof, the bytes of a filled-in struct and every
// define), compared with datapath/snat-codecs.ts.
import { describe, expect, it } from '@jest/globals';
import { ipv4CtTuple } from '../../datapath/codecs.js';
import { SnatDefines, snatStructs } from '../../datapath/snat-codecs.js';
import { describeHeaderMirror } from './c-layout-probe.js';

describeHeaderMirror({
  header: 'nat.h',
  structs: snatStructs,
  defines: /^#define\s+((?:SNAT|NAT)_\w+)\s/gm,
  values: SnatDefines,
  codecs: 'snat-codecs.ts',
});

describe('snat-codecs', () => {
  it('the NAT key is upstream-sized: the 14-byte conntrack tuple, the 40-byte ipv4_nat_entry value', () => {
    expect([ipv4CtTuple.size, snatStructs[0]!.size]).toEqual([14, 40]);
  });
});
