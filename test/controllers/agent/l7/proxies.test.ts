// L7Proxies as the agent runs them: the ipcache lookup that gives the proxy a peer's identity
// (longest prefix, as the datapath's LPM), switched off (the node routing removed, nothing
// listening), started in a network namespace this test creates (a request reaches the listener
// and its L7 events reach the subscribers), a port already taken (a problem naming the port, the
// agent not Ready), the DNS proxy beside the HTTP one, and a routing failure.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { IpcacheClaims } from '../../../../controllers/agent/ipcache.js';
import {
  L7Proxies,
  reuseportAssign,
  type L7ProxiesDeps,
  type L7ProxiesOptions,
} from '../../../../controllers/agent/l7/proxies.js';
import type { L7Event } from '../../../../proxy/l7-flow.js';

const log = pino({ level: 'silent' });

// one query for other.example.test to the DNS proxy's port; prints "RCODE from ADDRESS:PORT"
const DNS_CLIENT = `const dp = require('dns-packet'); const transport = process.argv[1];
const q = dp.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'other.example.test' }] });
const done = (m, from) => { console.log(dp.decode(m).rcode + ' from ' + from); process.exit(0); };
setTimeout(() => { console.log('timeout'); process.exit(0); }, 5000);
if (transport === 'udp') { const s = require('dgram').createSocket('udp4');
  s.on('message', (m, r) => done(m, r.address + ':' + r.port)); s.send(q, 10012, '127.0.0.1'); }
else { const s = require('net').connect(10012, '127.0.0.1', () => { const h = Buffer.alloc(2); h.writeUInt16BE(q.length); s.write(Buffer.concat([h, q])); });
  s.on('data', (b) => done(b.subarray(2), s.remoteAddress + ':' + s.remotePort)); }`;

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
  /** curl's status code for a GET from inside the namespace. */
  const httpStatus = async (url: string): Promise<string> =>
    (await promisify(execFile)('ip', ['netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url]))
      .stdout;
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
    expect(await httpStatus('http://127.0.0.1:10001/private')).toBe('403');
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

  it('starts the DNS proxy beside the HTTP one: a query the rules deny is REFUSED over UDP and TCP', async () => {
    const dnsRules = { parser: 'dns' as const, allowAll: false, http: [], dns: [{ matchName: 'api.example.test' }] };
    const p = new L7Proxies(
      {
        ...deps,
        l7Rules: (id, dir, _peer, _proto, port) =>
          id === 5 && dir === 'egress' && (port === 53 || port === 10012) ? dnsRules : undefined,
        // as cilium_proxy4 would say for a UDP query to 127.0.0.1:53
        dns: {
          udpOriginal: (source) =>
            source.address === '127.0.0.1' ? { ...source, port: 53, identity: 5005 } : undefined,
        },
      },
      { netns: ns, manageRouting: false, httpPort: 10011, dnsPort: 10012 },
    );
    started.push(p);
    const events: L7Event[] = [];
    p.onEvent((e) => events.push(e));
    await p.start();
    expect(p.problem()).toBeUndefined();
    const ask = async (transport: string): Promise<string> =>
      (
        await promisify(execFile)('ip', ['netns', 'exec', ns, process.execPath, '-e', DNS_CLIENT, transport])
      ).stdout.trim();
    // UDP: the answer comes from where the query was going (127.0.0.1:53), not the proxy's port
    expect(await ask('udp')).toBe('REFUSED from 127.0.0.1:53');
    expect(await ask('tcp')).toBe('REFUSED from 127.0.0.1:10012');
    expect(p.dns?.stats.proxy).toMatchObject({ queries: 2, denied: 2 });
    expect(events.filter((e) => e.protocol === 'dns' && e.kind === 'request').map((e) => e.verdict)).toEqual([
      'DROPPED',
      'DROPPED',
    ]);
  });

  it('paired (external-l7-proxy): the agent serves the channel and listens beside the proxy process on the same ports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-l7pair-'));
    try {
      const ports = { httpPort: 10021, dnsPort: 10022 };
      const dns = { udpOriginal: () => undefined };
      // cilium-l7proxy's listeners (reuseport, as cmd/cilium-l7proxy.ts sets it on this kernel)
      // started (and stopped after the test) in the namespace on the two ports, without routing
      const member = async (o: Partial<L7ProxiesOptions>) => {
        const p = new L7Proxies({ ...deps, dns }, { netns: ns, manageRouting: false, ...ports, ...o });
        started.push(p);
        await p.start();
        expect(p.problem()).toBeUndefined();
        return p;
      };
      const externalSocket = join(dir, 'l7proxy.sock');
      // cilium-l7proxy's listeners (reuseport, as cmd/cilium-l7proxy.ts sets it on this kernel)
      const proxyProcess = await member({ reuseport: true });
      // the agent: the channel, and its own listeners in the same groups (reuseport by default here)
      const agent = await member({ externalSocket });
      expect([agent.channel, agent.http, agent.dns].every(Boolean)).toBe(true);
      // the agent's own proxy enforces its rules: a denied request is answered 403 by one of the two
      expect(await httpStatus('http://127.0.0.1:10021/private')).toBe('403');
      expect((agent.http?.stats?.denied ?? 0) + (proxyProcess.http?.stats?.denied ?? 0)).toBe(1);
      await agent.stop();
      await proxyProcess.stop();
      // a proxy process that did not join the group: the agent serves the channel alone, still Ready
      await member({ reuseport: false });
      const agent2 = await member({ externalSocket });
      expect([agent2.channel !== undefined, agent2.http, agent2.dns]).toEqual([true, undefined, undefined]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reuseportAssign: bpf_sk_assign takes a reuseport socket from Linux 6.5', () => {
    expect(['5.15.0-91-generic', '6.1.0', '6.4.16', 'x'].map((r) => reuseportAssign(r))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(['6.5.0', '6.18.44-fc-v1272', '7.0'].map((r) => reuseportAssign(r))).toEqual([true, true, true]);
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
