// The channel between the agent and its L7 proxy process over a real unix socket: the proxy gets
// the agent's state and answers lookups from it, keeps it while the agent is away, releases DNS
// answers only after the agent learned them (at once when there is no agent, queueing the learn
// for the next one), and the agent gets the proxy's L7 events. The agent "restarts" by closing
// its channel and opening a new one on the same path.
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { testing } from '../../../../controllers/framework/index.js';
import { AgentLink } from '../../../../controllers/agent/l7/agent-link.js';
import type { L7State } from '../../../../controllers/agent/l7/l7-channel.js';
import { l7State, ProxyChannel, type L7Snapshot } from '../../../../controllers/agent/l7/proxy-channel.js';
import type { DnsLearned } from '../../../../proxy/dns-proxy.js';
import type { L7Event } from '../../../../proxy/l7-flow.js';
import { cnp, Fixture, P } from '../../../policy/fixture.js';
import { app, tcp } from '../../../policy/table.js';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'kts-l7chan-'));
const socketPath = join(dir, 'l7proxy.sock');
const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An engine where prod/api allows prod/web only GET /public on TCP 80. */
function engine(): { f: Fixture; api: number; web: number } {
  const f = new Fixture([
    cnp('prod', 'api-l7', {
      endpointSelector: app('api'),
      ingress: [
        {
          fromEndpoints: [app('web')],
          toPorts: [{ ports: [tcp(80)], rules: { http: [{ method: 'GET', path: '/public' }] } }],
        },
      ],
    }),
  ]);
  return { f, api: f.endpointOf('prod/api')!, web: f.identityOf('prod/web') };
}

/** A whole state as the channel reads it: the ipcache's revision moves when its array is another one. */
function snapshots(state: () => L7State): () => L7Snapshot {
  let revision = 0;
  let last: L7State['ipcache'] | undefined;
  return () => {
    const s = state();
    if (s.ipcache !== last) {
      last = s.ipcache;
      revision++;
    }
    return { endpoints: s.endpoints, l7: s.l7, ipcache: { revision, entries: () => s.ipcache } };
  };
}

function agent(
  state: () => L7State | L7Snapshot,
  learned: DnsLearned[],
  events: L7Event[],
  learnDelayMs = 0,
): ProxyChannel {
  const read = state();
  const ch = new ProxyChannel(
    {
      log,
      state: Array.isArray(read.ipcache) ? snapshots(state as () => L7State) : (state as () => L7Snapshot),
      learn: async (l) => {
        await new Promise((r) => setTimeout(r, learnDelayMs));
        learned.push(l);
      },
      onEvent: (e) => events.push(e),
    },
    { socketPath, checkIntervalMs: 20 },
  );
  closers.push(() => ch.close());
  return ch;
}

function proxy(stateFile: string | null = null): AgentLink {
  const link = new AgentLink(log, { socketPath, reconnectMs: 20, stateFile });
  closers.push(() => link.close());
  link.start();
  return link;
}

const LEARNED: DnsLearned = {
  endpoint: { id: 7, identity: 1234 },
  name: 'api.example.test.',
  ips: ['192.0.2.10'],
  ttl: 30,
  cnames: [],
};

describe('the L7 proxy channel (agent ⇄ cilium-l7proxy)', () => {
  it('the proxy answers l7Rules, endpoints and identities from the agent state, as the engine does', async () => {
    const { f, api, web } = engine();
    let state: L7State = {
      endpoints: [['10.0.1.5', api, 5000]],
      ipcache: [
        ['10.0.0.0/8', 9000],
        ['10.0.2.7/32', web],
      ],
      l7: [[api, f.engine.l7Table(api)!]],
    };
    const ch = agent(() => state, [], []);
    await ch.listen();
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
    const link = proxy();
    await link.ready;
    expect(link.endpointByIp('10.0.1.5')).toEqual({ id: api, identity: 5000 });
    expect(link.identityOf('10.0.2.7')).toBe(web);
    expect(link.identityOf('10.9.9.9')).toBe(9000);
    expect(link.identityOf('192.0.2.1')).toBe(2); // world
    const want = f.engine.l7Rules(api, 'ingress', web, P.TCP, 80);
    expect(want?.parser).toBe('http');
    expect(link.l7Rules(api, 'ingress', web, P.TCP, 80)).toEqual(JSON.parse(JSON.stringify(want)));
    expect(link.l7Rules(api, 'ingress', web, P.TCP, 81)).toBeUndefined();

    // a policy change reaches the proxy with the next check
    f.engine.apply([{ type: 'policy-removed', key: 'CiliumNetworkPolicy/prod/api-l7' }]);
    state = { ...state, l7: [] };
    await testing.waitFor(() => link.l7Rules(api, 'ingress', web, P.TCP, 80) === undefined || undefined, {
      what: 'the removed policy to reach the proxy',
      timeoutMs: 5000,
    });
  });

  it('while the agent is away the proxy keeps its rules, releases answers at once and queues the learns for the next agent', async () => {
    const { f, api, web } = engine();
    const state = (): L7State => ({ endpoints: [], ipcache: [], l7: [[api, f.engine.l7Table(api)!]] });
    const learned1: DnsLearned[] = [];
    const first = agent(state, learned1, [], 50);
    await first.listen();
    const link = proxy();
    await link.ready;
    await testing.waitFor(() => link.connected || undefined, { what: 'the proxy to connect', timeoutMs: 5000 });

    // connected: the answer waits for the agent to learn it
    const t0 = Date.now();
    await link.beforeRelease(LEARNED);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    expect(learned1).toHaveLength(1);

    // the agent goes away
    await first.close();
    await testing.waitFor(() => !link.connected || undefined, {
      what: 'the proxy to see the agent gone',
      timeoutMs: 5000,
    });
    expect(link.l7Rules(api, 'ingress', web, P.TCP, 80)?.parser).toBe('http');
    const t1 = Date.now();
    await link.beforeRelease({ ...LEARNED, name: 'other.example.test.' });
    expect(Date.now() - t1).toBeLessThan(40);
    expect(link.stats.learnsQueued).toBe(1);

    // the next agent gets the queued learn as soon as the proxy connects
    const learned2: DnsLearned[] = [];
    const events: L7Event[] = [];
    const second = agent(state, learned2, events);
    await second.listen();
    await testing.waitFor(() => learned2.length === 1 || undefined, { what: 'the queued learn', timeoutMs: 5000 });
    expect(learned2[0]!.name).toBe('other.example.test.');
    expect(second.stats.connections).toBe(1);
  });

  it('L7 events go to the agent; with no agent they are dropped and counted', async () => {
    const events: L7Event[] = [];
    const ch = agent(() => ({ endpoints: [], ipcache: [], l7: [] }), [], events);
    await ch.listen();
    const link = proxy();
    await link.ready;
    await testing.waitFor(() => link.connected || undefined, { what: 'the proxy to connect', timeoutMs: 5000 });
    const e = { type: 'dns', time: 1 } as unknown as L7Event;
    link.onL7Event(e);
    await testing.waitFor(() => events.length === 1 || undefined, { what: 'the event', timeoutMs: 5000 });
    expect(events[0]).toEqual(e);
    await ch.close();
    await testing.waitFor(() => !link.connected || undefined, { what: 'the agent gone', timeoutMs: 5000 });
    link.onL7Event(e);
    expect(link.stats.eventsDropped).toBe(1);
  });

  it('a proxy that sends garbage is cut off; the agent keeps listening for the next one', async () => {
    const ch = agent(() => ({ endpoints: [], ipcache: [], l7: [] }), [], []);
    await ch.listen();
    const { createConnection } = await import('node:net');
    const bad = createConnection(socketPath);
    closers.push(() => bad.destroy());
    await new Promise((r) => bad.once('connect', r));
    bad.resume(); // the state the agent sends first is read and ignored
    bad.write('not json\n');
    await new Promise((r) => bad.once('close', r));
    const link = proxy();
    await link.ready;
    expect(link.connected).toBe(true);
  });

  it('a proxy restarted while the agent is away serves the state the last agent sent (the saved file)', async () => {
    const { f, api, web } = engine();
    const stateFile = join(dir, 'l7proxy-state.json');
    const ch = agent(
      () => ({ endpoints: [['10.0.1.5', api, 5000]], ipcache: [], l7: [[api, f.engine.l7Table(api)!]] }),
      [],
      [],
    );
    await ch.listen();
    const first = proxy(stateFile);
    await first.ready;
    expect(first.stats.restored).toBe(0);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    // the agent goes away, then the proxy restarts
    await ch.close();
    first.close();
    const second = proxy(stateFile);
    expect(second.stats.restored).toBe(1);
    expect(second.connected).toBe(false);
    expect(second.endpointByIp('10.0.1.5')).toEqual({ id: api, identity: 5000 });
    expect(second.l7Rules(api, 'ingress', web, P.TCP, 80)?.parser).toBe('http');
    second.close();

    // an unreadable file is no state at all (fail closed), and no crash
    writeFileSync(stateFile, '{"endpoints": [');
    const third = proxy(stateFile);
    expect(third.stats.restored).toBe(0);
    expect(third.l7Rules(api, 'ingress', web, P.TCP, 80)).toBeUndefined();
    third.close();
    rmSync(stateFile);
    expect(existsSync(stateFile)).toBe(false);
    expect(proxy(stateFile).stats.restored).toBe(0);
  });

  it('the ipcache goes to the proxy only while some endpoint has an L7 table (nothing is redirected otherwise)', () => {
    const { f, api } = engine();
    const ipcache = {
      reads: 0,
      revision: 3,
      written() {
        this.reads++;
        return [
          { prefix: '10.0.1.5/32', identity: 5000 },
          { prefix: '10.9.0.7/32', identity: 6000 },
        ];
      },
    };
    const withL7 = l7State({ list: () => [{ id: api, ipv4: '10.0.1.5', identity: 5000 }] }, ipcache, f.engine);
    expect(withL7.l7.map(([id]) => id)).toEqual([api]);
    expect(withL7.ipcache?.revision).toBe(3);
    expect(withL7.ipcache?.entries()).toEqual([
      ['10.0.1.5/32', 5000],
      ['10.9.0.7/32', 6000],
    ]);
    const noL7 = l7State({ list: () => [{ id: 999, ipv4: '10.0.1.9', identity: 7000 }] }, ipcache, f.engine);
    expect(noL7).toEqual({ endpoints: [['10.0.1.9', 999, 7000]], l7: [] });
    expect(ipcache.reads).toBe(1);
  });

  it('a large ipcache is listed and sent when its revision moves, not on every check', async () => {
    const { f, api } = engine();
    const big = (last: number): L7State['ipcache'] =>
      Array.from({ length: 50_000 }, (_, i): [string, number] => [
        `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`,
        i === 49_999 ? last : 7000,
      ]);
    let revision = 1;
    let lists = 0;
    const ch = agent(
      (): L7Snapshot => ({
        endpoints: [['10.0.1.5', api, 5000]],
        l7: [[api, f.engine.l7Table(api)!]],
        ipcache: { revision, entries: () => (lists++, big(revision === 1 ? 7001 : 7002)) },
      }),
      [],
      [],
    );
    await ch.listen();
    const link = proxy();
    await link.ready;
    expect(link.identityOf('10.0.195.79')).toBe(7001);
    // many checks (every 20 ms here), nothing changed: listed once, sent once
    await new Promise((r) => setTimeout(r, 300));
    expect({ lists, sent: ch.stats.statesSent }).toEqual({ lists: 1, sent: 1 });
    revision = 2;
    await testing.waitFor(() => link.identityOf('10.0.195.79') === 7002 || undefined, {
      what: 'the changed ipcache to reach the proxy',
      timeoutMs: 5000,
    });
    expect({ lists, sent: ch.stats.statesSent }).toEqual({ lists: 2, sent: 2 });
  });
});
