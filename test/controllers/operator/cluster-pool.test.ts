import { describe, expect, it } from '@jest/globals';
import { ClusterPool } from '../../../controllers/operator/cluster-pool.js';
import { OperatorErrorCode } from '../../../controllers/operator/errors.js';

describe('ClusterPool', () => {
  it('carves /mask blocks in order, keeps a node on its block, and reuses released ones', () => {
    const p = new ClusterPool({ cidrs: ['10.200.0.0/22'], maskSize: 24 });
    expect(p.capacity).toBe(4);
    expect(p.allocate('a')).toBe('10.200.0.0/24');
    expect(p.allocate('b')).toBe('10.200.1.0/24');
    expect(p.allocate('a')).toBe('10.200.0.0/24');
    expect(p.release('a')).toEqual(['10.200.0.0/24']);
    expect(p.allocate('c')).toBe('10.200.0.0/24');
  });

  it('refuses to let two nodes hold one block and says when the pool is exhausted', () => {
    const p = new ClusterPool({ cidrs: ['10.1.0.0/25'], maskSize: 26 });
    expect(p.occupy('10.1.0.0/26', 'x')).toBe(true);
    expect(p.occupy('10.1.0.0/26', 'y')).toBe(false);
    expect(p.allocate('y')).toBe('10.1.0.64/26');
    expect(() => p.allocate('z')).toThrow(
      expect.objectContaining({
        code: OperatorErrorCode.PoolExhausted,
        message: expect.stringContaining('no free /26 left'),
      }),
    );
  });

  it('rejects a malformed pool or mask with the key named', () => {
    expect(() => new ClusterPool({ cidrs: ['10.1.0.0'], maskSize: 24 })).toThrow(/cluster-pool-ipv4-cidr/);
    expect(() => new ClusterPool({ cidrs: ['10.1.0.0/16'], maskSize: 8 })).toThrow(/cluster-pool-ipv4-mask-size 8/);
  });
});
