// Token-lifetime soak (issue 23): a two-node devcluster whose pods get 2-minute tokens (the
// kubelet runner's projected kube-api-access volume, rotated by a ..data swap), left running for
// 10 minutes; at minute 9 a CiliumClusterwideNetworkPolicy is applied. It reports how often each
// kube-system pod's token was rotated, whether every agent still answers,
// whether the policy was accepted (its Valid condition, written by an agent with its own token),
// and how many requests the API server refused with 401 (a client stuck on an expired token).
// Needs root (network namespaces). Not part of `npm test`:
//   npx tsx hack/token-soak.ts [--minutes 10] [--token-seconds 120]
import { existsSync, readdirSync, readFileSync, readlinkSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AgentClient } from '../controllers/agent/api/client.js';
import { KubeClient, type KubeObject } from '../controllers/framework/index.js';
import { downDetached, upDetached } from '../devcluster/cluster.js';
import { NodesLayout } from '../devcluster/nodes/layout.js';
import { downNodes, upNodes } from '../devcluster/nodes/nodes.js';

const { values } = parseArgs({ options: { minutes: { type: 'string' }, 'token-seconds': { type: 'string' } } });
const MINUTES = Number(values.minutes ?? 10);
const TOKEN_SECONDS = Number(values['token-seconds'] ?? 120);
const CCNP = {
  group: 'cilium.io',
  version: 'v2',
  plural: 'ciliumclusterwidenetworkpolicies',
  kind: 'CiliumClusterwideNetworkPolicy',
  namespaced: false,
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (m: string): void => console.log(`${new Date().toISOString()} ${m}`);

const dir = mkdtempSync(join(tmpdir(), 'kts-token-soak-'));
process.env.KTS_DEVCLUSTER_TOKEN_SECONDS = String(TOKEN_SECONDS);
const started = Date.now();
try {
  await upDetached({ dir, port: 0, tokenMinExpirationSeconds: TOKEN_SECONDS });
  const nodes = await upNodes(dir, { nodes: 2 });
  log(`up: ${nodes.nodes.map((n) => n.name).join(', ')}; tokens live ${TOKEN_SECONDS} s`);
  const layout = new NodesLayout(dir);
  // every kube-system pod's token volume (agents, operators); its ..data link moves at each rotation
  const tokenVolumes = (): string[] =>
    nodes.nodes.flatMap((n) => {
      const pods = layout.node(n.name).pods;
      return readdirSync(pods)
        .filter((p) => p.startsWith('kube-system_'))
        .map((p) => join(pods, p, 'volumes', 'kube-api-access'))
        .filter((d) => existsSync(join(d, '..data')));
    });
  const rotations = new Map<string, number>();
  const lastVersion = new Map<string, string>();
  const podOf = (volume: string): string =>
    volume
      .split('/')
      .slice(-3, -2)[0]!
      .replace(/^kube-system_/, '');
  const admin = KubeClient.fromFile(join(dir, 'kubeconfig'));
  const policyAt = started + (MINUTES - 1) * 60_000;
  let applied = false;
  while (Date.now() < started + MINUTES * 60_000) {
    for (const v of tokenVolumes()) {
      const version = readlinkSync(join(v, '..data'));
      const last = lastVersion.get(v);
      if (last === undefined) rotations.set(v, 0);
      else if (version !== last) rotations.set(v, (rotations.get(v) ?? 0) + 1);
      lastVersion.set(v, version);
    }
    if (!applied && Date.now() >= policyAt) {
      await admin.create(CCNP, {
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: { name: 'soak' },
        spec: {
          endpointSelector: { matchLabels: { app: 'soak' } },
          ingress: [{ fromEndpoints: [{ matchLabels: { app: 'client' } }] }],
        },
      } as KubeObject);
      applied = true;
      log('applied CCNP soak');
    }
    await sleep(5000);
  }
  const ccnp = await admin.get<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(
    CCNP,
    'soak',
  );
  const valid = ccnp.status?.conditions?.find((c) => c.type === 'Valid')?.status ?? 'absent';
  const health = await Promise.all(
    nodes.nodes.map(async (n) => {
      try {
        return `${n.name}: ${(await new AgentClient({ socketPath: layout.node(n.name).socket, timeoutMs: 2000 }).healthz()).status}`;
      } catch (e) {
        return `${n.name}: ${(e as Error).message}`;
      }
    }),
  );
  const apiLog = readFileSync(join(dir, 'apiserver.log'), 'utf8');
  const refused = apiLog.split('\n').filter((l) => / 401 \d+ms/.test(l)).length;
  const agentLogs = nodes.nodes.map((n) => readFileSync(layout.node(n.name).agentLog, 'utf8'));
  const unauthorizedInLogs = agentLogs.reduce(
    (k, t) => k + (t.match(/Unauthorized|KTS_ERR_UNAUTHORIZED/g) ?? []).length,
    0,
  );
  admin.close();
  console.log(`token soak: ${MINUTES} min, ${TOKEN_SECONDS} s tokens, ${nodes.nodes.length} nodes`);
  for (const [v, k] of rotations) console.log(`  token rotations of pod ${podOf(v)}: ${k}`);
  console.log(`  CCNP applied at minute ${MINUTES - 1}: Valid=${valid}`);
  console.log(`  agents: ${health.join(', ')}`);
  console.log(`  requests refused with 401: ${refused}; "Unauthorized" in agent logs: ${unauthorizedInLogs}`);
  const rotated = [...rotations.values()].every((k) => k >= 1) && rotations.size > 0;
  process.exitCode = valid === 'True' && refused === 0 && rotated ? 0 : 1;
} finally {
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir);
}
