// cilium-cni against hostile and broken input, run as a runtime runs it (the bundled executable,
// inside a stand-in node namespace): every bad value is an error result with the spec's code
// before anything is built, and nothing appears in the node's namespace or reaches the agent.
// Also the failure paths around the agent: a 5xx on DEL, and DEL freeing an address an earlier
// ADD got but never used.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentClient } from '../../controllers/agent/api/client.js';
import { installCni, type CniInstall } from '../../devcluster/nodes/cni-install.js';
import { FakeAgent } from './fake-agent.js';

const tag = `kth${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
const nodeNs = `${tag}-node`;
const podNs = `${tag}-pod`;
const nodePath = `/var/run/netns/${nodeNs}`;
const podPath = `/var/run/netns/${podNs}`;
let dir: string;
let install: CniInstall;
let agent: FakeAgent;
let socketPath: string;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
/** Link names in a namespace, the state a refused call must leave untouched. */
const links = (ns: string) =>
  (JSON.parse(ip('-n', ns, '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname).sort();

const conf = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'cilium', type: 'cilium-cni', 'socket-path': socketPath, ...extra });

/** The plugin in the node namespace with exactly this environment and stdin (async: the agent stand-in shares our loop). */
function plugin(
  env: Record<string, string | undefined>,
  stdin: string,
): Promise<{ code: number; json: Record<string, unknown> }> {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${nodePath}`, join(install.binDir, 'cilium-cni')], {
      env: { PATH: process.env.PATH, ...clean },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, json: out ? (JSON.parse(out) as Record<string, unknown>) : {} }),
    );
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

const ADD = (over: Record<string, string | undefined> = {}) => ({
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'hostile-1',
  CNI_NETNS: podPath,
  CNI_IFNAME: 'eth0',
  CNI_PATH: install.binDir,
  CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web',
  ...over,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kts-cni-hostile-'));
  install = installCni(join(dir, 'cni'));
  socketPath = join(dir, 'cilium.sock');
  agent = new FakeAgent({ socketPath, cidr: '10.200.11.0/24' });
  await agent.start();
  ip('netns', 'add', nodeNs);
  ip('netns', 'add', podNs);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  for (const ns of [nodeNs, podNs]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

describe('refused before anything is built', () => {
  const cases: [string, Record<string, string | undefined>, string, number][] = [
    ['CNI_NETNS=/etc/passwd (not a network namespace)', { CNI_NETNS: '/etc/passwd' }, conf(), 4],
    ['CNI_NETNS a directory', { CNI_NETNS: '/var/run' }, conf(), 4],
    ['CNI_NETNS with a newline', { CNI_NETNS: `${podPath}\nlink add evil type dummy` }, conf(), 4],
    ['CNI_NETNS with #', { CNI_NETNS: `${podPath}#x` }, conf(), 3],
    ['CNI_NETNS relative', { CNI_NETNS: 'netns/x' }, conf(), 4],
    ['CNI_IFNAME with a newline', { CNI_IFNAME: 'eth0\nlink add evil type dummy' }, conf(), 4],
    ['CNI_IFNAME with #', { CNI_IFNAME: 'eth0#x' }, conf(), 4],
    ['CNI_IFNAME of 16 bytes', { CNI_IFNAME: 'a'.repeat(16) }, conf(), 4],
    ['CNI_IFNAME of 15 characters but 16 bytes', { CNI_IFNAME: `${'a'.repeat(14)}é` }, conf(), 4],
    ['CNI_IFNAME ..', { CNI_IFNAME: '..' }, conf(), 4],
    ['CNI_IFNAME with a colon', { CNI_IFNAME: 'eth0:1' }, conf(), 4],
    ['CNI_COMMAND unset', { CNI_COMMAND: undefined }, conf(), 4],
    ['CNI_CONTAINERID of 300 characters', { CNI_CONTAINERID: 'c'.repeat(300) }, conf(), 4],
    ['CNI_ARGS without =', { CNI_ARGS: 'K8S_POD_NAME' }, conf(), 4],
    ['CNI_ARGS with a newline', { CNI_ARGS: 'K8S_POD_NAME=a\nb' }, conf(), 4],
    [
      'CNI_ARGS with a pod name that is no name',
      { CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=../x' },
      conf(),
      4,
    ],
    ['CNI_ARGS of 5000 characters', { CNI_ARGS: `X=${'a'.repeat(5000)}` }, conf(), 4],
    ['stdin null', {}, 'null', 6],
    ['stdin an array', {}, '[]', 6],
    ['stdin a string', {}, '"x"', 6],
    ['stdin over 1 MiB', {}, conf({ pad: 'x'.repeat(1 << 20) }), 7],
  ];
  test.each(cases)('%s', async (_what, env, stdin, code) => {
    const nodeBefore = links(nodeNs);
    const podBefore = links(podNs);
    const calls = agent.calls.length;
    const r = await plugin(ADD(env), stdin);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg: expect.any(String) });
    expect(links(nodeNs)).toEqual(nodeBefore);
    expect(links(podNs)).toEqual(podBefore);
    expect(agent.calls.length).toBe(calls);
  });
});

describe('the agent failing around DEL', () => {
  test('a 5xx on DEL is an error result (100) naming the agent code; the runtime retries', async () => {
    agent.failEndpointDelete = true;
    try {
      const r = await plugin(ADD({ CNI_COMMAND: 'DEL' }), conf());
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ code: 100, details: expect.stringContaining('AGENT_ERR_INTERNAL') });
    } finally {
      agent.failEndpointDelete = false;
    }
  });

  test('DEL frees an address an ADD got but never turned into an endpoint (it gave up waiting)', async () => {
    const api = new AgentClient({ socketPath });
    const got = await api.ipamAllocate('default/late', 'ipv4', 'late-ctr');
    const other = await api.ipamAllocate('default/late', 'ipv4', 'next-ctr');
    const r = await plugin(
      ADD({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'late-ctr', CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=late' }),
      conf(),
    );
    expect(r.code).toBe(0);
    expect(agent.allocated.has(got.address.ipv4!)).toBe(false);
    // the same pod's next sandbox keeps its address
    expect(agent.allocated.get(other.address.ipv4!)).toBe('default/late');
  });
});
