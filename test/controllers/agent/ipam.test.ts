import { describe, expect, it } from '@jest/globals';
import { AgentErrorCode, IpamError } from '../../../controllers/agent/errors.js';
import { HostIpam } from '../../../controllers/agent/ipam.js';

describe('HostIpam', () => {
  it('hands out the pod CIDR minus network, router and broadcast, then says it is exhausted', () => {
    const ipam = new HostIpam();
    expect(() => ipam.allocate('a/p')).toThrow(/no pod CIDR yet/);
    ipam.setCidr('10.9.0.0/29');
    expect(ipam.router).toBe('10.9.0.1');
    const got = Array.from({ length: 5 }, (_, i) => ipam.allocate(`ns/p${i}`));
    expect(got.sort()).toEqual(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    let err: unknown;
    try {
      ipam.allocate('ns/p6');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IpamError);
    expect((err as IpamError).code).toBe(AgentErrorCode.IpamExhausted);
    expect((err as IpamError).message).toContain('10.9.0.0/29 has no free address');
  });

  it('does not reuse a released address at once, never releases the router, restores only inside the CIDR', () => {
    const ipam = new HostIpam();
    ipam.setCidr('10.9.1.0/24');
    const a = ipam.allocate('x');
    expect(ipam.release(a)).toBe(true);
    expect(ipam.allocate('y')).not.toBe(a);
    expect(ipam.release('10.9.1.1')).toBe(false);
    expect(ipam.restore('10.9.2.5', 'z')).toBe(false);
    expect(ipam.restore('10.9.1.77', 'z')).toBe(true);
    expect(ipam.owner('10.9.1.77')).toBe('z');
  });
});
