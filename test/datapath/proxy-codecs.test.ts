// Golden layout test for the proxy's original-destination map: the C compiler, not this file, says
// where every field of datapath/bpf/proxy.h lives (sizeof, offsetof, the bytes of a filled-in
// struct and every define), compared with datapath/proxy-codecs.ts.
import { describe, expect, it } from '@jest/globals';
import { ProxyDefines, proxy4Key, proxy4Value, proxyStructs } from '../../datapath/proxy-codecs.js';
import { describeHeaderMirror } from './c-layout-probe.js';

describeHeaderMirror({
  header: 'proxy.h',
  structs: proxyStructs,
  defines: /^#define\s+(PROXY4_\w+)\s/gm,
  values: ProxyDefines,
  codecs: 'proxy-codecs.ts',
});

describe('proxy-codecs', () => {
  it("is upstream's cilium_proxy4 layout: a packed 10-byte key, a 16-byte value", () => {
    expect([proxy4Key.size, proxy4Value.size]).toEqual([10, 16]);
  });

  it('writes addresses and ports in network order, identity and lifetime in host order', () => {
    const k = proxy4Key.encode({ saddr: 0x0a000102, dport: 10002, sport: 40000, nexthdr: 17 });
    expect(Buffer.from(k).toString('hex')).toBe('0a000102' + '2712' + '9c40' + '11' + '00');
    const v = proxy4Value.decode(Uint8Array.from(Buffer.from('0a0002030035000039300000' + '10000000', 'hex')));
    expect(v).toEqual({ origDaddr: 0x0a000203, origDport: 53, pad1: 0, identity: 12345, lifetime: 16 });
  });
});
