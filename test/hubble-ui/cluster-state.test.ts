// The UI's namespaces come from a watch, not from a list per status poll (every 2 s: at the scale
// harness's 500 namespaces that was 30 lists a minute of all of them): the first call lists while
// the watch starts, later calls answer from the watch, and a namespace created or deleted shows.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient } from '../../controllers/framework/index.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { ClusterReader } from '../../hubble-ui/cluster-state.js';
import { Kubectl, startDevcluster } from '../e2e/harness.js';

let cluster: Devcluster;
let admin: KubeClient;
let reader: ClusterReader;
let kubectl: Kubectl;
const NS = `ui-ns-${process.pid}`;

/** How many namespace lists the API server has answered (its apiserver_request_total). */
async function namespaceLists(): Promise<number> {
  const text = await kubectl.ok(['get', '--raw', '/metrics']);
  let n = 0;
  for (const line of text.split('\n'))
    if (
      line.startsWith('apiserver_request_total{') &&
      line.includes('verb="LIST"') &&
      line.includes('resource="namespaces"')
    )
      n += Number(line.split(' ').at(-1));
  return n;
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 20 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  cluster = await startDevcluster('ui-namespaces');
  admin = KubeClient.fromFile(cluster.kubeconfig);
  kubectl = new Kubectl(cluster);
  reader = new ClusterReader(KubeClient.fromFile(cluster.kubeconfig), 5000);
}, 120_000);

afterAll(async () => {
  reader?.close();
  admin?.close();
  await cluster?.stop();
});

describe('ClusterReader.namespaces', () => {
  it('answers from a watch: a created or deleted namespace shows, and polls list nothing', async () => {
    expect(await reader.namespaces()).toContain('default');
    await eventually(async () => (await namespaceLists()) >= 2, 'the watch listed once');
    const lists = await namespaceLists();
    for (let i = 0; i < 20; i++) await reader.namespaces();
    expect(await namespaceLists()).toBe(lists);

    await admin.create(
      { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: NS },
      },
    );
    await eventually(async () => (await reader.namespaces()).includes(NS), `${NS} shown`);
    const names = await reader.namespaces();
    expect(names).toEqual([...names].sort());
    await admin.delete({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false }, NS);
    await eventually(async () => !(await reader.namespaces()).includes(NS), `${NS} gone`);
    expect(await namespaceLists()).toBe(lists);
  }, 60_000);
});
