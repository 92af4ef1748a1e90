// `cilium policy whatif -f FILE… [--delete NAME…] [--since 15m] [--namespace NS] [--flows FILE] [-o json]`:
// reads the proposed policies (checked as `kubectl apply` would, and nothing else runs when one is
// invalid), the cluster's policies, identities and endpoints from the API, and recent flows from
// hubble-relay or a saved `hubble observe -o json` file; prints whatif/'s report. Exit code 2
// when a connection allowed today would be dropped (a GitOps gate), 1 on an error.
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { CiliumEndpoint, CiliumIdentity } from '../../crds/index.js';
import { defaultServer, parseTime } from '../../hubble/cli.js';
import { HubbleClient } from '../../hubble/client.js';
import type { Flow } from '../../hubble/types.js';
import type { PolicyObject } from '../../policy/index.js';
import {
  checkProposed,
  formatReport,
  parseFlowFile,
  resolveDelete,
  whatIf,
  WhatIfError,
  WhatIfErrorCode,
  type ClusterState,
} from '../../whatif/index.js';

export const POLICY_USAGE = `usage: cilium policy whatif -f FILE… [flags]
  Replays the cluster's recent flows against proposed policy changes, in memory (nothing is written).
  -f, --filename FILE    policies to apply (YAML or JSON, several documents; a directory; - for stdin; repeatable)
  --delete [KIND/][NS/]NAME   a policy to delete (KIND: cnp, ccnp, netpol; repeatable)
  --since DURATION       flows from relay since then (default 15m; 5m, 1h30m or RFC 3339)
  --flows FILE           read flows from a saved \`hubble observe -o json\` file instead of relay
  -n, --namespace NS     default namespace of the files and --delete; only flows touching NS
  -o, --output FORMAT    table (default) or json
  --server ADDR          hubble-relay (default $HUBBLE_SERVER, else the devcluster's relay, else localhost:4245)
  --kubeconfig FILE      (default $KUBECONFIG)
exit code: 0 nothing allowed today would be dropped; 2 something would; 1 an error (an invalid policy, …)`;

export interface PolicyCliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Reads `-` (stdin). */
  stdin?: () => string;
  loadKubeConfig: (path?: string) => KubeConfig;
  env?: Record<string, string | undefined>;
}

const RESOURCES: [string, string, PolicyObject['kind'] | 'CiliumIdentity' | 'CiliumEndpoint'][] = [
  ['cilium.io/v2', 'CiliumNetworkPolicy', 'CiliumNetworkPolicy'],
  ['cilium.io/v2', 'CiliumClusterwideNetworkPolicy', 'CiliumClusterwideNetworkPolicy'],
  ['networking.k8s.io/v1', 'NetworkPolicy', 'NetworkPolicy'],
  ['cilium.io/v2', 'CiliumIdentity', 'CiliumIdentity'],
  ['cilium.io/v2', 'CiliumEndpoint', 'CiliumEndpoint'],
];

/** Today's policies, identities and endpoints, listed across all namespaces. */
export async function fetchClusterState(kc: KubeConfig): Promise<ClusterState> {
  const api = kc.makeApiClient(KubernetesObjectApi);
  const lists = await Promise.all(
    RESOURCES.map(async ([apiVersion, kind]) => (await api.list<KubernetesObject>(apiVersion, kind)).items),
  );
  const [cnp, ccnp, np, ids, ceps] = lists as [
    KubernetesObject[],
    KubernetesObject[],
    KubernetesObject[],
    unknown[],
    unknown[],
  ];
  const policies: PolicyObject[] = [
    ...cnp.map((object) => ({ kind: 'CiliumNetworkPolicy', object }) as PolicyObject),
    ...ccnp.map((object) => ({ kind: 'CiliumClusterwideNetworkPolicy', object }) as PolicyObject),
    ...np.map((object) => ({ kind: 'NetworkPolicy', object }) as PolicyObject),
  ];
  return { policies, identities: ids as CiliumIdentity[], endpoints: ceps as CiliumEndpoint[] };
}

/** Every flow relay holds since `since` (all nodes, merged by time). */
export async function fetchFlows(server: string, since: string, now = Date.now()): Promise<Flow[]> {
  const client = new HubbleClient(server);
  const flows: Flow[] = [];
  try {
    for await (const r of client.getFlows({ since: parseTime(since, now) })) if (r.flow) flows.push(r.flow);
  } finally {
    client.close();
  }
  return flows;
}

function filesOf(path: string): string[] {
  if (path === '-' || !statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

/** Parses the -f files into documents (YAML is a superset of JSON). */
export function readDocuments(paths: readonly string[], stdin?: () => string): { object: unknown; origin: string }[] {
  const docs: { object: unknown; origin: string }[] = [];
  for (const file of paths.flatMap(filesOf)) {
    const text = file === '-' ? (stdin?.() ?? readFileSync(0, 'utf8')) : readFileSync(file, 'utf8');
    for (const d of parseAllDocuments(text)) {
      if (d.errors.length)
        throw new WhatIfError(WhatIfErrorCode.BadInput, `error parsing ${file}: ${d.errors[0]!.message}`);
      docs.push({ object: d.toJS(), origin: file });
    }
  }
  return docs;
}

export async function runPolicyCli(argv: string[], io: PolicyCliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        delete: { type: 'string', multiple: true },
        since: { type: 'string' },
        flows: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        output: { type: 'string', short: 'o' },
        server: { type: 'string' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    io.err(`error: ${(e as Error).message}\n${POLICY_USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(POLICY_USAGE);
    return 0;
  }
  if (positionals.join(' ') !== 'whatif') {
    io.err(`error: unknown command "policy ${positionals.join(' ')}"\n${POLICY_USAGE}`);
    return 1;
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') {
    io.err(`error: unknown output "${output}" (table, json)`);
    return 1;
  }
  if (!values.filename?.length && !values.delete?.length) {
    io.err(`error: nothing proposed: give -f FILE and/or --delete NAME\n${POLICY_USAGE}`);
    return 1;
  }
  const namespace = values.namespace;
  try {
    // The proposal first: an invalid policy stops everything, as `kubectl apply` refuses it.
    const apply = checkProposed(readDocuments(values.filename ?? [], io.stdin), namespace ?? 'default');
    const state = await fetchClusterState(io.loadKubeConfig(values.kubeconfig));
    const del = (values.delete ?? []).map((d) => resolveDelete(d, state.policies, namespace ?? 'default'));
    const flows = values.flows
      ? parseFlowFile(readFileSync(values.flows, 'utf8'))
      : await fetchFlows(values.server ?? defaultServer(io.env ?? process.env), values.since ?? '15m');
    const report = whatIf(flows, state, { apply, delete: del }, { namespace });
    io.out(output === 'json' ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.breaking ? 2 : 0;
  } catch (e) {
    if (e instanceof WhatIfError) io.err(e.code === WhatIfErrorCode.InvalidPolicy ? e.message : `error: ${e.message}`);
    else {
      const g = e as { code?: number; details?: string; message?: string };
      io.err(`error: ${g.code === 14 ? `cannot reach hubble-relay: ${g.details}` : (g.message ?? String(e))}`);
    }
    return 1;
  }
}
