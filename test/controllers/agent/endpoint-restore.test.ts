// A restarted agent resumes its endpoints from state files. Upstream's restore skips an endpoint
// whose host-side interface is gone ("could not be found for endpoint being restored, ignoring")
// instead of failing the agent: one stale endpoint among 1,000 crash-looped our agent on
// `tc attach: No such device`. Unit tests over SimDatapath and a temporary state directory.
import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointManager } from '../../../controllers/agent/endpoint-manager.js';
import { Store, type KubeObject } from '../../../controllers/framework/index.js';
import { SimDatapath } from '../../../datapath/sim.js';
import { fakeEndpointManager, podRequest } from './fixtures/endpoint-manager.js';

const dirs: string[] = [];
const managers: EndpointManager[] = [];
afterEach(() => {
  for (const m of managers.splice(0)) m.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** SimDatapath with the kernel's view of device names: name → ifindex, absent when gone. */
class LinkedSim extends SimDatapath {
  constructor(readonly links: Map<string, number>) {
    super();
  }
  linkIndex(name: string): number | undefined {
    return this.links.get(name);
  }
}

const pod: KubeObject = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'a' } },
  spec: { serviceAccountName: 'default' },
} as KubeObject;

function manager(stateDir: string, datapath: SimDatapath) {
  const pods = new Store<KubeObject>();
  pods.apply({ type: 'Apply', object: pod });
  const released: string[] = [];
  const ipam = { restore: () => undefined, release: (ip: string) => void released.push(ip), owner: () => 'ns/p' };
  const m = fakeEndpointManager({ pods, datapath, ipam: ipam as never, stateDir });
  managers.push(m);
  return { m, released };
}

const request = podRequest;

async function createdThenRestarted(links: Map<string, number>) {
  const stateDir = mkdtempSync(join(tmpdir(), 'kts-ep-restore-'));
  dirs.push(stateDir);
  const first = manager(stateDir, new LinkedSim(new Map([['lxc1', 7]])));
  await first.m.create('cni-attachment-id:c1:eth0', request);
  first.m.close();
  const datapath = new LinkedSim(links);
  const again = manager(stateDir, datapath);
  expect(again.m.restore()).toHaveLength(1);
  await again.m.resume();
  return { ...again, datapath, stateDir };
}

describe('endpoint restore', () => {
  it('an endpoint whose interface is gone is removed (state file, IP) instead of failing the agent start', async () => {
    const { m, datapath, released, stateDir } = await createdThenRestarted(new Map());
    expect(m.list()).toEqual([]);
    expect(released).toEqual(['10.0.0.5']);
    expect(readdirSync(stateDir)).toEqual([]);
    // its old ifindex may be another device's now: nothing was detached from it or attached to it
    expect(datapath.attached.size).toBe(0);
  });

  it('an interface recreated under the same name resumes with its new ifindex', async () => {
    const { m, datapath } = await createdThenRestarted(new Map([['lxc1', 42]]));
    const ep = m.find('cni-attachment-id:c1:eth0')!;
    expect(ep.state).toBe('ready');
    expect(ep.ifindex).toBe(42);
    expect([...datapath.attached]).toEqual(['#42']);
  });

  it('an interface that is still there resumes unchanged', async () => {
    const { m, datapath } = await createdThenRestarted(new Map([['lxc1', 7]]));
    expect(m.find('cni-attachment-id:c1:eth0')).toMatchObject({ state: 'ready', ifindex: 7 });
    expect([...datapath.attached]).toEqual(['#7']);
  });
});
