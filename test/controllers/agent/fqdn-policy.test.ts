// The agent's FQDN policy over the real policy hub and ipcache assembler, on both datapaths (the
// kernel's maps through the addon, and the sim): a learned name's IP has its CIDR identity in the
// ipcache and the endpoint's first SYN to it is allowed by a toFQDNs policy by the time `learn`
// resolves (what the DNS proxy awaits before releasing the answer); entries expire at their TTL,
// never before tofqdns-min-ttl; a restarted agent restores the cache before its first maps.
import { afterEach, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { binaryEntry } from '../../../cdk8s/process-launch.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { IpcacheAssembler } from '../../../controllers/agent/ipcache.js';
import { FqdnPolicy } from '../../../controllers/agent/l7/fqdn-policy.js';
import type { FqdnPolicyOptions } from '../../../controllers/agent/l7/fqdn-options.js';
import { agentMetrics } from '../../../controllers/agent/metrics.js';
import { PolicyHub } from '../../../controllers/agent/policy-hub.js';
import { Store } from '../../../controllers/framework/index.js';
import type { Datapath } from '../../../datapath/datapath.js';
import { KernelDatapath } from '../../../datapath/kernel.js';
import { buildFrame } from '../../../datapath/packet.js';
import { SimDatapath } from '../../../datapath/sim.js';
import { CIDR_IDENTITY_FIRST, LabelSet, translatePolicy } from '../../../policy/index.js';
import type { DnsLearned } from '../../../proxy/dns-proxy.js';
import { pinRoot, removePins, testConfig } from '../../datapath/harness.js';
import { startRealApi } from './api-harness.js';

const WEB = { id: 7, ip: '10.0.0.7', identity: 1001 };
const API_IP = '192.0.2.10';
const NEW_API_IP = '192.0.2.11';
const OTHER_IP = '192.0.2.20';
const silent = pino({ level: 'silent' });

const toApi = translatePolicy({
  kind: 'CiliumNetworkPolicy',
  object: {
    metadata: { name: 'to-api', namespace: 'demo' },
    spec: {
      endpointSelector: { matchLabels: { app: 'web' } },
      egress: [
        { toFQDNs: [{ matchName: 'api.example.test' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] },
      ],
    },
  },
});

const answer = (name: string, ips: string[], ttl: number, cnames: string[] = []): DnsLearned => ({
  endpoint: { id: WEB.id, identity: WEB.identity },
  name,
  ips,
  ttl,
  cnames,
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

type Backend = 'sim' | 'kernel';
let nextPort = 40000;

/** One agent's worth of the parts FqdnPolicy drives, over a datapath (a restart: a new Node on the same pins). */
class Node {
  readonly hub: PolicyHub;
  readonly ipcache: IpcacheAssembler;
  readonly fqdn: FqdnPolicy;

  constructor(
    readonly dp: Datapath,
    readonly clock: { now: number },
    options: Partial<FqdnPolicyOptions>,
    endpointIds: number[] = [WEB.id],
  ) {
    const endpoints = [{ id: WEB.id, ipv4: WEB.ip, identity: WEB.identity, state: 'ready' }];
    this.hub = new PolicyHub(dp, {
      enforcement: 'default',
      clusterName: 'default',
      log: silent,
      onCidrIdentities: () => this.ipcache.cidrsChanged(),
    });
    this.ipcache = new IpcacheAssembler({
      nodeName: 'node-1',
      datapath: dp,
      hub: this.hub,
      nodes: new Store(),
      ceps: new Store(),
      endpoints: {
        list: () => endpoints,
        datapathEndpoints: () => [{ id: WEB.id, ips: [WEB.ip], ifindex: 1, identity: WEB.identity }],
      } as never,
      ipam: { ready: false } as never,
      nodeIp: () => undefined,
      metrics: agentMetrics(new Registry(), () => []),
      log: silent,
    });
    this.fqdn = new FqdnPolicy(
      {
        applyPolicy: (events) => this.hub.apply(events),
        syncIpcache: () => void (this.hub.gateOpen && this.ipcache.sync()),
        endpointIds: () => endpointIds,
        log: silent,
        now: () => clock.now,
      },
      { saveDelayMs: 10, ...options },
    );
    this.hub.apply([
      {
        type: 'identity-upserted',
        id: WEB.identity,
        labels: LabelSet.fromRecord({ 'k8s:app': 'web', 'k8s:io.kubernetes.pod.namespace': 'demo' }),
      },
      { type: 'endpoint-upserted', endpoint: { id: WEB.id, identity: WEB.identity } },
      { type: 'policy-upserted', policy: toApi },
    ]);
    cleanups.push(() => {
      this.fqdn.stop();
      this.ipcache.stop();
    });
  }

  /** The agent's start order: the FQDN cache restored, then the gate opened, then the ipcache synced. */
  start(restore = true): number {
    const restored = restore ? this.fqdn.restore() : 0;
    this.hub.openGate([WEB.id]);
    this.ipcache.sync();
    return restored;
  }

  /** A new connection's SYN from the web pod through its egress hook (a fresh source port: no conntrack entry): allowed? */
  syn(dst: string, dport = 443): boolean {
    const frame = buildFrame({ src: WEB.ip, dst, proto: 'tcp', sport: nextPort++, dport, tcpFlags: 0x02 });
    return this.dp.process(frame, 'from-container').allowed;
  }

  /** The ipcache map's identity for an address's /32, undefined without an entry. */
  ipcacheIdentity(ip: string): number | undefined {
    return this.dp.dumpIpcache().find((e) => e.prefix === `${ip}/32`)?.identity;
  }
}

function datapath(backend: Backend, pins?: string): Datapath {
  if (backend === 'sim') return new SimDatapath({ config: testConfig });
  const dp = new KernelDatapath({ pinRoot: pins!, config: testConfig, readEvents: false });
  cleanups.push(() => dp.close());
  return dp;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kts-fqdn-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function pins(): string {
  const p = pinRoot();
  cleanups.push(() => removePins(p));
  return p;
}

describe.each<Backend>(['sim', 'kernel'])('FqdnPolicy on the %s datapath', (backend) => {
  const node = (options: Partial<FqdnPolicyOptions> = {}, clock = { now: 1_000_000 }, p = pins()) =>
    new Node(datapath(backend, p), clock, options);

  it('a learned name: its CIDR identity is in the ipcache and the first SYN is allowed when learn resolves', async () => {
    const n = node();
    n.start();
    expect(n.syn(API_IP)).toBe(false);
    await n.fqdn.learn(answer('api.example.test.', [API_IP], 30));
    const id = n.ipcacheIdentity(API_IP);
    expect(id).toBeGreaterThanOrEqual(CIDR_IDENTITY_FIRST);
    expect(n.hub.entries(WEB.id)).toContainEqual(
      expect.objectContaining({ identity: id, direction: 'egress', protocol: 6, verdict: 'allow' }),
    );
    expect(n.syn(API_IP)).toBe(true);
    // the policy's port only; names the policy does not select get nothing
    expect(n.syn(API_IP, 80)).toBe(false);
    await n.fqdn.learn(answer('other.example.test.', [OTHER_IP], 30));
    expect(n.ipcacheIdentity(OTHER_IP)).toBeUndefined();
    expect(n.syn(OTHER_IP)).toBe(false);
  });

  it('a record changed to a new IP is allowed on the first SYN after the lookup; a CNAME chain selects by the alias', async () => {
    const n = node();
    n.start();
    await n.fqdn.learn(answer('api.example.test.', [API_IP], 30));
    await n.fqdn.learn(answer('api.example.test.', [NEW_API_IP], 30));
    expect(n.syn(NEW_API_IP)).toBe(true);
    expect(n.syn(API_IP)).toBe(true); // until its own TTL
    await n.fqdn.learn(answer('www.example.test.', [OTHER_IP], 30, ['api.example.test.']));
    expect(n.syn(OTHER_IP)).toBe(true);
  });

  it('expiry: at the TTL when it is above tofqdns-min-ttl, never before tofqdns-min-ttl; the identity goes', async () => {
    const clock = { now: 1_000_000 };
    const n = node({ minTtlSeconds: 60 }, clock);
    n.start();
    await n.fqdn.learn(answer('api.example.test.', [API_IP], 5));
    await n.fqdn.learn(answer('api.example.test.', [NEW_API_IP], 120));
    clock.now += 30_000; // past the answer's 5 s, within the minimum
    n.fqdn.gc();
    expect(n.syn(API_IP)).toBe(true);
    clock.now += 31_000; // 61 s: the minimum passed
    n.fqdn.gc();
    expect(n.syn(API_IP)).toBe(false);
    expect(n.ipcacheIdentity(API_IP)).toBeUndefined();
    expect(n.syn(NEW_API_IP)).toBe(true);
    clock.now += 60_000; // 121 s: the longer TTL passed
    n.fqdn.gc();
    expect(n.syn(NEW_API_IP)).toBe(false);
    expect(n.hub.cidrIdentities.size).toBe(0);
    expect(n.hub.entries(WEB.id).filter((e) => e.direction === 'egress' && e.identity !== 0)).toEqual([]);
  });

  it('what a deleted endpoint learned is forgotten at the next expiry run', async () => {
    const clock = { now: 1_000_000 };
    const live = [WEB.id];
    const n = new Node(datapath(backend, pins()), clock, {}, live);
    n.start();
    await n.fqdn.learn(answer('api.example.test.', [API_IP], 3600));
    live.length = 0;
    n.fqdn.gc();
    expect(n.fqdn.lookups()).toEqual([]);
    expect(n.ipcacheIdentity(API_IP)).toBeUndefined();
  });

  it('restart: the cache file is restored before the first maps, so the learned IP stays allowed', async () => {
    const dir = tempDir();
    const cacheFile = join(dir, 'fqdn-cache.json');
    const clock = { now: 1_000_000 };
    const p = pins();
    const first = node({ cacheFile }, clock, p);
    first.start();
    await first.fqdn.learn(answer('api.example.test.', [API_IP], 300));
    first.fqdn.stop(); // the agent stops: the cache is written
    first.ipcache.stop();

    clock.now += 10_000;
    // the same pins (a real restart) for the kernel, a fresh map for the sim
    const again = node({ cacheFile }, clock, p);
    expect(again.start()).toBe(1);
    expect(again.syn(API_IP)).toBe(true);
    expect(again.ipcacheIdentity(API_IP)).toBeGreaterThanOrEqual(CIDR_IDENTITY_FIRST);
    expect(again.fqdn.lookups()).toEqual([
      expect.objectContaining({ 'endpoint-id': WEB.id, fqdn: 'api.example.test.', ips: [API_IP], source: 'restored' }),
    ]);

    // without the restore, the first full ipcache sync drops the learned IP: the restore is what keeps it
    const blank = node({ cacheFile }, clock, p);
    blank.start(false);
    expect(blank.syn(API_IP)).toBe(false);

    // entries past their expiry by the time of the restart are not restored
    clock.now += 300_000;
    expect(node({ cacheFile }, clock, p).start()).toBe(0);
  });
});

describe('cilium-dbg fqdn cache list (GET /v1/fqdn/cache on the agent socket)', () => {
  it("prints upstream's columns, one row per endpoint and name; -p filters; -o json is the models; a bad pattern fails", async () => {
    const n = new Node(new SimDatapath(), { now: Date.UTC(2026, 11, 4, 12) }, {});
    n.start();
    await n.fqdn.learn(answer('api.example.test.', [NEW_API_IP, API_IP], 30));
    await n.fqdn.learn(answer('other.test.', [OTHER_IP], 3600));
    const api = await startRealApi('10.81.0.0/29', {}, { fqdnCache: (f) => n.fqdn.lookups(f) });
    cleanups.push(() => void api.close());
    const dbg = (...args: string[]) =>
      promisify(execFile)(process.execPath, [binaryEntry('cilium-dbg'), '--socket', api.socketPath, ...args], {
        encoding: 'utf8',
      });
    const { stdout } = await dbg('fqdn', 'cache', 'list');
    expect(stdout.split('\n')).toEqual([
      'Endpoint  Source  FQDN               TTL   ExpirationTime            IPs',
      '7         lookup  api.example.test.  30    2026-12-04T12:00:30.000Z  192.0.2.10,192.0.2.11',
      '7         lookup  other.test.        3600  2026-12-04T13:00:00.000Z  192.0.2.20',
      '',
    ]);
    const filtered = await dbg('fqdn', 'cache', 'list', '-p', '*.test');
    expect(filtered.stdout.split('\n').slice(1, -1)).toEqual([expect.stringMatching(/^7 +lookup +other\.test\. /)]);
    const json = JSON.parse((await dbg('fqdn', 'cache', 'list', '-o', 'json', '-e', '7')).stdout) as unknown[];
    expect(json).toEqual(n.fqdn.lookups());
    await expect(dbg('fqdn', 'cache', 'list', '-p', 'a+b')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('matchpattern'),
    });
  });
});

describe('FqdnPolicy lookups (GET /fqdn/cache)', () => {
  it('filters by matchpattern, source and endpoint; a bad pattern is a 400 naming it', async () => {
    const n = new Node(new SimDatapath(), { now: Date.UTC(2026, 11, 4, 12) }, {});
    n.start();
    await n.fqdn.learn(answer('api.example.test.', [API_IP, NEW_API_IP], 30));
    await n.fqdn.learn(answer('other.test.', [OTHER_IP], 60));
    expect(n.fqdn.lookups({ matchpattern: '*.example.test' })).toEqual([
      {
        'endpoint-id': WEB.id,
        source: 'lookup',
        fqdn: 'api.example.test.',
        ips: [API_IP, NEW_API_IP],
        ttl: 30,
        'lookup-time': '2026-12-04T12:00:00.000Z',
        'expiration-time': '2026-12-04T12:00:30.000Z',
      },
    ]);
    expect(n.fqdn.lookups({ source: 'restored' })).toEqual([]);
    expect(n.fqdn.lookups({ endpoint: 99 })).toEqual([]);
    expect(n.fqdn.lookups().map((l) => l.fqdn)).toEqual(['api.example.test.', 'other.test.']);
    expect(() => n.fqdn.lookups({ matchpattern: 'a+b' })).toThrow(
      expect.objectContaining({ code: 'AGENT_ERR_BAD_REQUEST', message: expect.stringContaining('matchpattern') }),
    );
  });
});
