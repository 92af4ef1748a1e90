// The agent's state on disk survives crashes: state files are written durably and a bad one
// (`null`, `{}`, truncated, another endpoint's) is skipped with its reason, never fatal; IPAM
// allocations are journaled before the address is answered, so an agent killed with SIGKILL
// between the allocation and the endpoint never hands that address out again.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EndpointStateDir, type Endpoint } from '../../../controllers/agent/endpoint-state.js';
import { HostIpam } from '../../../controllers/agent/ipam.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'kts-durable-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const endpoint = (id: number, ipv4: string): Endpoint => ({
  id,
  attachmentId: `cni-attachment-id:c${id}:eth0`,
  containerId: `c${id}`,
  containerIfName: 'eth0',
  hostIfName: `lxc${id}`,
  ifindex: 100 + id,
  mac: '02:00:00:00:00:01',
  hostMac: '02:00:00:00:00:02',
  ipv4,
  podName: `p${id}`,
  namespace: 'demo',
  state: 'ready',
});

describe('endpoint state files', () => {
  it('are written through a temporary file that does not stay behind', () => {
    const states = new EndpointStateDir(dir);
    states.save(endpoint(1, '10.9.0.2'));
    expect(readdirSync(dir)).toEqual(['1.json']);
    expect(states.load()).toEqual([endpoint(1, '10.9.0.2')]);
    states.remove(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('null, {}, truncated, an array and another endpoint’s file are skipped with their reason', () => {
    const states = new EndpointStateDir(dir);
    states.save(endpoint(1, '10.9.0.2'));
    writeFileSync(join(dir, '2.json'), 'null');
    writeFileSync(join(dir, '3.json'), '{}');
    writeFileSync(join(dir, '4.json'), JSON.stringify(endpoint(4, '10.9.0.5')).slice(0, 40));
    writeFileSync(join(dir, '5.json'), '[]');
    writeFileSync(join(dir, '6.json'), JSON.stringify(endpoint(1, '10.9.0.2')));
    writeFileSync(join(dir, '7.json'), JSON.stringify({ ...endpoint(7, '10.9.0.8'), ipv4: 'x' }));
    const skipped: [string, string, number | undefined][] = [];
    const loaded = states.load((f, e, id) => void skipped.push([f, e.message, id]));
    expect(loaded).toEqual([endpoint(1, '10.9.0.2')]);
    expect(skipped.sort()).toEqual([
      ['2.json', 'not an endpoint object', 2],
      ['3.json', 'no endpoint id in 1..65535', 3],
      ['4.json', expect.stringMatching(/JSON/), 4],
      ['5.json', 'not an endpoint object', 5],
      ['6.json', 'the file is named for endpoint 6 but holds endpoint 1', 6],
      ['7.json', 'no IPv4 address', 7],
    ]);
  });
});

describe('the IPAM journal', () => {
  it('keeps allocations across a restart and forgets released ones', () => {
    const a = new HostIpam({ journalDir: dir });
    a.setCidr('10.9.0.0/24');
    const kept = a.allocate('demo/a', 'ca');
    const gone = a.allocate('demo/b', 'cb');
    a.release(gone);
    const b = new HostIpam({ journalDir: dir });
    b.setCidr('10.9.0.0/24');
    expect(b.restoreJournal()).toEqual([{ ip: kept, owner: 'demo/a', container: 'ca' }]);
    expect(b.owner(kept)).toBe('demo/a');
    expect(b.owner(gone)).toBeUndefined();
  });

  it('drops entries outside the pod CIDR and unreadable ones, with the reason', () => {
    writeFileSync(join(dir, '10.8.0.5.json'), JSON.stringify({ ip: '10.8.0.5', owner: 'demo/x' }));
    writeFileSync(join(dir, '10.9.0.9.json'), '{"ip":"10.9');
    writeFileSync(join(dir, '10.9.0.7.json'), 'null');
    const b = new HostIpam({ journalDir: dir });
    b.setCidr('10.9.0.0/24');
    const dropped: string[] = [];
    expect(b.restoreJournal((f, why) => void dropped.push(`${f}: ${why}`))).toEqual([]);
    expect(dropped.sort()).toEqual([
      '10.8.0.5.json: 10.8.0.5 is outside the pod CIDR 10.9.0.0/24',
      expect.stringMatching(/^10\.9\.0\.7\.json: not an allocation record/),
      expect.stringMatching(/^10\.9\.0\.9\.json: not JSON/),
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('kill -9 between the allocation and the endpoint: the next 50 allocations never reuse an address in use', async () => {
    // Endpoints that were ready before the crash (their state files), plus one bad state file.
    const states = new EndpointStateDir(join(dir, 'endpoints'));
    states.save(endpoint(1, '10.9.0.2'));
    states.save(endpoint(2, '10.9.0.3'));
    writeFileSync(join(dir, 'endpoints', '3.json'), 'null');
    // A real agent process's IPAM (the built module), killed right after it answered an allocation.
    const script = `
      const { HostIpam } = await import(${JSON.stringify(join(REPO, 'build/controllers/agent/ipam.js'))});
      const ipam = new HostIpam({ journalDir: ${JSON.stringify(join(dir, 'ipam'))} });
      ipam.setCidr('10.9.0.0/24');
      ipam.restore('10.9.0.2', 'demo/p1');
      ipam.restore('10.9.0.3', 'demo/p2');
      console.log(ipam.allocate('demo/victim', 'c-victim'));
      setInterval(() => undefined, 1000); // waiting for the endpoint that never comes
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const victim = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      child.once('exit', (code) => reject(new Error(`the agent stand-in exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(victim).toMatch(/^10\.9\.0\.\d+$/);

    // The restarted agent: endpoint files, then the journal (as Agent.start does).
    const restarted = new HostIpam({ journalDir: join(dir, 'ipam') });
    restarted.setCidr('10.9.0.0/24');
    const skipped: string[] = [];
    const eps = new EndpointStateDir(join(dir, 'endpoints')).load((f) => void skipped.push(f));
    for (const ep of eps) restarted.restore(ep.ipv4, `${ep.namespace}/${ep.podName}`);
    restarted.restoreJournal();
    expect(skipped).toEqual(['3.json']);
    const inUse = new Set(['10.9.0.1', '10.9.0.2', '10.9.0.3', victim]);
    const next = Array.from({ length: 50 }, (_, i) => restarted.allocate(`demo/new-${i}`, `c${i}`));
    expect(next.filter((ip) => inUse.has(ip))).toEqual([]);
    expect(new Set(next).size).toBe(50);
    expect(existsSync(join(dir, 'ipam', `${victim}.json`))).toBe(true);
  });
});
