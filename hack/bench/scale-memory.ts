// What one remote pod costs the agent, from its heap rather than RSS (RSS moves with V8's heap
// sizing and GC timing): an in-process agent (sim datapath) against an in-process devcluster; N
// remote pods loaded as simulated agents write them (a CiliumNode per 100 pods, a CiliumEndpoint per
// pod with its status), then the used heap after a forced full GC with the agent running, and again
// with it stopped. The difference is the agent's; its growth between two sizes over their
// difference is the marginal cost per remote pod (goal ≤ 2 KiB).
//   node --expose-gc --import tsx hack/bench/scale-memory.ts [--pods 1000,10000]
import { parseArgs } from 'node:util';
import type { KubeObject } from '../../controllers/framework/index.js';
import { inprocessAgent } from './scale-agents.js';
import { CEPS, CNODES, NS, heapUsedAfterGc as heapUsed } from './scale-harness.js';
import { pool } from './pool.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '1000,10000' } } });
const sizes = values.pods.split(',').map(Number);
if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with node --expose-gc');

const agent = await inprocessAgent();
const rows: { pods: number; agentBytes: number }[] = [];
try {
  let loaded = 0;
  const uids: string[] = [];
  for (const target of sizes) {
    const from = loaded;
    const nodes = Math.ceil(target / 100);
    await pool(
      Array.from({ length: nodes }, (_, i) => i),
      16,
      async (i) =>
        (uids[i] ??= await agent.client
          .create<KubeObject>(CNODES, {
            apiVersion: 'cilium.io/v2',
            kind: 'CiliumNode',
            metadata: { name: `mem-node-${i}` },
            spec: {
              addresses: [{ type: 'InternalIP', ip: `172.31.${i >> 8}.${i & 255}` }],
              ipam: { podCIDRs: [`10.${128 + (i >> 8)}.${i & 255}.0/24`] },
            },
          } as KubeObject)
          .then((o) => o.metadata?.uid ?? '')),
    );
    await pool(
      Array.from({ length: Math.ceil(target / 100) }, (_, i) => i),
      16,
      (i) =>
        agent.client
          .create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `mem-${i}` } })
          .catch(() => undefined),
    );
    const pods = Array.from({ length: target - from }, (_, k) => from + k);
    await pool(pods, 32, async (n) => {
      const node = Math.floor(n / 100);
      const ns = `mem-${n % Math.ceil(target / 100)}`;
      const name = `pod-${n}`;
      await agent.client.create(CEPS, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumEndpoint',
        metadata: {
          name,
          namespace: ns,
          labels: { 'cilium.io/node': `mem-node-${node}` },
          // owned by its CiliumNode, as a remote agent's: the operator's CEP GC keeps it while the node exists
          ownerReferences: [
            { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name: `mem-node-${node}`, uid: uids[node]! },
          ],
        },
      } as KubeObject);
      await agent.client.patch(
        CEPS,
        name,
        ns,
        {
          status: {
            id: 1,
            identity: { id: 20_000 + (n % 1000), labels: [`k8s:app=app-${n % 1000}`] },
            networking: {
              addressing: [{ ipv4: `10.${128 + (node >> 8)}.${node & 255}.${(n % 100) + 2}` }],
              node: `172.31.${node >> 8}.${node & 255}`,
            },
            state: 'ready',
          },
        } as KubeObject,
        'merge',
        { subresource: 'status' },
      );
    });
    loaded = target;
    // every pod in the ipcache before measuring
    const ips = pods.map((n) => `10.${128 + (Math.floor(n / 100) >> 8)}.${Math.floor(n / 100) & 255}.${(n % 100) + 2}`);
    for (let t = Date.now(); agent.lookup(ips).size < ips.length;) {
      if (Date.now() - t > 300_000)
        throw new Error(`only ${agent.lookup(ips).size}/${ips.length} pods reached the ipcache`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const withAgent = await heapUsed();
    await agent.stopAgent();
    const without = await heapUsed();
    await agent.startAgent();
    rows.push({ pods: target, agentBytes: withAgent - without });
    console.error(
      `[scale-memory] ${target} pods: heap ${(withAgent / 2 ** 20).toFixed(1)} MiB with the agent, ${(without / 2 ** 20).toFixed(1)} MiB without`,
    );
  }
} finally {
  await agent.close();
}
for (const r of rows)
  console.log(`${r.pods} remote pods: the agent holds ${(r.agentBytes / 2 ** 20).toFixed(1)} MiB of heap`);
for (let i = 1; i < rows.length; i++) {
  const a = rows[i - 1]!;
  const b = rows[i]!;
  console.log(
    `marginal ${a.pods}→${b.pods}: ${Math.round((b.agentBytes - a.agentBytes) / (b.pods - a.pods))} B per remote pod (goal ≤ 2048)`,
  );
}
