// `cilium`: the cluster CLI. install | uninstall | status, with upstream's verbs and flags.
import { parseArgs } from 'node:util';
import { formatStatus, install, loadKubeConfig, status, uninstall } from './cilium/cluster-install.js';
import { runConnectivityCli } from './cilium/connectivity/cli.js';
import { runPolicyCli } from './cilium/policy-whatif.js';
import { valuesFromFlags } from './cilium/set-values.js';

const USAGE = `usage: cilium <command> [flags]
  install     apply the install (CRDs, agent, operator, hubble-relay) with server-side apply
                --set path=value (repeatable)  --values FILE (repeatable)  --dry-run
  uninstall   delete it again, then clean every node (cilium-dbg post-uninstall-cleanup)
                --delete-crds (also removes every policy)  --skip-node-cleanup
  status      show the rollout of agent, operator and relay
  policy whatif -f FILE… [--delete NAME…]   replay recent flows against a proposed change (cilium policy --help)
  connectivity test [--test REGEX] [--junit-file F] [--json]   check the install with real connections (--help)
common flags: --namespace/-n NS (default kube-system)  --kubeconfig FILE (default $KUBECONFIG)`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'policy')
    return runPolicyCli(argv.slice(1), { out: console.log, err: console.error, loadKubeConfig });
  if (argv[0] === 'connectivity')
    return runConnectivityCli(argv.slice(1), {
      out: (t) => process.stdout.write(t),
      err: (t) => process.stderr.write(t),
      loadKubeConfig,
    });
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      set: { type: 'string', multiple: true },
      values: { type: 'string', multiple: true, short: 'f' },
      'dry-run': { type: 'boolean' },
      'delete-crds': { type: 'boolean' },
      'skip-node-cleanup': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const verb = positionals[0];
  if (values.help || !verb) {
    console.log(USAGE);
    return verb || values.help ? 0 : 2;
  }
  const kc = loadKubeConfig(values.kubeconfig);
  const namespace = values.namespace;
  switch (verb) {
    case 'install': {
      const override = valuesFromFlags(values.values ?? [], values.set ?? []);
      const objects = await install(kc, {
        namespace,
        values: override,
        dryRun: values['dry-run'],
        log: (l) => console.log(l),
      });
      console.log(
        `cilium-ts installed: ${objects.length} objects${values['dry-run'] ? ' (server dry run, nothing stored)' : ''}`,
      );
      return 0;
    }
    case 'uninstall': {
      const r = await uninstall(kc, {
        namespace,
        deleteCrds: values['delete-crds'],
        nodeCleanup: !values['skip-node-cleanup'],
        log: (l) => console.log(l),
      });
      console.log(
        `cilium-ts uninstalled: ${r.deleted.length} objects deleted${r.absent.length ? `, ${r.absent.length} already absent` : ''}, ${r.cleanedNodes.length} nodes cleaned`,
      );
      return 0;
    }
    case 'status': {
      const s = await status(kc, namespace);
      process.stdout.write(formatStatus(s));
      return s.components.every((c) => c.present) && s.config ? 0 : 1;
    }
    default:
      console.error(`cilium: unknown command ${verb}\n${USAGE}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`cilium: ${(err as Error).message}`);
  process.exitCode = 1;
}
