// post-uninstall cleanup on a node made for this run: a network namespace standing in for the
// node (cilium_host, an endpoint's lxc veth into a pod namespace, a node device), our programs
// attached by the real datapath, a socket-LB cgroup link, routes, a bpffs pin root and CNI
// directories. The cleanup must remove exactly what is ours and leave the rest. Everything the test
// creates is removed, on failure too.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeCleanup, cidrWithin, type NodeCleanupReport } from '../../../controllers/agent/node-cleanup.js';
import { KernelDatapath } from '../../../datapath/kernel.js';
import { KernelLoadBalancer } from '../../../datapath/lb-kernel.js';

const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const nodeNs = `cts-${tag}-cln`;
const podNs = `cts-${tag}-clp`;
const lxc = `lxc${tag}`.slice(0, 15);
const dev = `d${tag}`.slice(0, 15);
const bpfRoot = `/sys/fs/bpf/cilium-ts-cleanup-${tag}`;
const pins = join(bpfRoot, 'tc', 'globals');
const cgroup = `/sys/fs/cgroup/unified/cts-cleanup-${tag}`;
const work = mkdtempSync(join(tmpdir(), 'kts-cleanup-'));
const confDir = join(work, 'net.d');
const binDir = join(work, 'bin');
const POOL = '10.199.0.0/16';

const sh = (cmd: string, ...args: string[]) =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const ipn = (...args: string[]) => sh('ip', '-n', nodeNs, ...args);
const tcFilters = (link: string, dir: string) => sh('tc', '-n', nodeNs, 'filter', 'show', 'dev', link, dir).trim();
const links = () => (JSON.parse(ipn('-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname).sort();
const routes = () =>
  (JSON.parse(ipn('-j', 'route', 'show')) as { dst: string; gateway?: string; dev: string }[]).map(
    (r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}`,
  );
const cgroupProgs = () => sh('bpftool', 'cgroup', 'show', cgroup).trim();
const attempt = (f: () => unknown) => {
  try {
    f();
  } catch {
    // best effort: the rest of the cleanup still runs
  }
};

let dp: KernelDatapath | undefined;
let lb: KernelLoadBalancer | undefined;
let report: NodeCleanupReport;

beforeAll(() => {
  for (const ns of [nodeNs, podNs]) sh('ip', 'netns', 'add', ns);
  ipn('link', 'set', 'lo', 'up');
  // what the agent made: cilium_host/cilium_net, an endpoint's veth, a route to another node's pod CIDR
  ipn('link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
  ipn('link', 'add', lxc, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs);
  ipn('link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`);
  for (const l of ['cilium_host', 'cilium_net', lxc, dev, `${dev}p`]) ipn('link', 'set', l, 'up');
  ipn('addr', 'add', '192.168.77.1/24', 'dev', dev);
  ipn('route', 'add', '10.199.2.0/24', 'via', '192.168.77.2');
  ipn('route', 'add', '10.199.1.7/32', 'dev', lxc, 'scope', 'link');
  // not ours: a route elsewhere, another filter on the node device
  ipn('route', 'add', '172.31.5.0/24', 'via', '192.168.77.2');
  sh('tc', '-n', nodeNs, 'qdisc', 'add', 'dev', dev, 'clsact');
  // a classic-BPF filter: kind bpf too, but no program of ours
  sh(
    'tc',
    '-n',
    nodeNs,
    'filter',
    'add',
    'dev',
    dev,
    'ingress',
    'pref',
    '7',
    'bpf',
    'bytecode',
    '1,6 0 0 4294967295,',
    'classid',
    '1:1',
  );
  // our programs on the endpoint's veth and on the node device, pinned maps, a socket-LB cgroup link
  dp = new KernelDatapath({ pinRoot: pins, readEvents: false });
  const ifindex = (l: string) => (JSON.parse(ipn('-j', 'link', 'show', l)) as { ifindex: number }[])[0]!.ifindex;
  dp.attach(ifindex(lxc), `/run/netns/${nodeNs}`);
  dp.attach(ifindex(dev), `/run/netns/${nodeNs}`);
  mkdirSync(cgroup);
  lb = new KernelLoadBalancer({ pinRoot: pins, mapMax: 1024 });
  lb.attachCgroup(cgroup);
  // the agent is gone before the cleanup runs: nothing of ours holds a descriptor any more
  dp.close();
  dp = undefined;
  lb.close();
  lb = undefined;
  mkdirSync(join(bpfRoot, 'not-ours'));
  // the CNI directories as install-cni and cni-exclusive left them
  mkdirSync(confDir);
  mkdirSync(join(binDir, 'cilium-cni.d'), { recursive: true });
  writeFileSync(join(confDir, '05-cilium.conflist'), '{"name":"cilium"}');
  writeFileSync(join(confDir, '10-bridge.conflist.cilium_bak'), '{"name":"bridge"}');
  writeFileSync(join(confDir, '99-loopback.conf'), '{"name":"lo"}');
  writeFileSync(join(binDir, 'cilium-cni'), '#!/bin/sh\n');
  writeFileSync(join(binDir, 'cilium-cni.d', 'main.js'), '');
  writeFileSync(join(binDir, 'bridge'), '#!/bin/sh\n');
}, 60_000);

afterAll(() => {
  attempt(() => dp?.close());
  attempt(() => lb?.close());
  for (const ns of [podNs, nodeNs]) attempt(() => sh('ip', 'netns', 'del', ns));
  attempt(() => rmSync(bpfRoot, { recursive: true, force: true }));
  attempt(() => existsSync(cgroup) && rmdirSync(cgroup));
  rmSync(work, { recursive: true, force: true });
});

describe('post-uninstall node cleanup', () => {
  it('the node holds what the agent made before the cleanup', () => {
    expect(tcFilters(lxc, 'ingress')).toMatch(/cil_from_contai/);
    expect(tcFilters(dev, 'egress')).toMatch(/cil_to_containe/);
    expect(cgroupProgs()).toMatch(/cil_sock4_conne/);
    expect(links()).toEqual(expect.arrayContaining(['cilium_host', 'cilium_net', lxc]));
  });

  it('removes our filters, links, gateway routes into the pool, pins, conflist and plugin', async () => {
    report = await new NodeCleanup({
      bpfRoot,
      cniConfDir: confDir,
      cniBinDir: binDir,
      podPools: [POOL],
      netns: nodeNs,
    }).run();
    expect(report.filters.sort()).toEqual(
      [
        `${dev} egress cil_to_containe`,
        `${dev} ingress cil_from_contai`,
        `${lxc} egress cil_to_containe`,
        `${lxc} ingress cil_from_contai`,
      ].sort(),
    );
    expect(report.routes).toEqual(['10.199.2.0/24 via 192.168.77.2']);
    expect(report.links).toEqual(['cilium_host', 'cilium_net']);
    expect(report.pins).toEqual(expect.arrayContaining(['cilium_ipcache_v2', 'cilium_sock_connect4_link']));
    expect(report.cni.restored).toEqual(['10-bridge.conflist']);

    for (const l of [lxc, dev]) for (const d of ['ingress', 'egress']) expect(tcFilters(l, d)).not.toMatch(/cil_/);
    // a BPF link whose only reference was its pin is detached with it
    expect(cgroupProgs()).toBe('');
    expect(links().filter((l) => l.startsWith('cilium_'))).toEqual([]);
    expect(existsSync(join(bpfRoot, 'tc'))).toBe(false);
    expect(readdirSync(confDir).sort()).toEqual(['10-bridge.conflist', '99-loopback.conf']);
    expect(readdirSync(binDir)).toEqual(['bridge']);
  });

  it('leaves what is not ours, and a running pod its veth and /32 route', () => {
    expect(tcFilters(dev, 'ingress')).toMatch(/pref 7 bpf .*flowid 1:1/s);
    expect(routes()).toEqual(
      expect.arrayContaining(['172.31.5.0/24 via 192.168.77.2 dev ' + dev, `10.199.1.7 dev ${lxc}`]),
    );
    expect(routes().some((r) => r.startsWith('10.199.2.0/24'))).toBe(false);
    expect(links()).toEqual(expect.arrayContaining([lxc, dev]));
    expect(existsSync(join(bpfRoot, 'not-ours'))).toBe(true);
  });

  it('a second run finds nothing left to do', async () => {
    const again = await new NodeCleanup({
      bpfRoot,
      cniConfDir: confDir,
      cniBinDir: binDir,
      podPools: [POOL],
      netns: nodeNs,
    }).run();
    expect(again).toEqual({ filters: [], links: [], routes: [], pins: [], cni: { removed: [], restored: [] } });
  });

  it('cidrWithin: an address or a CIDR inside a pool, not across its edge', () => {
    const rows: [string, string, boolean][] = [
      ['10.199.2.0/24', POOL, true],
      ['10.199.1.7', POOL, true],
      ['10.200.0.0/24', POOL, false],
      ['10.0.0.0/8', POOL, false],
      ['10.199.0.0/16', POOL, true],
    ];
    for (const [inner, outer, want] of rows) expect([inner, cidrWithin(inner, outer)]).toEqual([inner, want]);
  });
});
