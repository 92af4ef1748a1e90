// The DNS proxy on loopback: real UDP and TCP sockets, a real DNS server behind it (dns-packet on
// 127.0.0.1), rules.dns enforced per endpoint and port, answers learned before they are released.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import dnsPacket from 'dns-packet';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { DnsProxy, type DnsLearned, type DnsProxyOptions } from '../../proxy/dns-proxy.js';
import { DnsRules } from '../../proxy/dns-rules.js';
import { FqdnCache } from '../../proxy/fqdn-cache.js';
import type { DnsL7Event } from '../../proxy/l7-flow.js';
import { layer7Of } from '../../hubble/l7-parser.js';

type Answer = dnsPacket.Answer;

/** The zone the test server serves; everything else is NXDOMAIN. */
const ZONE: Record<string, Answer[]> = {
  'api.example.test': [{ type: 'A', name: 'api.example.test', ttl: 30, data: '10.1.1.1' }],
  'other.example.test': [{ type: 'A', name: 'other.example.test', ttl: 30, data: '10.1.1.2' }],
  'alias.example.test': [
    { type: 'CNAME', name: 'alias.example.test', ttl: 20, data: 'edge.example.test' },
    { type: 'CNAME', name: 'edge.example.test', ttl: 60, data: 'api.example.test' },
    { type: 'A', name: 'api.example.test', ttl: 30, data: '10.1.1.1' },
    { type: 'AAAA', name: 'api.example.test', ttl: 30, data: 'fd00::1' },
    { type: 'A', name: 'unrelated.test', ttl: 30, data: '10.9.9.9' },
  ],
};

/** A DNS server on loopback (UDP and TCP), answering from ZONE; counts the queries it got. */
class TestServer {
  udp!: UdpSocket;
  tcp!: Server;
  port = 0;
  seen: string[] = [];
  silent = false;

  answer(msg: Buffer): Buffer {
    const q = dnsPacket.decode(msg);
    const name = q.questions![0]!.name.toLowerCase().replace(/\.$/, '');
    this.seen.push(name);
    const answers = ZONE[name];
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: (answers ? 0 : 3) | dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions,
      answers: answers ?? [],
    } as dnsPacket.Packet);
  }

  async start(): Promise<void> {
    this.udp = createSocket('udp4');
    await new Promise<void>((ok) => this.udp.bind(0, '127.0.0.1', () => ok()));
    this.port = this.udp.address().port;
    this.udp.on('message', (m, r) => {
      if (!this.silent) this.udp.send(this.answer(m), r.port, r.address);
    });
    this.tcp = createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const a = this.answer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
          const h = Buffer.alloc(2);
          h.writeUInt16BE(a.length);
          s.write(Buffer.concat([h, a]));
        }
      });
    });
    await new Promise<void>((ok) => this.tcp.listen(this.port, '127.0.0.1', () => ok()));
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => this.udp.close(() => ok()));
    await new Promise<void>((ok) => this.tcp.close(() => ok()));
  }
}

function query(name: string, id = 1234, type: dnsPacket.RecordType = 'A'): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
  } as dnsPacket.Packet);
}

async function askUdp(port: number, msg: Buffer, timeoutMs = 3000): Promise<dnsPacket.Packet & { rcode?: string }> {
  const sock = createSocket('udp4');
  try {
    return await new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new Error('no answer')), timeoutMs);
      sock.on('message', (m) => {
        clearTimeout(t);
        ok(dnsPacket.decode(m));
      });
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

async function askTcp(port: number, msgs: Buffer[]): Promise<dnsPacket.Packet[]> {
  const sock = connect(port, '127.0.0.1');
  const out: dnsPacket.Packet[] = [];
  let buf = Buffer.alloc(0);
  return new Promise((ok, fail) => {
    sock.on('error', fail);
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) {
        sock.destroy();
        ok(out);
      }
    });
    sock.write(
      Buffer.concat(
        msgs.flatMap((m) => {
          const h = Buffer.alloc(2);
          h.writeUInt16BE(m.length);
          return [h, m];
        }),
      ),
    );
  });
}

const server = new TestServer();
const started: DnsProxy[] = [];

async function proxyWith(extra: Partial<DnsProxyOptions> = {}) {
  const rules = new DnsRules();
  rules.set(42, server.port, [{ matchName: 'api.example.test' }, { matchPattern: 'alias.*.test' }]);
  const cache = new FqdnCache();
  const events: DnsL7Event[] = [];
  const proxy = new DnsProxy({
    rules,
    cache,
    endpointOf: (src) => (src.address === '127.0.0.1' ? { id: 42, identity: 1234 } : undefined),
    originalDestination: () => ({ address: '127.0.0.1', port: server.port }),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  const { port } = await proxy.start();
  started.push(proxy);
  return { proxy, port, rules, cache, events };
}

beforeAll(() => server.start());
afterAll(async () => {
  await Promise.all(started.map((p) => p.close()));
  await server.stop();
});

describe('DnsProxy', () => {
  it('forwards an allowed query over UDP, learns its IPs and reports request and response', async () => {
    const { port, cache, events } = await proxyWith();
    const answer = await askUdp(port, query('api.example.test'));
    expect(answer.rcode).toBe('NOERROR');
    expect(answer.id).toBe(1234);
    expect(answer.answers?.map((a) => (a as { data?: unknown }).data)).toEqual(['10.1.1.1']);
    expect(cache.ipsOf('api.example.test')).toEqual(['10.1.1.1']);
    expect(cache.namesOf('10.1.1.1')).toEqual(['api.example.test']);
    expect(events.map((e) => [e.kind, e.verdict])).toEqual([
      ['request', 'FORWARDED'],
      ['response', 'FORWARDED'],
    ]);
    const l7 = layer7Of(events[1]!);
    expect(l7).toMatchObject({
      type: 'RESPONSE',
      dns: { query: 'api.example.test.', ips: ['10.1.1.1'], ttl: 30, rcode: 0, qtypes: ['A'], rrtypes: ['A'] },
    });
    expect(l7.latency_ns).toBeGreaterThan(0);
  });

  it('refuses a query rules.dns does not allow with REFUSED, without asking the server', async () => {
    const { port, events, cache } = await proxyWith();
    const before = server.seen.length;
    const answer = await askUdp(port, query('other.example.test', 7));
    expect(answer.rcode).toBe('REFUSED');
    expect(answer.id).toBe(7);
    expect(answer.questions?.[0]?.name).toBe('other.example.test');
    expect(server.seen.length).toBe(before);
    expect(cache.ipsOf('other.example.test')).toEqual([]);
    expect(events.map((e) => [e.kind, e.verdict, e.rcode])).toEqual([
      ['request', 'DROPPED', undefined],
      ['response', 'DROPPED', 5],
    ]);
  });

  it('answers NXDOMAIN for refused queries with tofqdns-dns-reject-response-code nameError', async () => {
    const { port } = await proxyWith({ rejectResponseCode: 'nameError' });
    expect((await askUdp(port, query('other.example.test'))).rcode).toBe('NXDOMAIN');
  });

  it('refuses queries on a port, or from an endpoint, it holds no rules for', async () => {
    const { port, rules } = await proxyWith();
    rules.delete(42);
    expect((await askUdp(port, query('api.example.test'))).rcode).toBe('REFUSED');
  });

  it('an empty rules.dns list on a port allows every name', async () => {
    const { port, rules } = await proxyWith();
    rules.set(42, server.port, []);
    expect((await askUdp(port, query('other.example.test'))).rcode).toBe('NOERROR');
  });

  it('follows the CNAME chain: IPs go to the query name and every name on the chain, least TTL', async () => {
    const { port, cache, events } = await proxyWith();
    const answer = await askUdp(port, query('alias.example.test'));
    expect(answer.rcode).toBe('NOERROR');
    expect(cache.ipsOf('alias.example.test')).toEqual(['10.1.1.1', 'fd00::1']);
    expect(cache.ipsOf('edge.example.test')).toEqual(['10.1.1.1', 'fd00::1']);
    expect(cache.ipsOf('unrelated.test')).toEqual([]);
    const response = events.find((e) => e.kind === 'response')!;
    expect(response).toMatchObject({ ttl: 20, cnames: ['edge.example.test.', 'api.example.test.'] });
  });

  it('serves TCP (RFC 7766): several length-prefixed queries on one connection', async () => {
    const { port } = await proxyWith();
    const answers = await askTcp(port, [query('api.example.test', 1), query('other.example.test', 2)]);
    const byId = new Map(answers.map((a) => [a.id, a as dnsPacket.Packet & { rcode?: string }]));
    expect(byId.get(1)?.rcode).toBe('NOERROR');
    expect((byId.get(1)?.answers?.[0] as { data?: unknown } | undefined)?.data).toBe('10.1.1.1');
    expect(byId.get(2)?.rcode).toBe('REFUSED');
  });

  it('releases the answer only after beforeRelease finished (the first SYN is then allowed)', async () => {
    let programmed = false;
    const seen: DnsLearned[] = [];
    const { port } = await proxyWith({
      beforeRelease: async (l) => {
        seen.push(l);
        await new Promise((r) => setTimeout(r, 60));
        programmed = true;
      },
    });
    const answer = await askUdp(port, query('api.example.test'));
    expect(programmed).toBe(true);
    expect(answer.rcode).toBe('NOERROR');
    expect(seen).toEqual([
      { endpoint: { id: 42, identity: 1234 }, name: 'api.example.test.', ips: ['10.1.1.1'], ttl: 30, cnames: [] },
    ]);
  });

  it('closes cleanly while an answer is still being prepared (a restart under load)', async () => {
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const { proxy, port } = await proxyWith({ beforeRelease: () => new Promise((r) => setTimeout(r, 80)) });
      void askUdp(port, query('api.example.test'), 300).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 30));
      await proxy.close();
      await new Promise((r) => setTimeout(r, 150));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('does not hold an answer past responseMaxDelayMs when beforeRelease hangs or fails', async () => {
    const { port } = await proxyWith({ beforeRelease: () => new Promise(() => {}), responseMaxDelayMs: 50 });
    const t0 = Date.now();
    expect((await askUdp(port, query('api.example.test'))).rcode).toBe('NOERROR');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    const failing = await proxyWith({ beforeRelease: () => Promise.reject(new Error('boom')) });
    expect((await askUdp(failing.port, query('api.example.test'))).rcode).toBe('NOERROR');
  });

  it('answers SERVFAIL when the server does not answer, and for an unknown source endpoint', async () => {
    const { port, proxy } = await proxyWith({ upstreamTimeoutMs: 100 });
    server.silent = true;
    try {
      expect((await askUdp(port, query('api.example.test'))).rcode).toBe('SERVFAIL');
    } finally {
      server.silent = false;
    }
    expect(proxy.stats.errors).toBe(1);
    const lost = await proxyWith({ endpointOf: () => undefined });
    expect((await askUdp(lost.port, query('api.example.test'))).rcode).toBe('SERVFAIL');
  });

  it('bounds in-flight queries (SERVFAIL past the limit) and drops oversized or malformed ones', async () => {
    const { port, proxy } = await proxyWith({ maxInFlight: 1, upstreamTimeoutMs: 300, maxQueryBytes: 100 });
    server.silent = true;
    try {
      const first = askUdp(port, query('api.example.test', 1));
      await new Promise((r) => setTimeout(r, 30));
      expect((await askUdp(port, query('api.example.test', 2))).rcode).toBe('SERVFAIL');
      expect(proxy.stats.overloaded).toBe(1);
      await first;
    } finally {
      server.silent = false;
    }
    const long = query(`${'a'.repeat(60)}.${'b'.repeat(60)}.test`);
    await expect(askUdp(port, long, 300)).rejects.toThrow('no answer');
    await expect(askUdp(port, Buffer.from('garbage'), 300)).rejects.toThrow('no answer');
    expect(proxy.stats.malformed).toBe(2);
  }, 15_000);
});
