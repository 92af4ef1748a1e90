// cilium-cni against the spec, end to end: the bundled executable (as install-cni.sh installs it)
// run the way a runtime runs it, in a stand-in node namespace, building real veth pairs into real
// pod namespaces; the agent is a stand-in of its REST API on a unix socket (fake-agent.ts).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installCni, type CniInstall, type Conflist } from '../../devcluster/nodes/cni-install.js';
import { execPlugin, type CniCall } from '../../devcluster/nodes/cni-runtime.js';
import { hostVethName } from '../../cni/link.js';
import { FakeAgent } from './fake-agent.js';

const tag = `ktc${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const nodeNs = `${tag}-node`;
const nodePath = `/var/run/netns/${nodeNs}`;
const pods: string[] = [];
let dir: string;
let install: CniInstall;
let agent: FakeAgent;
let conflist: (version: string, extra?: Record<string, unknown>) => Conflist;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function newPod(): string {
  const name = `${tag}-p${pods.length}`;
  ip('netns', 'add', name);
  pods.push(name);
  return `/var/run/netns/${name}`;
}

function inNs(path: string, ...cmd: string[]): { code: number; out: string } {
  try {
    return {
      code: 0,
      out: execFileSync('nsenter', [`--net=${path}`, ...cmd], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 10_000,
      }).toString(),
    };
  } catch (e) {
    return { code: (e as { status?: number }).status ?? 1, out: String((e as { stderr?: Buffer }).stderr ?? '') };
  }
}

const POD_ARGS = (pod: string) => ({
  IgnoreUnknown: '1',
  K8S_POD_NAMESPACE: 'default',
  K8S_POD_NAME: pod,
  K8S_POD_INFRA_CONTAINER_ID: 'sandbox',
});

function call(version: string, c: Partial<CniCall> & Pick<CniCall, 'command'>) {
  return execPlugin({ binDir: install.binDir, conflist: conflist(version), nodeNetns: nodePath, ifName: 'eth0', ...c });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kts-cni-'));
  install = installCni(join(dir, 'cni'));
  const socketPath = join(dir, 'cilium.sock');
  conflist = (version, extra = {}) => ({
    cniVersion: version,
    name: 'cilium',
    plugins: [{ type: 'cilium-cni', 'socket-path': socketPath, 'log-file': join(dir, 'cni.log'), ...extra }],
  });
  agent = new FakeAgent({ socketPath, cidr: '10.200.9.0/24' });
  await agent.start();
  // The node: its router address on cilium_host (a veth pair with cilium_net, as upstream's agent
  // makes it; this kernel has no dummy module).
  ip('netns', 'add', nodeNs);
  ip('-n', nodeNs, 'link', 'set', 'lo', 'up');
  ip('-n', nodeNs, 'link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net');
  ip('-n', nodeNs, 'link', 'set', 'cilium_net', 'up');
  ip('-n', nodeNs, 'addr', 'add', `${agent.gateway}/32`, 'dev', 'cilium_host');
  ip('-n', nodeNs, 'link', 'set', 'cilium_host', 'up');
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  for (const ns of [...pods, nodeNs]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('VERSION', () => {
  test('answers with the supported versions even for the dummy values runtimes send', async () => {
    const o = await call('1.1.0', { command: 'VERSION', containerId: 'dummy', netns: 'dummy', ifName: 'dummy' });
    expect(o.exitCode).toBe(0);
    expect(o.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });
});

describe('ADD, CHECK, DEL on real namespaces', () => {
  test('1.0.0: result shape, kernel state, endpoint handed to the agent, TCP to the node', async () => {
    const netns = newPod();
    // A pod uid: not hex, with dashes, as runtimes that are not containerd pass.
    const containerId = 'pod-3f1c9a2e-7b4d-4e1a-9c55-0d2b8e6f4a11';
    const o = await call('1.0.0', { command: 'ADD', containerId, netns, args: POD_ARGS('web') });
    expect(o.stderr).toBe('');
    expect(o.exitCode).toBe(0);
    const r = o.json as {
      cniVersion: string;
      interfaces: { name: string; mac: string; sandbox?: string; mtu?: number }[];
      ips: { address: string; gateway: string; interface: number; version?: string }[];
      routes: { dst: string; gw?: string }[];
    };
    expect(r.cniVersion).toBe('1.0.0');
    expect(r.interfaces).toHaveLength(2);
    expect(r.interfaces[0]!.name).toMatch(/^lxc[0-9a-f]{11}$/);
    expect(r.interfaces[0]!.sandbox).toBeUndefined();
    expect(r.interfaces[1]).toEqual({
      name: 'eth0',
      mac: expect.stringMatching(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
      sandbox: netns,
    });
    expect(r.interfaces[0]!.mtu).toBeUndefined();
    const podIp = r.ips[0]!.address.replace('/32', '');
    expect(r.ips).toEqual([{ address: `${podIp}/32`, gateway: agent.gateway, interface: 1 }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: agent.gateway }]);
    // the agent saw what the kernel has
    const ep = agent.endpoints.get(`cni-attachment-id:${containerId}:eth0`);
    expect(ep?.req).toMatchObject({
      'container-id': containerId,
      'interface-name': r.interfaces[0]!.name,
      'k8s-pod-name': 'web',
      'k8s-namespace': 'default',
      addressing: { ipv4: podIp },
      'sync-build': true,
      mac: r.interfaces[1]!.mac,
      'host-mac': r.interfaces[0]!.mac,
    });
    expect(agent.allocated.get(podIp)).toBe('default/web');
    const hostLink = JSON.parse(ip('-n', nodeNs, '-j', 'link', 'show', 'dev', r.interfaces[0]!.name)) as {
      ifindex: number;
      flags: string[];
    }[];
    expect(ep?.req['interface-index']).toBe(hostLink[0]!.ifindex);
    expect(inNs(nodePath, 'cat', `/proc/sys/net/ipv4/conf/${r.interfaces[0]!.name}/proxy_arp`).out.trim()).toBe('1');
    expect(ip('-n', nodeNs, 'route', 'show', `${podIp}/32`)).toContain(`dev ${r.interfaces[0]!.name}`);
    // an IPv4-only agent: IPv6 is off in the pod (no link-local address, no DAD or MLD packets)
    expect(inNs(netns, 'ip', '-6', 'addr', 'show', 'dev', 'eth0').out).toBe('');
    expect(inNs(netns, 'cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6').out.trim()).toBe('1');
    expect(inNs(netns, 'ip', 'route').out).toMatch(
      new RegExp(`default via ${agent.gateway.replace(/\./g, '\\.')} dev eth0`),
    );
    // traffic: TCP from the pod to the node's side of the veth (ARP answered through proxy_arp)
    const server = spawn(
      'nsenter',
      [
        `--net=${nodePath}`,
        process.execPath,
        '-e',
        `require('net').createServer(s=>s.end('pong')).listen(18080,'${agent.gateway}',()=>console.log('up'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((res) => server.stdout.once('data', res));
      const got = inNs(
        netns,
        process.execPath,
        '-e',
        `const s=require('net').connect(18080,'${agent.gateway}');let d='';s.on('data',x=>d+=x);s.on('end',()=>{console.log(d);process.exit(0)});s.on('error',e=>{console.error(e.message);process.exit(1)})`,
      );
      expect(got).toEqual({ code: 0, out: 'pong\n' });
    } finally {
      server.kill('SIGKILL');
    }

    // CHECK agrees with prevResult, then notices a missing route
    expect(
      (await call('1.0.0', { command: 'CHECK', containerId, netns, args: POD_ARGS('web'), prevResult: r })).exitCode,
    ).toBe(0);
    inNs(netns, 'ip', 'route', 'del', 'default');
    const bad = await call('1.0.0', { command: 'CHECK', containerId, netns, args: POD_ARGS('web'), prevResult: r });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.json).toMatchObject({
      cniVersion: '1.0.0',
      code: 101,
      msg: expect.stringContaining('route 0.0.0.0/0 via'),
    });

    // DEL, then DEL again the way runtimes repeat it: no netns, no prevResult
    const del1 = await call('1.0.0', { command: 'DEL', containerId, netns, args: POD_ARGS('web'), prevResult: r });
    expect(del1).toMatchObject({ exitCode: 0, stdout: '' });
    expect(agent.endpoints.has(`cni-attachment-id:${containerId}:eth0`)).toBe(false);
    expect(agent.allocated.has(podIp)).toBe(false);
    expect(ip('-n', nodeNs, 'link', 'show')).not.toContain(r.interfaces[0]!.name);
    expect(inNs(netns, 'ip', 'link', 'show', 'eth0').code).not.toBe(0);
    const del2 = await call('1.0.0', { command: 'DEL', containerId, netns: '', args: POD_ARGS('web') });
    expect(del2).toMatchObject({ exitCode: 0, stdout: '' });
  });

  test('1.1.0: interface MTUs and the scope-link gateway route; 0.4.0: per-IP version', async () => {
    const netns = newPod();
    const o = await call('1.1.0', { command: 'ADD', containerId: 'sandbox_b.1', netns, args: POD_ARGS('b') });
    expect(o.exitCode).toBe(0);
    const r = o.json as { interfaces: { mtu?: number }[]; routes: unknown[]; ips: { gateway: string }[] };
    expect(r.interfaces.map((i) => i.mtu)).toEqual([1500, 1500]);
    expect(r.routes).toEqual([
      { dst: `${agent.gateway}/32`, scope: 253 },
      { dst: '0.0.0.0/0', gw: agent.gateway },
    ]);
    expect(await call('1.1.0', { command: 'CHECK', containerId: 'sandbox_b.1', netns, prevResult: r })).toMatchObject({
      exitCode: 0,
      stdout: '',
      stderr: '',
    });
    expect((await call('1.1.0', { command: 'DEL', containerId: 'sandbox_b.1', netns })).exitCode).toBe(0);

    const netns2 = newPod();
    const legacy = await call('0.4.0', { command: 'ADD', containerId: 'legacy', netns: netns2, args: POD_ARGS('c') });
    expect(legacy.exitCode).toBe(0);
    expect((legacy.json as { ips: { version?: string }[] }).ips[0]!.version).toBe('4');
    expect((await call('0.4.0', { command: 'DEL', containerId: 'legacy', netns: netns2 })).exitCode).toBe(0);
  });

  test('rollback: the agent refuses the endpoint → error 100, no link, no address, IP released', async () => {
    const netns = newPod();
    agent.failEndpointCreate = true;
    try {
      const o = await call('1.0.0', { command: 'ADD', containerId: 'rollback-1', netns, args: POD_ARGS('rb') });
      expect(o.exitCode).toBe(1);
      expect(o.json).toMatchObject({
        cniVersion: '1.0.0',
        code: 100,
        msg: expect.stringContaining('regeneration failed'),
      });
    } finally {
      agent.failEndpointCreate = false;
    }
    expect([...agent.allocated.values()]).not.toContain('default/rb');
    expect(ip('-n', nodeNs, '-br', 'link')).not.toContain(hostVethName('rollback-1'));
    expect(inNs(netns, 'ip', 'link', 'show', 'eth0').code).not.toBe(0);
    agent.failIpam = true;
    try {
      const o = await call('1.0.0', { command: 'ADD', containerId: 'rollback-2', netns, args: POD_ARGS('rb') });
      expect(o.json).toMatchObject({
        code: 100,
        msg: expect.stringContaining('allocating an IPv4 address for default/rb'),
      });
    } finally {
      agent.failIpam = false;
    }
  });

  test('a repeated ADD of the same container (no DEL between) replaces the stale veth', async () => {
    const first = newPod();
    const second = newPod();
    expect(
      (await call('1.0.0', { command: 'ADD', containerId: 'again', netns: first, args: POD_ARGS('again') })).exitCode,
    ).toBe(0);
    const o = await call('1.0.0', { command: 'ADD', containerId: 'again', netns: second, args: POD_ARGS('again') });
    expect(o).toMatchObject({ exitCode: 0, stderr: '' });
    expect(inNs(first, 'ip', 'link', 'show', 'eth0').code).not.toBe(0); // the old pair is gone
    expect(inNs(second, 'ip', '-br', 'addr', 'show', 'eth0').out).toContain(
      (o.json as { ips: { address: string }[] }).ips[0]!.address,
    );
    expect(
      ip('-n', nodeNs, '-br', 'link')
        .split('\n')
        .filter((l) => l.startsWith(hostVethName('again'))),
    ).toHaveLength(1);
    expect((await call('1.0.0', { command: 'DEL', containerId: 'again', netns: second })).exitCode).toBe(0);
  });

  test('DEL with the agent gone still succeeds and removes the veth', async () => {
    const netns = newPod();
    const add = await call('1.0.0', { command: 'ADD', containerId: 'agent-gone', netns, args: POD_ARGS('g') });
    expect(add.exitCode).toBe(0);
    const gone = {
      binDir: install.binDir,
      conflist: conflist('1.0.0', { 'socket-path': join(dir, 'no-agent.sock') }),
      nodeNetns: nodePath,
      ifName: 'eth0',
    };
    expect(await execPlugin({ ...gone, command: 'DEL', containerId: 'agent-gone', netns })).toMatchObject({
      exitCode: 0,
    });
    expect(ip('-n', nodeNs, '-br', 'link')).not.toContain(hostVethName('agent-gone'));
    // and ADD against a missing agent asks the runtime to try again later
    const retry = await execPlugin({
      ...gone,
      command: 'ADD',
      containerId: 'agent-gone-2',
      netns,
      args: POD_ARGS('g2'),
    });
    expect(retry.json).toMatchObject({ code: 11, msg: expect.stringContaining('is the agent running on this node?') });
    agent.endpoints.clear(); // the stand-in never heard the first DEL
    agent.allocated.clear();
  });
});

describe('an agent that accepts but never answers', () => {
  test('ADD gets try-again (11) from the client timeout, with the code in details', async () => {
    const socketPath = join(dir, 'silent-agent.sock');
    const held: Socket[] = [];
    const silent = createServer((c) => void held.push(c));
    await new Promise<void>((r) => silent.listen(socketPath, r));
    try {
      const o = await execPlugin({
        binDir: install.binDir,
        conflist: conflist('1.0.0', { 'socket-path': socketPath, 'agent-timeout-ms': 300 }),
        nodeNetns: nodePath,
        ifName: 'eth0',
        command: 'ADD',
        containerId: 'silent-agent',
        netns: newPod(),
        args: POD_ARGS('s'),
      });
      expect(o.json).toMatchObject({
        code: 11,
        msg: expect.stringContaining('no answer within 300 ms'),
        details: 'CNI_ERR_TRY_AGAIN: the cilium-agent did not answer',
      });
    } finally {
      for (const c of held) c.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});

describe('STATUS and GC (1.1.0)', () => {
  test('STATUS is empty success with a healthy agent, error 50 without one', async () => {
    expect(await call('1.1.0', { command: 'STATUS' })).toMatchObject({ exitCode: 0, stdout: '' });
    const o = await execPlugin({
      binDir: install.binDir,
      conflist: conflist('1.1.0', { 'socket-path': join(dir, 'none.sock') }),
      nodeNetns: nodePath,
      command: 'STATUS',
    });
    expect(o.json).toMatchObject({ cniVersion: '1.1.0', code: 50, msg: expect.stringContaining('is not available') });
    expect((await call('1.0.0', { command: 'STATUS' })).json).toMatchObject({ code: 1 });
  });

  test('GC removes endpoints and veths of attachments the runtime no longer lists', async () => {
    const keep = newPod();
    const drop = newPod();
    const k = await call('1.1.0', { command: 'ADD', containerId: 'gc-keep', netns: keep, args: POD_ARGS('keep') });
    const d = await call('1.1.0', { command: 'ADD', containerId: 'gc-drop', netns: drop, args: POD_ARGS('drop') });
    expect([k.exitCode, d.exitCode]).toEqual([0, 0]);
    const dropLink = (d.json as { interfaces: { name: string }[] }).interfaces[0]!.name;
    const o = await call('1.1.0', {
      command: 'GC',
      extra: { 'cni.dev/valid-attachments': [{ containerID: 'gc-keep', ifname: 'eth0' }] },
    });
    expect(o).toMatchObject({ exitCode: 0, stdout: '' });
    expect([...agent.endpoints.values()].map((e) => e['container-id'])).toEqual(['gc-keep']);
    expect(ip('-n', nodeNs, '-br', 'link')).not.toContain(dropLink);
    expect((await call('1.1.0', { command: 'DEL', containerId: 'gc-keep', netns: keep })).exitCode).toBe(0);
  });
});

describe('error results', () => {
  const bad = (o: Awaited<ReturnType<typeof execPlugin>>, code: number, msg: RegExp) => {
    expect(o.exitCode).toBe(1);
    expect(o.json).toEqual({
      cniVersion: expect.any(String),
      code,
      msg: expect.stringMatching(msg),
      details: expect.any(String),
    });
  };

  test('bad configuration and environment get the spec codes and a clear message', async () => {
    const netns = newPod();
    const base = {
      binDir: install.binDir,
      nodeNetns: nodePath,
      ifName: 'eth0',
      containerId: 'c1',
      netns,
      command: 'ADD' as const,
    };
    const plugin = (p: Record<string, unknown>, version = '1.0.0', name = 'cilium'): Conflist => ({
      cniVersion: version,
      name,
      plugins: [p],
    });
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni' }, '9.9.9') }),
      1,
      /cniVersion 9\.9\.9 is not supported/,
    );
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni', ipam: { type: 'host-local' } }) }),
      2,
      /ipam\.type "host-local" is not supported/,
    );
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni' }, '1.0.0', '') }),
      7,
      /"name" must be a non-empty string/,
    );
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni', mtu: 'big' }) }),
      7,
      /"mtu" must be an integer/,
    );
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni' }), netns: '/var/run/netns/does-not-exist' }),
      3,
      /does not exist/,
    );
    bad(
      await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni' }), containerId: '-bad id' }),
      4,
      /CNI_CONTAINERID "-bad id" is invalid/,
    );
    bad(await execPlugin({ ...base, conflist: plugin({ type: 'cilium-cni' }), ifName: 'a/b' }), 4, /CNI_IFNAME/);
    const { netns: _n, ...noNetns } = base;
    bad(await execPlugin({ ...noNetns, conflist: plugin({ type: 'cilium-cni' }) }), 4, /CNI_NETNS is not set/);
  });

  test('stdin that is not JSON gets code 6; an unknown command 102', async () => {
    const exe = join(install.binDir, 'cilium-cni');
    const run = (env: Record<string, string>, stdin: string) => {
      try {
        return {
          code: 0,
          out: execFileSync(exe, {
            env: { PATH: process.env.PATH, CNI_PATH: install.binDir, ...env },
            input: stdin,
          }).toString(),
        };
      } catch (e) {
        return { code: (e as { status: number }).status, out: String((e as { stdout: Buffer }).stdout) };
      }
    };
    const notJson = run(
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0' },
      '{not json',
    );
    expect(notJson.code).toBe(1);
    expect(JSON.parse(notJson.out)).toMatchObject({
      cniVersion: '1.1.0',
      code: 6,
      msg: expect.stringContaining('is not JSON'),
    });
    const unknown = run({ CNI_COMMAND: 'FROB' }, '{"cniVersion":"1.0.0"}');
    expect(JSON.parse(unknown.out)).toMatchObject({
      cniVersion: '1.0.0',
      code: 102,
      msg: 'unknown CNI_COMMAND "FROB"',
    });
  });
});
