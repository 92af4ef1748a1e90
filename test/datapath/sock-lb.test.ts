// Socket-level load balancing in the kernel: the cgroup programs of sock_lb.bpf.c attached at a
// cgroup made for this run, a client process placed in it, backends in a network namespace made
// for this run. Every scenario also runs through the sim load balancer (lb-sim.ts) and the two
// must agree. Everything (processes, cgroup, links, pins, namespace) is removed, on failure too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadAddon } from '../../datapath/addon.js';
import type { LbBackend, LbService } from '../../datapath/lb.js';
import { KernelLoadBalancer } from '../../datapath/lb-kernel.js';
import { SimLoadBalancer, type SockVerdict } from '../../datapath/lb-sim.js';
import { pinRoot, removePins, uniqueName } from './harness.js';

const CGROUP2 = '/sys/fs/cgroup/unified';
const server = fileURLToPath(new URL('./fixtures/lb-server.mjs', import.meta.url));
const clientScript = fileURLToPath(new URL('./fixtures/lb-client.mjs', import.meta.url));
const run = promisify(execFile);

const tag = uniqueName('cts-lb');
const ns = tag;
const cgroup = `${CGROUP2}/${tag}`;
const pins = pinRoot();
const BACKENDS = ['10.201.0.1', '10.201.0.2', '10.201.0.3'];
const VIP = '10.96.0.10';
let serverProc: ChildProcess | undefined;
let lb: KernelLoadBalancer | undefined;
const sim = new SimLoadBalancer();

const be = (address: string, proto: 'TCP' | 'UDP' = 'TCP'): LbBackend => ({
  address,
  port: 8080,
  proto,
  state: 'active',
});

/** The Services every test starts from (each test syncs its own variant into both backends). */
function services(extra: LbService[] = []): LbService[] {
  return [
    { frontend: { address: VIP, port: 80, proto: 'TCP' }, type: 'ClusterIP', backends: BACKENDS.map((a) => be(a)) },
    {
      frontend: { address: VIP, port: 53, proto: 'UDP' },
      type: 'ClusterIP',
      backends: BACKENDS.map((a) => be(a, 'UDP')),
    },
    { frontend: { address: '10.96.0.11', port: 80, proto: 'TCP' }, type: 'ClusterIP', backends: [] },
    { frontend: { address: '10.96.0.12', port: 80, proto: 'TCP' }, type: 'ClusterIP', backends: [be(BACKENDS[1]!)] },
    ...extra,
  ];
}

function sync(desired: LbService[]) {
  sim.syncServices(desired);
  return lb!.syncServices(desired);
}

interface Attempt {
  backend?: string;
  peer?: string;
  from?: string;
  error?: string;
}

/** Runs the client fixture in the network namespace, inside the test cgroup unless `outside`. */
async function client(mode: 'tcp' | 'udp' | 'udp-conn', addr: string, port: number, count = 1, outside = false) {
  const node = process.execPath;
  const cmd = `${outside ? '' : `echo $$ > ${cgroup}/cgroup.procs && `}exec ip netns exec ${ns} ${node} ${clientScript} ${mode} ${addr} ${port} ${count}`;
  const { stdout } = await run('sh', ['-c', cmd], { timeout: 30_000 });
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Attempt);
}

/** The sim's verdict for the same call, as the client would see it. */
function simAttempt(proto: 'TCP' | 'UDP', addr: string, port: number, cookie: number): Attempt {
  const v: SockVerdict = sim.connect({ proto, dst: { address: addr, port }, socketCookie: cookie, netnsCookie: 1 });
  if (v.refused) return { error: 'ECONNREFUSED' };
  if (!v.translated) return { error: 'ENETUNREACH' }; // nothing routes 10.96/16 in the namespace
  const peer = sim.getpeername(cookie, v.dst);
  return { backend: v.dst.address, peer: `${peer.address}:${peer.port}` };
}

beforeAll(async () => {
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  for (const a of BACKENDS) execFileSync('ip', ['-n', ns, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  mkdirSync(cgroup);
  serverProc = spawn('ip', ['netns', 'exec', ns, process.execPath, server, '8080', ...BACKENDS], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    serverProc!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    serverProc!.on('exit', (c) => reject(new Error(`lb-server exited ${c}`)));
  });
  lb = new KernelLoadBalancer({ pinRoot: pins, mapMax: 1024 });
  lb.attachCgroup(cgroup);
  sync(services());
});

afterAll(() => {
  const errors: unknown[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(e);
    }
  };
  attempt(() => serverProc?.kill('SIGKILL'));
  attempt(() => lb?.detachCgroup());
  attempt(() => lb?.close());
  attempt(() => existsSync(cgroup) && rmdirSync(cgroup));
  attempt(() => execFileSync('ip', ['netns', 'del', ns]));
  attempt(() => removePins(pins));
  if (errors.length) throw errors[0] as Error;
});

describe('socket-LB (cgroup connect4/sendmsg4/recvmsg4/getpeername4)', () => {
  it('TCP to the ClusterIP reaches every backend, and getpeername shows the VIP', async () => {
    const got = await client('tcp', VIP, 80, 30);
    expect(got.filter((a) => a.error)).toEqual([]);
    expect(new Set(got.map((a) => a.peer))).toEqual(new Set([`${VIP}:80`]));
    const seen = new Set(got.map((a) => a.backend));
    expect(seen.size).toBeGreaterThanOrEqual(2); // 30 random picks of 3: all one backend has p = 3^-29
    for (const b of seen) expect(BACKENDS).toContain(b);
  });

  it('UDP: an unconnected reply reads as from the VIP (recvmsg), a connected socket peers with it', async () => {
    const [unconnected] = await client('udp', VIP, 53);
    expect(unconnected).toMatchObject({ from: `${VIP}:53` });
    expect(BACKENDS).toContain(unconnected!.backend);
    const [connected] = await client('udp-conn', VIP, 53);
    expect(connected).toMatchObject({ from: `${VIP}:53`, peer: `${VIP}:53` });
  });

  it('the protocol is part of the frontend: UDP to a TCP-only port is not translated', async () => {
    const [a] = await client('udp', VIP, 80);
    expect(a).toMatchObject({ error: expect.stringMatching(/ENETUNREACH|TIMEOUT/) });
  });

  it('a Service with no backend refuses at once; a process outside the cgroup is not translated', async () => {
    const t0 = Date.now();
    const [refused] = await client('tcp', '10.96.0.11', 80);
    expect(refused).toEqual({ error: 'ECONNREFUSED' });
    expect(Date.now() - t0).toBeLessThan(2500); // no connect timeout involved
    const [outside] = await client('tcp', VIP, 80, 1, true);
    expect(outside).toEqual({ error: 'ENETUNREACH' });
  });

  it('kernel and sim agree on every frontend', async () => {
    const cases: ['TCP' | 'UDP', string, number][] = [
      ['TCP', '10.96.0.12', 80],
      ['TCP', '10.96.0.11', 80],
      ['TCP', '10.96.0.13', 80],
    ];
    for (const [proto, addr, port] of cases) {
      const [k] = await client(proto === 'TCP' ? 'tcp' : 'udp', addr, port);
      expect([addr, k]).toEqual([addr, simAttempt(proto, addr, port, 7)]);
    }
    // random selection: both pick only among the frontend's backends
    const simPicks = new Set(Array.from({ length: 60 }, (_, i) => simAttempt('TCP', VIP, 80, 100 + i).backend));
    expect(simPicks).toEqual(new Set(BACKENDS));
  });

  it('sessionAffinity ClientIP: every connection from one namespace reaches one backend', async () => {
    const affine: LbService = {
      frontend: { address: '10.96.0.20', port: 80, proto: 'TCP' },
      type: 'ClusterIP',
      backends: BACKENDS.map((a) => be(a)),
      affinityTimeoutSec: 10800,
    };
    sync(services([affine]));
    const got = await client('tcp', '10.96.0.20', 80, 20);
    expect(got.filter((a) => a.error)).toEqual([]);
    expect(new Set(got.map((a) => a.backend)).size).toBe(1);
    const simGot = new Set(
      Array.from({ length: 20 }, (_, i) =>
        sim.connect({ proto: 'TCP', dst: { address: '10.96.0.20', port: 80 }, socketCookie: 500 + i, netnsCookie: 9 }),
      ).map((v) => (v.refused ? 'refused' : v.dst.address)),
    );
    expect(simGot.size).toBe(1);
    // the pinned backend leaves: the next connection goes elsewhere, then sticks there
    const pinned = got[0]!.backend!;
    sync(services([{ ...affine, backends: BACKENDS.filter((a) => a !== pinned).map((a) => be(a)) }]));
    const after = await client('tcp', '10.96.0.20', 80, 10);
    expect(after.filter((a) => a.error)).toEqual([]);
    expect(new Set(after.map((a) => a.backend)).size).toBe(1);
    expect(after[0]!.backend).not.toBe(pinned);
  });

  it('a sync writes only the difference; with no agent the pinned programs keep balancing; a restarted one reuses pins and links and writes nothing', async () => {
    const desired = services();
    sync(desired);
    const again = lb!.syncServices(desired);
    expect(again.services.upserts + again.backends.upserts + again.revNat.upserts).toBe(0);
    expect(again.services.deletes + again.backends.deletes + again.revNat.deletes).toBe(0);

    const before = lb!.dump();
    lb!.close();
    // no agent holds anything now (as after a SIGKILL): the pinned links and maps keep balancing
    const whileDown = await client('tcp', VIP, 80, 10);
    expect(whileDown.filter((a) => a.error)).toEqual([]);
    expect(new Set(whileDown.map((a) => a.peer))).toEqual(new Set([`${VIP}:80`]));
    lb = new KernelLoadBalancer({ pinRoot: pins, mapMax: 1024 });
    lb.attachCgroup(cgroup);
    const addon = loadAddon();
    const cg = addon.cgroupOpen(cgroup);
    try {
      for (const hook of ['connect4', 'sendmsg4', 'recvmsg4', 'getpeername4'])
        expect([hook, addon.cgroupProgCount(cg, hook)]).toEqual([hook, 1]);
    } finally {
      addon.close(cg);
    }
    const restored = lb.syncServices(desired);
    expect(restored.services.upserts + restored.backends.upserts + restored.revNat.upserts).toBe(0);
    expect(lb.dump()).toEqual(before);
    const got = await client('tcp', VIP, 80, 5);
    expect(got.filter((a) => a.error)).toEqual([]);
  });

  it('bpf lb list rows: a frontend with its count, then one row per backend slot', () => {
    const rows = lb!.dump().filter((r) => r.frontend.address === VIP && r.frontend.port === 80);
    expect(rows[0]).toMatchObject({ slot: 0, count: 3 });
    expect(rows.slice(1).map((r) => r.backend?.address)).toEqual(BACKENDS);
    expect(sim.dump()).toEqual(lb!.dump());
  });
});
