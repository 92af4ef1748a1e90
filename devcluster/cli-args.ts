// The devcluster CLI's command line: verbs, their options and usage text. Parsed here, apart from
// the verbs' work, so `--help` and a mistyped option answer without starting anything.
import { parseArgs } from 'node:util';

/** Options every verb accepts, with the usage line of each. */
const OPTIONS = {
  dir: { type: 'string', usage: '--dir D             state directory (default .devcluster in the checkout)' },
  port: { type: 'string', usage: '--port N            API server port (0: any free port)' },
  token: { type: 'string', usage: '--token T           the admin bearer token in the kubeconfig (default: random)' },
  'token-seconds': {
    type: 'string',
    usage: "--token-seconds S   components' service-account token lifetime (below kube's 600 s, for soaks)",
  },
  'no-enforce': { type: 'boolean', usage: '--no-enforce        accept any request (no authentication or RBAC)' },
  nodes: { type: 'string', usage: '--nodes N           also start N nodes and install cilium-ts as their pods' },
  'without-agents': { type: 'boolean', usage: '--without-agents    with --nodes: nodes only, no install' },
  routed: { type: 'boolean', usage: '--routed            with --nodes: each node on its own subnet behind a router' },
  'routing-mode': { type: 'string', usage: '--routing-mode M    with --nodes: native (default) | tunnel' },
  'tunnel-protocol': {
    type: 'string',
    usage: '--tunnel-protocol P with --routing-mode tunnel: vxlan (default) | geneve',
  },
  kvstore: {
    type: 'boolean',
    usage: '--kvstore           with --nodes: an etcd (TLS) as the kvstore, the install in kvstore identity mode',
  },
  help: { type: 'boolean', short: 'h', usage: '-h, --help          this text' },
} as const;

const VERBS: Record<string, string> = {
  up: 'up [--port N] [--token T] [--token-seconds S] [--no-enforce] [--dir D] [--nodes N [--without-agents] [--routed] [--routing-mode M [--tunnel-protocol P]] [--kvstore]]',
  status: 'status [--dir D]',
  exec: 'exec NAMESPACE/POD -- CMD… [--dir D]',
  down: 'down [--dir D]',
};

/** What `npm run devcluster -- --help` prints. */
export const USAGE = `Usage: npm run devcluster -- <verb> [options]

Verbs:
${Object.values(VERBS)
  .map((v) => `  ${v}`)
  .join('\n')}

Options:
${Object.values(OPTIONS)
  .map((o) => `  ${o.usage}`)
  .join('\n')}`;

export interface DevclusterArgs {
  dir?: string;
  port?: string;
  token?: string;
  'token-seconds'?: string;
  'no-enforce'?: boolean;
  nodes?: string;
  'without-agents'?: boolean;
  routed?: boolean;
  'routing-mode'?: string;
  'tunnel-protocol'?: string;
  kvstore?: boolean;
}

/** The outcome of reading the command line: run a verb, print usage, or refuse with one line. */
export type ParsedCli =
  | { kind: 'run'; verb: string; positionals: string[]; values: DevclusterArgs }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

export function parseDevclusterArgs(argv: readonly string[]): ParsedCli {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: Object.fromEntries(
        Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type, ...('short' in o ? { short: o.short } : {}) }]),
      ),
    });
  } catch (e) {
    return { kind: 'error', message: oneLine(e as Error & { code?: string }) };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help', text: USAGE };
  const verb = positionals[0];
  if (verb === undefined)
    return { kind: 'error', message: `devcluster: no verb given (${Object.keys(VERBS).join(', ')}); see --help` };
  if (!(verb in VERBS))
    return {
      kind: 'error',
      message: `devcluster: unknown verb "${verb}" (${Object.keys(VERBS).join(', ')}); see --help`,
    };
  return { kind: 'run', verb, positionals, values: values as DevclusterArgs };
}

/** node:util's parse errors, reduced to one line that names the option. */
function oneLine(e: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `devcluster: unknown option ${option ?? e.message}; see --help`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return `devcluster: option ${option ?? ''} ${/argument missing/.test(e.message) ? 'needs a value' : 'does not take a value'}; see --help`;
    default:
      return `devcluster: ${e.message.split('\n')[0]}; see --help`;
  }
}
