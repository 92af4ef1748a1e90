// `cilium connectivity test [flags]`: flags, the run, and its output (text, --json, --junit-file).
// Exit codes: 0 every scenario passed, 1 a scenario failed or the run could not complete, 2 usage.
import type { KubeConfig } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatJson, formatJUnit, formatReport, summary } from './report.js';
import { CONNECTIVITY_DEFAULTS, ConnectivityTest } from './runner.js';
import { SCENARIOS } from './scenarios.js';

export const CONNECTIVITY_USAGE = `usage: cilium connectivity test [flags]
  Deploys test workloads into their own namespaces, checks pod-to-pod, pod-to-service, pod-to-host,
  host-to-pod and the policy families with real connections from inside the pods, and cleans up.
  --test REGEX               run only the scenarios whose name matches (cilium connectivity test --list)
  --list                     print the scenarios and exit
  --test-namespace NS        default ${CONNECTIVITY_DEFAULTS.namespace} (and NS-other)
  --image IMAGE              image of the test containers (needs node), default ${CONNECTIVITY_DEFAULTS.image}
  --image-pull-secret NAME   repeatable
  --external-target IP:PORT  an HTTP server outside the cluster (IPv4), for pod-to-world and the CIDR
                             scenarios (else skipped)
  --hubble-server ADDR       hubble-relay (host:port or unix:///path): drop reasons of failed connections
  --junit-file FILE          write the results as JUnit XML
  --json                     print the results as JSON instead of text
  --cleanup=false            keep the namespaces and workloads afterwards
  --probe-timeout SECONDS    a connection unanswered this long counts as dropped (default ${CONNECTIVITY_DEFAULTS.probeTimeoutMs / 1000})
  --policy-timeout SECONDS   how long policies may take to take effect (default ${CONNECTIVITY_DEFAULTS.policyTimeoutMs / 1000})
  --kubeconfig FILE`;

export interface ConnectivityIo {
  out: (text: string) => void;
  err: (text: string) => void;
  loadKubeConfig: (path?: string) => KubeConfig;
}

function seconds(flag: string, v: string | undefined, fallbackMs: number): number {
  if (v === undefined) return fallbackMs;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new Error(`--${flag} ${v}: expected seconds between 0 and 3600`);
  return n * 1000;
}

export async function runConnectivityCli(argv: string[], io: ConnectivityIo): Promise<number> {
  if (argv[0] !== 'test') {
    io.err(`cilium connectivity: ${argv[0] ? `unknown command ${argv[0]}` : 'missing command'}\n${CONNECTIVITY_USAGE}`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: argv.slice(1).map((a) => (a === '--cleanup' ? '--cleanup=true' : a)),
      options: {
        test: { type: 'string' },
        list: { type: 'boolean' },
        'test-namespace': { type: 'string' },
        image: { type: 'string' },
        'image-pull-secret': { type: 'string', multiple: true },
        'external-target': { type: 'string' },
        'hubble-server': { type: 'string' },
        'junit-file': { type: 'string' },
        json: { type: 'boolean' },
        cleanup: { type: 'string' },
        'probe-timeout': { type: 'string' },
        'policy-timeout': { type: 'string' },
        kubeconfig: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
    if (values.cleanup !== undefined && !['true', 'false'].includes(values.cleanup))
      throw new Error(`--cleanup=${values.cleanup}: expected true or false`);
    if (values['external-target'] && !/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(values['external-target']))
      throw new Error(`--external-target ${values['external-target']}: expected an IPv4 address and a port, IP:PORT`);
  } catch (e) {
    io.err(`cilium connectivity test: ${(e as Error).message}\n${CONNECTIVITY_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(`${CONNECTIVITY_USAGE}\n`);
    return 0;
  }
  if (values.list) {
    io.out(SCENARIOS.map((s) => `${s.name.padEnd(40)} ${s.promise}`).join('\n') + '\n');
    return 0;
  }
  let test: RegExp | undefined;
  try {
    test = values.test ? new RegExp(values.test) : undefined;
  } catch (e) {
    io.err(`cilium connectivity test: --test ${values.test}: ${(e as Error).message}`);
    return 2;
  }
  let probeTimeoutMs: number;
  let policyTimeoutMs: number;
  try {
    probeTimeoutMs = seconds('probe-timeout', values['probe-timeout'], CONNECTIVITY_DEFAULTS.probeTimeoutMs);
    policyTimeoutMs = seconds('policy-timeout', values['policy-timeout'], CONNECTIVITY_DEFAULTS.policyTimeoutMs);
  } catch (e) {
    io.err(`cilium connectivity test: ${(e as Error).message}`);
    return 2;
  }
  const log = values.json ? (l: string) => io.err(`${l}\n`) : (l: string) => io.out(`${l}\n`);
  const runner = new ConnectivityTest(io.loadKubeConfig(values.kubeconfig), {
    ...CONNECTIVITY_DEFAULTS,
    namespace: values['test-namespace'] ?? CONNECTIVITY_DEFAULTS.namespace,
    image: values.image ?? CONNECTIVITY_DEFAULTS.image,
    imagePullSecrets: values['image-pull-secret'] ?? [],
    ...(test ? { test } : {}),
    cleanup: values.cleanup !== 'false',
    probeTimeoutMs,
    policyTimeoutMs,
    ...(values['hubble-server'] ? { hubbleServer: values['hubble-server'] } : {}),
    ...(values['external-target'] ? { externalTarget: values['external-target'] } : {}),
    log,
  });
  const result = await runner.run();
  if (values['junit-file']) writeFileSync(values['junit-file'], formatJUnit(result));
  if (values.json) io.out(formatJson(result));
  else io.out(formatReport(result));
  return summary(result).failedTests > 0 ? 1 : 0;
}
