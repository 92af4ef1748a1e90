// Where the agent's bytes per remote pod go (scale-memory.ts measures the whole agent): each part
// the agent keeps per CiliumEndpoint, built alone from N CEPs parsed from JSON as the watch
// delivers them, its used heap after forced full GCs, per CEP. Parts: the CEP store (the trimmed
// objects, their keys and the ip index), the ipcache claims, the sim datapath's ipcache (a
// userspace stand-in for the kernel map: with the kernel datapath those bytes are in the kernel,
// not in the agent's heap), and the named-port feed.
//   node --expose-gc --import tsx hack/bench/scale-memory-parts.ts [--pods 10000]
import { parseArgs } from 'node:util';
import { IpcacheClaims, IpcacheRank, cepPrefixes } from '../../controllers/agent/ipcache.js';
import { cepStoreOptions, type CepObject } from '../../controllers/agent/resources.js';
import { Store } from '../../controllers/framework/index.js';
import { SimDatapath } from '../../datapath/sim.js';
import type { IpcacheEntry } from '../../datapath/datapath.js';
import { heapUsedAfterGc as heapUsed } from './scale-harness.js';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '10000' } } });
const n = Number(values.pods);
if (!(globalThis as { gc?: unknown }).gc) throw new Error('run with node --expose-gc');

/** CEP `i` as a remote agent writes it, as JSON (what the watch stream carries). */
function cepJson(i: number): string {
  const node = Math.floor(i / 100);
  return JSON.stringify({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: {
      name: `pod-${i}`,
      namespace: `scale-${i % 100}`,
      uid: `0c9d${String(i).padStart(8, '0')}-5d2a-4b1e-9f3c-2a7b8c9d0e1f`,
      resourceVersion: String(100_000 + i),
      generation: 1,
      creationTimestamp: '2026-12-04T17:00:00Z',
      labels: { 'cilium.io/node': `sim-node-${node}` },
      ownerReferences: [{ apiVersion: 'cilium.io/v2', kind: 'CiliumNode', name: `sim-node-${node}`, uid: 'x' }],
      managedFields: [{ manager: 'scale', operation: 'Update', apiVersion: 'cilium.io/v2', time: 'x' }],
    },
    status: {
      id: 1,
      identity: { id: 20_000 + (i % 1000), labels: [`k8s:app=app-${i % 1000}`] },
      networking: {
        addressing: [{ ipv4: `10.${128 + (node >> 8)}.${node & 255}.${(i % 100) + 2}` }],
        node: '172.31.0.1',
      },
      state: 'ready',
    },
  });
}

const parts: [string, number][] = [];
let keep: unknown[] = [];
const base = await heapUsed();
let last = base;
const measure = async (name: string) => {
  const now = await heapUsed();
  parts.push([name, (now - last) / n]);
  last = now;
};

const store = new Store<CepObject>(cepStoreOptions());
store.apply({ type: 'Init' });
for (let i = 0; i < n; i++) store.apply({ type: 'InitApply', object: JSON.parse(cepJson(i)) as CepObject });
store.apply({ type: 'InitDone', resourceVersion: '1' });
await measure('CEP store (trimmed objects, keys, indexes)');

const claims = new IpcacheClaims();
for (const key of store.keys()) {
  const cep = store.get(key);
  claims.set(
    `cep:${key}`,
    IpcacheRank.cep,
    cep?.metadata?.creationTimestamp ?? '',
    cep?.status?.identity?.id ?? 0,
    cepPrefixes(cep),
  );
}
const entries: IpcacheEntry[] = claims.entries();
await measure('ipcache claims (owners, prefixes, winners)');

const sim = new SimDatapath();
sim.syncIpcache(entries);
keep = [entries.length];
await measure('sim datapath ipcache (the kernel map stand-in)');

console.log(`${n} remote pods, used heap after GC per pod:`);
for (const [name, bytes] of parts) console.log(`  ${name.padEnd(50)} ${Math.round(bytes)} B`);
const agentOnly = parts.filter(([name]) => !name.startsWith('sim')).reduce((s, [, b]) => s + b, 0);
console.log(`  ${'agent (without the sim map)'.padEnd(50)} ${Math.round(agentOnly)} B`);
// keep everything alive until measured
void [store, claims, sim, keep];
