// `cilium policy whatif` end to end on a two-node devcluster with the demo app (hack/demo.ts):
// traffic is real TCP from each pod, flows come from hubble-relay, and what-if's answer is held
// against the reachability matrix measured after the change is really applied.
//   - a deny policy: what-if lists exactly the connections that then close, nothing else;
//   - deleting an allow policy: what-if lists exactly the connections that then open (or close);
//   - the flows saved with `hubble observe -o json` give the same answer offline (--flows).
// WHATIF_WRITE_FIXTURE=1 also writes the saved flows and cluster state to test/whatif/fixtures/.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testing, type KubeClient } from '../../controllers/framework/index.js';
import {
  APP,
  APP_YAML,
  BACKEND_FROM_FRONTEND,
  DB_INGRESS,
  FRONTEND_DENY_INTRUDER,
  REPORTING_STAYS,
  SOURCES,
  TARGETS,
} from '../../hack/demo-app.js';
import { NodesLayout } from '../../devcluster/nodes/layout.js';
import { relaySocket } from '../../devcluster/nodes/processes.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../../devcluster/nodes/cluster-checks.js';
import type { WhatIfReport } from '../../whatif/index.js';
import { SelfHostedCluster, type Kubectl } from './harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-whatif-'));
const cluster = new SelfHostedCluster(dir);
const kubeconfig = join(dir, 'kubeconfig');
const relay = (): string => `unix://${relaySocket(new NodesLayout(dir))}`;

let client: KubeClient;
let kubectl: Kubectl;
let ips = new Map<string, string>();

async function tcp(from: string, target: string): Promise<boolean> {
  const [to, port] = target.split(':') as [string, string];
  return tcpFromPod(dir, from, ips.get(to)!, Number(port));
}

/** Open cells of the reachability matrix, as "source → destination:port" (self cells left out). */
async function matrix(): Promise<Set<string>> {
  const cells = SOURCES.flatMap((s) => TARGETS.filter((t) => !t.startsWith(`${s}:`)).map((t) => [s, t] as const));
  const open = await Promise.all(cells.map(([s, t]) => tcp(s, t)));
  return new Set(cells.filter((_, i) => open[i]).map(([s, t]) => `${s} → ${t}`));
}

/** The matrix once the agents have applied a change: two equal measurements in a row. */
async function settledMatrix(): Promise<Set<string>> {
  await new Promise((r) => setTimeout(r, 2000));
  let last = await matrix();
  for (let i = 0; i < 10; i++) {
    const next = await matrix();
    if ([...next].sort().join() === [...last].sort().join()) return next;
    last = next;
  }
  throw new Error('reachability did not settle');
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'cmd', cmd), ...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

async function whatif(args: string[]): Promise<{ code: number | null; report: WhatIfReport }> {
  const r = await run('cilium.ts', [
    'policy',
    'whatif',
    ...args,
    '--server',
    relay(),
    '--kubeconfig',
    kubeconfig,
    '-o',
    'json',
  ]);
  if (r.code !== 0 && r.code !== 2) throw new Error(`cilium policy whatif exited ${r.code}: ${r.err}`);
  return { code: r.code, report: JSON.parse(r.out) as WhatIfReport };
}

const changed = (r: WhatIfReport, after: 'allowed' | 'dropped'): string[] =>
  r.changes
    .filter((c) => c.after === after)
    .map((c) => `${c.source} → ${c.destination}:${c.port}`)
    .sort();

const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** Saves relay's recent flows as `hubble observe -o json` does. */
async function saveFlows(since: string): Promise<string> {
  const r = await run('hubble.ts', ['observe', '--since', since, '-o', 'json', '--server', relay()]);
  if (r.code !== 0) throw new Error(`hubble observe: ${r.err}`);
  return r.out;
}

/** The cluster's policies, identities and endpoints as `kubectl get -o json` prints them. */
async function clusterState(): Promise<string> {
  return kubectl.ok([
    'get',
    'ciliumnetworkpolicies,ciliumclusterwidenetworkpolicies,networkpolicies,ciliumidentities,ciliumendpoints',
    '-A',
    '-o',
    'json',
  ]);
}

async function fixture(name: string, flows: string, state: string, report: WhatIfReport): Promise<void> {
  if (!process.env.WHATIF_WRITE_FIXTURE) return;
  const out = join(ROOT, 'test', 'whatif', 'fixtures');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${name}.flows.json`), flows);
  writeFileSync(join(out, `${name}.state.json`), state);
  writeFileSync(join(out, `${name}.report.json`), `${JSON.stringify(report, null, 2)}\n`);
}

beforeAll(async () => {
  ({ client, kubectl } = await cluster.up({ nodes: 2 }));
  await waitForPodCIDRs(client, 2, 90_000);
  await kubectl.ok(['apply', '-f', '-'], APP_YAML);
  ips = await waitForPods(client, { count: APP.length, what: 'the demo pods', timeoutMs: 120_000 });
  await testing.waitFor(
    async () => (await tcp('shop/frontend', 'data/db:5432')) && (await tcp('shop/intruder', 'shop/backend:8080')),
    {
      what: 'the servers to listen',
      timeoutMs: 60_000,
    },
  );
}, 300_000);

afterAll(() => cluster.down(), 120_000);

describe('cilium policy whatif on the demo cluster', () => {
  it('a deny policy: lists exactly the connections the matrix then shows closed; offline from saved flows too', async () => {
    const before = await settledMatrix(); // traffic: every cell, so relay has a flow for each
    expect(before.size).toBe(SOURCES.length * TARGETS.length - 2); // all open before any policy
    const deny = file('deny.yaml', FRONTEND_DENY_INTRUDER);
    const live = await whatif(['-f', deny, '--since', '5m']);
    const flows = await saveFlows('5m');
    const state = await clusterState(); // before the apply: what the offline check replays against
    const offline = await whatif(['-f', deny, '--flows', file('flows.json', flows)]);

    await kubectl.ok(['apply', '-f', deny]);
    const after = await settledMatrix();
    const closed = [...before].filter((c) => !after.has(c)).sort();
    const opened = [...after].filter((c) => !before.has(c)).sort();
    expect(closed.length).toBeGreaterThan(0);
    expect(changed(live.report, 'dropped')).toEqual(closed);
    expect(changed(live.report, 'allowed')).toEqual(opened);
    expect(live.code).toBe(2); // something allowed today would be dropped: the gate fails
    expect(live.report.summary.stale).toBe(0);
    expect(live.report.changes[0]!.reason).toBe(
      'denied by CiliumNetworkPolicy/shop/frontend-deny-intruder spec.ingressDeny[0]',
    );
    // the saved flows give the same answer
    expect(offline.report.changes).toEqual(live.report.changes);
    expect(offline.code).toBe(2);
    await fixture('demo-deny', flows, state, offline.report);
    await kubectl.ok(['delete', '-f', deny]);
  }, 240_000);

  it('deleting an allow policy: lists exactly the connections that then open or close', async () => {
    await kubectl.ok(
      ['apply', '-f', '-'],
      [BACKEND_FROM_FRONTEND, FRONTEND_DENY_INTRUDER, DB_INGRESS, REPORTING_STAYS].join('\n---\n'),
    );
    const t0 = Date.now();
    const before = await settledMatrix();
    const since = `${Math.ceil((Date.now() - t0) / 1000) + 1}s`;
    const live = await whatif(['--delete', 'cnp/backend-from-frontend', '-n', 'shop', '--since', since]);

    await kubectl.ok(['delete', 'cnp', 'backend-from-frontend', '-n', 'shop']);
    const after = await settledMatrix();
    const closed = [...before].filter((c) => !after.has(c)).sort();
    const opened = [...after].filter((c) => !before.has(c)).sort();
    expect(opened.length).toBeGreaterThan(0);
    expect(changed(live.report, 'allowed')).toEqual(opened);
    expect(changed(live.report, 'dropped')).toEqual(closed);
    expect(live.code).toBe(closed.length ? 2 : 0);
    expect(live.report.changes.find((c) => c.after === 'allowed')!.reason).toBe(
      'no policy selects the destination for ingress: not enforced',
    );
  }, 240_000);
});
