// L7Proxies as the agent runs them: the ipcache lookup that gives the proxy a peer's identity
// (longest prefix, as the datapath's LPM), switched off (the node routing removed, nothing
// listening), started in a network namespace this test creates (a request reaches the listener
// and its L7 events reach the subscribers), a port already taken (a problem naming the port, the
// agent not Ready), and a routing failure.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pino from 'pino';
import { IpcacheClaims } from '../../../../controllers/agent/ipcache.js';
import { L7Proxies, type L7ProxiesDeps } from '../../../../controllers/agent/l7/proxies.js';
import type { L7Event } from '../../../../proxy/l7-flow.js';

const log = pino({ level: 'silent' });

describe('IpcacheClaims.lookup (the identity the proxy gives a peer)', () => {
  it('finds the longest winning prefix, as the LPM map does', () => {
    const c = new IpcacheClaims();
    c.set('world-ish', 0, '', 16777217, ['0.0.0.0/0']);
    c.set('cidr', 0, '', 16777218, ['10.1.0.0/16']);
    c.set('ep', 3, '', 4242, ['10.1.2.3/32']);
    c.entries();
    expect(c.lookup('10.1.2.3')).toBe(4242);
    expect(c.lookup('10.1.9.9')).toBe(16777218);
    expect(c.lookup('192.0.2.1')).toBe(16777217);
    expect(c.lookup('not-an-ip')).toBeUndefined();
    c.delete('world-ish');
    c.entries();
    expect(c.lookup('192.0.2.1')).toBeUndefined();
  });

  it('answers what was drained (written), not a claim still pending', () => {
    const c = new IpcacheClaims();
    c.set('ep', 3, '', 7, ['10.0.0.1/32']);
    expect(c.lookup('10.0.0.1')).toBeUndefined();
    c.drain();
    expect(c.lookup('10.0.0.1')).toBe(7);
  });
});

describe('L7Proxies switched off', () => {
  it('removes the node routing and listens on nothing', async () => {
    const calls: string[] = [];
    const p = new L7Proxies(
      { endpointByIp: () => undefined, identityOf: () => 2, l7Rules: () => undefined, log },
      {
        enabled: false,
        manageRouting: true,
        routing: {
          ip: async (a) => (calls.push(a.join(' ')), a.includes('show') ? '[]' : ''),
          sysctl: async () => undefined,
        },
      },
    );
    await p.start();
    expect(calls).toEqual(['-j rule show', '-j route show table 2004']);
    expect(p.http).toBeUndefined();
    expect(p.problem()).toBeUndefined();
    await p.stop();
  });
});

describe('L7Proxies in a network namespace', () => {
  const ns = `kts-l7p-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const started: L7Proxies[] = [];
  // the loopback client is "endpoint 5": its ingress rules allow GET /public only
  const deps: L7ProxiesDeps = {
    endpointByIp: (ip) => (ip === '127.0.0.1' ? { id: 5, identity: 5005 } : undefined),
    identityOf: () => 2,
    l7Rules: (id, dir) =>
      id === 5 && dir === 'egress'
        ? { parser: 'http', allowAll: false, http: [{ method: 'GET', path: '/public' }], dns: [] }
        : undefined,
    log,
  };
  const make = () => {
    const p = new L7Proxies(deps, { netns: ns, manageRouting: true, procfs: '/proc', httpPort: 10001 });
    started.push(p);
    return p;
  };

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  });
  afterAll(async () => {
    for (const p of started) await p.stop();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('routes, listens, and hands the L7 events of a denied request to every subscriber', async () => {
    const p = make();
    const events: L7Event[] = [];
    p.onEvent((e) => events.push(e));
    const off = p.onEvent(() => {
      throw new Error('a broken subscriber does not stop the others');
    });
    await p.start();
    expect(p.problem()).toBeUndefined();
    expect(execFileSync('ip', ['-n', ns, 'rule', 'show', 'pref', '9'], { encoding: 'utf8' })).toMatch(
      /fwmark 0x200\/0xf00 lookup 2004/,
    );
    // a request to the listener itself: denied by the rules (GET /private), so nothing goes upstream
    const { stdout } = await promisify(execFile)('ip', [
      'netns',
      'exec',
      ns,
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      'http://127.0.0.1:10001/private',
    ]);
    expect(stdout).toBe('403');
    expect(events.map((e) => [e.kind, e.verdict, (e as { code?: number }).code])).toEqual([
      ['request', 'DROPPED', undefined],
      ['response', 'DROPPED', 403],
    ]);
    expect(p.http?.stats).toMatchObject({ requests: 1, denied: 1 });
    off();
  });

  it('a port already taken is a problem naming it (the agent is not Ready), not a crash', async () => {
    const second = make();
    await second.start();
    expect(second.problem()).toMatch(/^L7 proxy: the HTTP proxy could not listen on port 10001/);
    expect(second.http).toBeUndefined();
  });

  it('a routing failure is a problem too, and no listener is opened', async () => {
    const p = new L7Proxies(deps, {
      netns: ns,
      routing: {
        ip: async () => {
          throw Object.assign(new Error('exit 2'), { stderr: 'RTNETLINK answers: Operation not permitted' });
        },
      },
    });
    await p.start();
    expect(p.problem()).toMatch(
      /^L7 proxy: L7 proxy routing: ip .* failed: RTNETLINK answers: Operation not permitted$/,
    );
    expect(p.http).toBeUndefined();
  });
});
