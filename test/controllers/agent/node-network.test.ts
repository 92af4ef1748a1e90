// NodeNetwork's routes to the other nodes' pod CIDRs, in a network namespace this test creates:
// one `ip -batch` per sync whatever its size, a refused route (next hop not on-link) reported and
// not asked for again before its retry time, removals, and a failure that clears once it works.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { NodeNetwork } from '../../../controllers/agent/node-network.js';

const ns = `kts-nn-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const ipIn = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
/** The namespace's routes to 10.200.0.0/14 as `cidr via gw`. */
const routes = () =>
  ipIn('-j', 'route', 'show')
    .trim()
    .replace(/^$/, '[]')
    .split('\n')
    .flatMap((l) => JSON.parse(l) as { dst: string; gateway?: string }[])
    .filter((r) => r.dst.startsWith('10.20'))
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort();

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  // veth, not dummy: kernels without the dummy driver still have it.
  ipIn('link', 'add', 'n0', 'type', 'veth', 'peer', 'name', 'n1');
  ipIn('link', 'set', 'n0', 'up');
  ipIn('link', 'set', 'n1', 'up');
  ipIn('addr', 'add', '10.99.0.1/24', 'dev', 'n0');
});
afterAll(() => {
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('NodeNetwork.syncRoutes', () => {
  it('writes many routes in one ip process, reports refused ones and waits before retrying them', async () => {
    let now = 1_000;
    const net = new NodeNetwork({ netns: ns, failedRouteRetryMs: 60_000, now: () => now });
    const desired = new Map<string, string>();
    for (let i = 0; i < 50; i++) desired.set(`10.200.${i}.0/24`, `10.99.0.${10 + i}`);
    desired.set('10.201.0.0/24', '172.31.0.5'); // not on-link: the kernel refuses it
    const r1 = await net.syncRoutes(desired);
    expect(net.ipRuns).toBe(1);
    expect(r1.written).toBe(50);
    expect(r1.failed).toEqual([
      { cidr: '10.201.0.0/24', via: '172.31.0.5', error: expect.stringMatching(/invalid gateway|unreachable/i) },
    ]);
    expect(routes()).toHaveLength(50);
    expect(routes()).toContain('10.200.7.0/24 via 10.99.0.17');

    // Nothing changed and the refused route is not due: no process at all.
    const r2 = await net.syncRoutes(desired);
    expect(r2).toEqual({ written: 0, deleted: 0, failed: [] });
    expect(net.ipRuns).toBe(1);

    // Its time has come: asked for again (and refused again), alone.
    now += 60_001;
    const r3 = await net.syncRoutes(desired);
    expect(net.ipRuns).toBe(2);
    expect(r3.failed.map((f) => f.cidr)).toEqual(['10.201.0.0/24']);

    // A new next hop is tried at once, and once accepted the failure is gone.
    desired.set('10.201.0.0/24', '10.99.0.99');
    const r4 = await net.syncRoutes(desired);
    expect(r4).toEqual({ written: 1, deleted: 0, failed: [] });
    expect(routes()).toContain('10.201.0.0/24 via 10.99.0.99');

    // Removals and a changed next hop, again in one process.
    const runs = net.ipRuns;
    for (let i = 10; i < 50; i++) desired.delete(`10.200.${i}.0/24`);
    desired.set('10.200.0.0/24', '10.99.0.200');
    const r5 = await net.syncRoutes(desired);
    expect(net.ipRuns).toBe(runs + 1);
    expect(r5).toEqual({ written: 1, deleted: 40, failed: [] });
    expect(routes()).toHaveLength(11);
    expect(routes()).toContain('10.200.0.0/24 via 10.99.0.200');
  });

  it('treats a route someone else already deleted as deleted', async () => {
    const net = new NodeNetwork({ netns: ns });
    await net.syncRoutes(new Map([['10.202.0.0/24', '10.99.0.2']]));
    ipIn('route', 'del', '10.202.0.0/24');
    const r = await net.syncRoutes(new Map());
    expect(r).toEqual({ written: 0, deleted: 1, failed: [] });
  });

  it('throws a clear error when ip cannot run the batch at all', async () => {
    const net = new NodeNetwork({ netns: `${ns}-missing` });
    await expect(net.syncRoutes(new Map([['10.203.0.0/24', '10.99.0.2']]))).rejects.toMatchObject({
      code: 'AGENT_ERR_ROUTES',
      message: expect.stringMatching(/ip -batch failed/),
    });
  });
});
