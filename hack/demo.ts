// `npm run demo` (after hack/setup.sh): a two-node devcluster with cilium-ts as its CNI, a small
// app across two namespaces and both nodes, the reachability matrix measured with real TCP,
// example policies (L3, L4, a deny, a CCNP, a NetworkPolicy), the matrix again — checked against
// what the policies say — and `kubectl get cep -A`. The cluster stays up for exploring.
//   npm run demo [-- --dir DIR] [-- --down]      (--down: tear the cluster down at the end)
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeClient, testing } from '../controllers/framework/index.js';
import { APP, APP_NAMESPACES, APP_YAML, POLICIES, SOURCES, TARGETS } from './demo-app.js';
import { downDetached, readState, upDetached } from '../devcluster/cluster.js';
import { downNodes, upNodes } from '../devcluster/nodes/nodes.js';
import { NodesLayout } from '../devcluster/nodes/layout.js';
import { tcpFromPod, waitForPodCIDRs, waitForPods } from '../devcluster/nodes/cluster-checks.js';
import { toolPath } from './tools.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, down: { type: 'boolean' } } });
const ROOT = resolve(import.meta.dirname, '..');
const dir = resolve(values.dir ?? join(ROOT, '.devcluster'));
const kubeconfig = join(dir, 'kubeconfig');
const say = (s = '') => console.log(s ? `[demo] ${s}` : '');
const kubectl = async (args: string[], stdin?: string): Promise<string> =>
  new Promise((res, rej) => {
    const p = spawn(toolPath('kubectl'), args, {
      env: { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'kubecache') },
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`kubectl ${args.join(' ')}: ${err}`))));
    p.stdin.end(stdin ?? '');
  });

// What the policies say, cell by cell (sources × targets); the demo checks the kernel agrees.
const EXPECTED_AFTER: Record<string, boolean[]> = {
  'shop/frontend': [true, true, false, false],
  'shop/backend': [true, true, true, false],
  'shop/intruder': [false, false, false, false],
  'data/reporting': [false, false, true, true],
};

let ips = new Map<string, string>();

async function tcp(from: string, target: string): Promise<boolean> {
  const [to, port] = target.split(':') as [string, string];
  return from === to || tcpFromPod(dir, from, ips.get(to)!, Number(port));
}

async function matrix(): Promise<Record<string, boolean[]>> {
  const out: Record<string, boolean[]> = {};
  await Promise.all(SOURCES.map(async (s) => (out[s] = await Promise.all(TARGETS.map((t) => tcp(s, t))))));
  return out;
}

function print(title: string, m: Record<string, boolean[]>): void {
  say(title);
  const w = 16;
  console.log(`    ${'from \\ to'.padEnd(w)}${TARGETS.map((t) => t.padEnd(20)).join('')}`);
  for (const s of SOURCES)
    console.log(
      `    ${s.padEnd(w)}${m[s]!.map((ok, i) => (SOURCES[SOURCES.indexOf(s)] === TARGETS[i]!.split(':')[0] ? '(self)' : ok ? 'open' : 'closed').padEnd(20)).join('')}`,
    );
}

async function main(): Promise<void> {
  say(`Node ${process.version}; cluster directory ${dir}`);
  if (readState(dir)) {
    say('an earlier devcluster is running there: taking it down first');
    await downNodes(dir).catch(() => undefined);
    await downDetached(dir);
  }
  say('starting etcd, the API server, cilium-operator and two nodes with a cilium-agent each …');
  let client: KubeClient | undefined;
  try {
    const api = await upDetached({ dir });
    const nodes = await upNodes(dir, { nodes: 2 });
    say(
      `API server ${api.url}; nodes ${nodes.nodes.map((n) => `${n.name} (${n.ip})`).join(', ')}; pod pool ${nodes.ranges.clusterPool}`,
    );
    client = KubeClient.fromFile(kubeconfig);
    await waitForPodCIDRs(client, 2, 60_000);
    say('deploying the app: shop/{frontend,backend,intruder}, data/{db,reporting} across both nodes');
    await kubectl(['apply', '-f', '-'], APP_YAML);
    ips = await waitForPods(client, {
      count: APP.length,
      namespaces: APP_NAMESPACES,
      what: 'the app pods',
      timeoutMs: 90_000,
    });
    await testing.waitFor(
      async () => (await tcp('shop/frontend', 'data/db:5432')) && (await tcp('shop/frontend', 'shop/backend:8080')),
      { what: 'the servers to listen', timeoutMs: 30_000 },
    );
    console.log(await kubectl(['get', 'pods', '-A', '-o', 'wide']));

    const before = await matrix();
    print('reachability before any policy (real TCP connects from each pod):', before);
    for (const p of POLICIES) {
      say(`applying ${p.what}`);
      await kubectl(['apply', '-f', '-'], p.yaml);
    }
    let after: Record<string, boolean[]> = before;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      after = await matrix();
      if (SOURCES.every((s) => after[s]!.every((v, i) => v === EXPECTED_AFTER[s]![i]))) break;
    }
    print('reachability with the policies:', after);
    const wrong = SOURCES.flatMap((s) =>
      after[s]!.map((v, i) => (v === EXPECTED_AFTER[s]![i] ? '' : `${s} → ${TARGETS[i]} is ${v ? 'open' : 'closed'}`)),
    ).filter(Boolean);
    const allOpenBefore = SOURCES.every((s) => before[s]!.every(Boolean));
    console.log(await kubectl(['get', 'cep', '-A']));
    console.log(await kubectl(['get', 'cnp,ccnp', '-A']));
    if (wrong.length || !allOpenBefore) {
      say(`MISMATCH: ${!allOpenBefore ? 'not everything was open before the policies; ' : ''}${wrong.join('; ')}`);
      process.exitCode = 1;
    } else say('the matrices differ exactly as the policies say');
  } finally {
    client?.close();
    // --down holds on failure too: a failed run leaves no namespace, process or pin behind
    if (values.down) {
      await downNodes(dir).catch((e: Error) => say(`taking the nodes down failed: ${e.message}`));
      await downDetached(dir);
      say('devcluster taken down (--down)');
    }
  }
  if (values.down) return;
  say('');
  say('explore further:');
  say(`  export KUBECONFIG=${kubeconfig}`);
  say('  npx kubectl get cep,cnp,ccnp,ciliumid,cn -A  # what cilium-ts wrote (kubectl 1.32, set up by npm run setup)');
  say(
    '  npm run devcluster -- exec shop/frontend -- python3 -c "import urllib.request as u; print(u.urlopen(\'http://' +
      (ips.get('shop/backend') ?? 'BACKEND') +
      ':8080\').status)"',
  );
  say(`  logs: ${join(dir, 'nodes')}/<node>/pods/kube-system_cilium-*/cilium-agent.log (the agents' pods)`);
  const ui = new NodesLayout(dir).read()?.hubbleUiUrl;
  if (ui) say(`  open the Hubble UI (service map, flows, why a policy dropped one): ${ui}`);
  say('  npm run devcluster -- down                 # removes every namespace, link, pin and process');
}

await main();
