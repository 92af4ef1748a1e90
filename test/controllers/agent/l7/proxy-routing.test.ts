// ProxyRouting: the commands it issues (a recorder in place of `ip` and the sysctl writer), then the
// same calls against the kernel in a network namespace this test creates: the rule and the local
// route appear once however often setup runs, the sysctls are set, remove() takes both away.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PROXY_ROUTING, ProxyRouting } from '../../../../controllers/agent/l7/proxy-routing.js';

const RULE = { priority: 9, src: 'all', fwmark: '0x200', fwmask: '0xf00', table: '2004' };

/** A fake `ip` answering `-j rule show` with `rules`; every call recorded. */
function recorder(rules: object[] = [], routes: object[] = []) {
  const calls: string[] = [];
  const sysctls: string[] = [];
  const routing = new ProxyRouting({
    procfs: '/nonexistent',
    ip: async (args) => {
      calls.push(args.join(' '));
      if (args.includes('rule') && args.includes('show')) return JSON.stringify(rules);
      if (args.includes('route') && args.includes('show')) return JSON.stringify(routes);
      return '';
    },
    sysctl: async (k, v) => void sysctls.push(`${k}=${v}`),
  });
  return { routing, calls, sysctls };
}

describe('ProxyRouting commands', () => {
  it("installs upstream's fwmark rule, the local route of table 2004 and the two sysctls", async () => {
    const { routing, calls, sysctls } = recorder([{ priority: 0, src: 'all', table: 'local' }]);
    await routing.setup();
    expect(calls).toEqual([
      '-j rule show',
      'rule add fwmark 0x200/0xf00 lookup 2004 pref 9',
      'route replace local 0.0.0.0/0 dev lo table 2004',
    ]);
    expect(sysctls).toEqual(['net.ipv4.tcp_early_demux=0', 'net.ipv4.conf.all.rp_filter=0']);
  });

  it('adds no second rule when it is there (a restart), and tells a foreign rule at pref 9 apart', async () => {
    const there = recorder([RULE]);
    await there.routing.setup();
    expect(there.calls).toEqual(['-j rule show', 'route replace local 0.0.0.0/0 dev lo table 2004']);
    const foreign = recorder([{ ...RULE, table: '100' }]);
    await foreign.routing.setup();
    expect(foreign.calls).toContain('rule add fwmark 0x200/0xf00 lookup 2004 pref 9');
  });

  it('runs in the named namespace with -n', async () => {
    const calls: string[] = [];
    const r = new ProxyRouting({
      netns: 'kts-x',
      procfs: '/proc',
      ip: async (a) => (calls.push(a.join(' ')), '[]'),
      sysctl: async () => undefined,
    });
    await r.setup();
    expect(calls.every((c) => c.startsWith('-n kts-x '))).toBe(true);
  });

  it('remove() deletes only what is there', async () => {
    const both = recorder([RULE], [{ type: 'local', dst: 'default', dev: 'lo' }]);
    await both.routing.remove();
    expect(both.calls).toEqual([
      '-j rule show',
      'rule del fwmark 0x200/0xf00 lookup 2004 pref 9',
      '-j route show table 2004',
      'route del local 0.0.0.0/0 dev lo table 2004',
    ]);
    const none = recorder();
    await none.routing.remove();
    expect(none.calls).toEqual(['-j rule show', '-j route show table 2004']);
  });

  it('a failing ip is an AGENT_ERR_L7_PROXY naming the command and what ip said', async () => {
    const r = new ProxyRouting({
      procfs: '/proc',
      ip: async () => {
        throw Object.assign(new Error('Command failed'), { stderr: 'RTNETLINK answers: Operation not permitted\n' });
      },
    });
    await expect(r.setup()).rejects.toMatchObject({
      code: 'AGENT_ERR_L7_PROXY',
      message: 'L7 proxy routing: ip -j rule show failed: RTNETLINK answers: Operation not permitted',
    });
  });
});

describe('ProxyRouting in a network namespace', () => {
  const ns = `kts-pr-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const ipIn = (...args: string[]) => execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  const sysctl = (key: string) =>
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-n', key], { encoding: 'utf8' }).trim();
  const ours = () =>
    (JSON.parse(ipIn('-j', 'rule', 'show')) as { priority: number }[]).filter((r) => r.priority === PROXY_ROUTING.pref);

  beforeAll(() => void execFileSync('ip', ['netns', 'add', ns]));
  afterAll(() => void execFileSync('ip', ['netns', 'del', ns]));

  it('setup twice: one rule, the local route, the sysctls; remove() takes rule and route away', async () => {
    const routing = new ProxyRouting({ netns: ns, procfs: '/proc' });
    await routing.setup();
    await routing.setup();
    expect(ours()).toEqual([RULE]);
    expect(JSON.parse(ipIn('-j', 'route', 'show', 'table', '2004'))).toEqual([
      expect.objectContaining({ type: 'local', dst: 'default', dev: 'lo' }),
    ]);
    expect(sysctl('net.ipv4.tcp_early_demux')).toBe('0');
    expect(sysctl('net.ipv4.conf.all.rp_filter')).toBe('0');
    await routing.remove();
    await routing.remove();
    expect(ours()).toEqual([]);
    expect(JSON.parse(ipIn('-j', 'route', 'show', 'table', '2004') || '[]')).toEqual([]);
  });
});
