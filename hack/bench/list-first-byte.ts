// The devcluster API server's whole list of N CiliumEndpoints (as an agent's informer asks for it
// at start: resourceVersion=0): time to the response's first byte and to its last, and the same
// list in pages of 500 (a relist). The CEPs are written as the scale harness's simulated agents
// write them (create, then the status patch), so each carries its managedFields.
//   node --import tsx hack/bench/list-first-byte.ts [--count 10000] [--runs 5] [--dir D --keep]
// With --dir, a cluster already loaded there is reused (the API server restarted from the current
// build when --restart is given): the same stored objects measured under two builds.
import { mkdtempSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { downDetached, stopDetached, upDetached } from '../../devcluster/cluster.js';
import { pool } from './pool.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string' },
    runs: { type: 'string' },
    dir: { type: 'string' },
    keep: { type: 'boolean' },
    restart: { type: 'boolean' },
  },
});
const COUNT = Number(values.count ?? 10_000);
const RUNS = Number(values.runs ?? 5);
const CONCURRENCY = 32;
const NS = 'bench-list';
const CEPS = `/apis/cilium.io/v2/namespaces/${NS}/ciliumendpoints`;

/** The API server's user+system CPU (ms) and RSS (MiB), from /proc: under load its CPU is the honest figure. */
function procUsage(pid: number): { cpuMs: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuMs: ticks * 10, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
}

const crdYaml = readFileSync(fileURLToPath(new URL('../../crds/v2/ciliumendpoints.yaml', import.meta.url)), 'utf8');

async function main(): Promise<void> {
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'kts-bench-list-'));
  if (values.restart) await stopDetached(dir);
  const st = await upDetached({ dir, port: 0 });
  const auth = `Bearer ${readFileSync(join(dir, 'pki', 'admin.token'), 'utf8').trim()}`;
  const agent = new Agent({ ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'), keepAlive: true, maxSockets: 64 });
  const call = (
    method: string,
    path: string,
    body?: string,
    ct = 'application/json',
  ): Promise<{ status: number; text: string; firstMs: number; totalMs: number }> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      let firstMs = NaN;
      const req = request(
        `${st.url}${path}`,
        { method, agent, headers: { 'Content-Type': ct, Accept: 'application/json', Authorization: auth } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => {
            if (!chunks.length) firstMs = performance.now() - t0;
            chunks.push(d);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
              firstMs,
              totalMs: performance.now() - t0,
            }),
          );
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        // a kept-alive socket the server closed while this process parsed a large list: once more
        if (req.reusedSocket && e.code === 'ECONNRESET') call(method, path, body, ct).then(resolve, reject);
        else reject(e);
      });
      req.end(body);
    });
  try {
    const have = await call('GET', `${CEPS}?limit=1`);
    if (have.status !== 200) {
      const crd = await call(
        'POST',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
        crdYaml,
        'application/yaml',
      );
      if (crd.status !== 201 && crd.status !== 409) throw new Error(`CRD create: ${crd.status} ${crd.text}`);
      await call('POST', '/api/v1/namespaces', JSON.stringify({ metadata: { name: NS } }));
      for (let i = 0; (await call('GET', `${CEPS}?limit=1`)).status !== 200; i++) {
        if (i > 200) throw new Error('CRD not served');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const present = (JSON.parse((await call('GET', CEPS)).text) as { items: unknown[] }).items.length;
    if (present < COUNT) {
      const t0 = performance.now();
      const indexes = Array.from({ length: COUNT - present }, (_, i) => present + i);
      await pool(indexes, CONCURRENCY, async (i) => {
        const name = `pod-${i}`;
        const c = await call(
          'POST',
          CEPS,
          JSON.stringify({
            metadata: { name, namespace: NS, labels: { 'cilium.io/node': `sim-${i % 100}` } },
          }),
        );
        if (c.status !== 201) throw new Error(`create ${name}: ${c.status} ${c.text.slice(0, 200)}`);
        const status = {
          status: {
            id: 1,
            identity: { id: 100_000 + (i % 1000), labels: [`k8s:app=app-${i % 1000}`] },
            networking: {
              addressing: [{ ipv4: `10.${128 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` }],
              node: '172.31.0.1',
            },
            state: 'ready',
          },
        };
        const p = await call('PATCH', `${CEPS}/${name}/status`, JSON.stringify(status), 'application/merge-patch+json');
        if (p.status !== 200) throw new Error(`status ${name}: ${p.status} ${p.text.slice(0, 200)}`);
      });
      console.error(`loaded ${COUNT - present} CEPs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const whole: { first: number; total: number; bytes: number; cpu: number }[] = [];
    const paged: number[] = [];
    const pagedCpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const c0 = procUsage(st.apiserverPid).cpuMs;
      const w = await call('GET', `${CEPS}?resourceVersion=0`);
      const c1 = procUsage(st.apiserverPid).cpuMs;
      const n = (JSON.parse(w.text) as { items: unknown[] }).items.length;
      if (w.status !== 200 || n < COUNT) throw new Error(`whole list: ${w.status}, ${n} items`);
      whole.push({ first: w.firstMs, total: w.totalMs, bytes: w.text.length, cpu: c1 - c0 });
      const t0 = performance.now();
      let cont = '';
      do {
        const p = await call('GET', `${CEPS}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
        cont = (JSON.parse(p.text) as { metadata: { continue?: string } }).metadata.continue ?? '';
      } while (cont);
      paged.push(performance.now() - t0);
      pagedCpu.push(procUsage(st.apiserverPid).cpuMs - c1);
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    const fmt = (xs: number[]): string => `median ${med(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`;
    console.log(`${COUNT} CiliumEndpoints, ${(whole[0]?.bytes ?? 0) / 1e6} MB, ${RUNS} runs`);
    console.log(`whole list (resourceVersion=0): first byte ${fmt(whole.map((w) => w.first))}`);
    console.log(`whole list (resourceVersion=0): last byte  ${fmt(whole.map((w) => w.total))}`);
    console.log(`whole list (resourceVersion=0): server CPU ${fmt(whole.map((w) => w.cpu))}`);
    console.log(`pages of 500 (a relist):        all pages  ${fmt(paged)}`);
    console.log(`pages of 500 (a relist):        server CPU ${fmt(pagedCpu)}`);
    console.log(`API server RSS after the runs: ${procUsage(st.apiserverPid).rssMiB.toFixed(0)} MiB`);
  } finally {
    agent.destroy();
    if (!values.keep) await downDetached(dir);
  }
}

await main();
