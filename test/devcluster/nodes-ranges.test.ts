// Range selection for the devcluster's nodes and pods: never a prefix the host already uses.
import { describe, expect, test } from '@jest/globals';
import { chooseRanges, hostAddress, hostPrefixes, overlaps, RANGE_CANDIDATES } from '../../devcluster/nodes/ranges.js';

describe('chooseRanges', () => {
  test('takes the preferred ranges on a host that uses none of them', () => {
    expect(chooseRanges(['192.0.2.0/24'])).toEqual({ clusterPool: '10.200.0.0/16', nodeSubnet: '172.30.0.0/24' });
  });

  test('skips every candidate the host overlaps, in either direction', () => {
    // a wider host route (10.0.0.0/8) covers all 10.x pools; a narrower one (172.30.0.128/25) hits the /24
    expect(chooseRanges(['10.0.0.0/8', '172.30.0.128/25'])).toEqual({
      clusterPool: '172.29.0.0/16',
      nodeSubnet: '172.30.1.0/24',
    });
    expect(chooseRanges(['10.200.5.7/32'])).toMatchObject({ clusterPool: '10.201.0.0/16' });
  });

  test('fails with the host prefixes named when nothing is free', () => {
    expect(() => chooseRanges(['0.0.0.0/1', '128.0.0.0/1'])).toThrow(
      /no free cluster pool among 10\.200\.0\.0\/16.*host uses 0\.0\.0\.0\/1/,
    );
    expect(() => chooseRanges(['0.0.0.0/0'])).toThrow(
      expect.objectContaining({ code: 'NODES_ERR_NO_FREE_RANGE' }) as unknown as Error,
    );
  });

  test('on this host: the chosen ranges overlap none of its prefixes', () => {
    const used = hostPrefixes();
    const r = chooseRanges(used);
    for (const u of used) {
      expect(overlaps(u, r.clusterPool)).toBe(false);
      expect(overlaps(u, r.nodeSubnet)).toBe(false);
    }
    expect(RANGE_CANDIDATES.clusterPool).toContain(r.clusterPool);
  });

  test('addresses and overlap arithmetic', () => {
    expect(hostAddress('172.30.0.0/24', 2)).toBe('172.30.0.2');
    expect(overlaps('10.200.0.0/16', '10.200.255.1/32')).toBe(true);
    expect(overlaps('10.200.0.0/16', '10.201.0.0/16')).toBe(false);
  });
});
