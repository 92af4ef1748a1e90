// The devcluster CLI: `npm run devcluster -- up [--port N] [--token T] | status | exec | down` (--help: cli-args.ts).
// Later issues add nodes, agents, pods and `exec` to the same verbs.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../cdk8s/process-launch.js';
import { parseDevclusterArgs, USAGE } from './cli-args.js';
import { alive, downDetached, readState, ready, upDetached } from './cluster.js';
import { downKvstoreEtcd, etcdSecretObject, readKvstoreEtcd, upKvstoreEtcd } from './kvstore-etcd.js';
import { downNodes, execInPod, upNodes } from './nodes/nodes.js';
import { NodesLayout } from './nodes/layout.js';
import { routingConfig } from './nodes/topology-config.js';

const cli = parseDevclusterArgs(process.argv.slice(2));
if (cli.kind === 'help') {
  console.log(cli.text);
  process.exit(0);
}
if (cli.kind === 'error') {
  console.error(cli.message);
  process.exit(2);
}
const { positionals, values, verb } = cli;
const dir = resolve(values.dir ?? join(PACKAGE_ROOT, '.devcluster'));

async function main(): Promise<number> {
  switch (verb) {
    case 'up': {
      if (values.kvstore && (values.nodes === undefined || values['without-agents'])) {
        console.error('devcluster: --kvstore configures the install: it needs --nodes N (and agents)');
        return 2;
      }
      // --token-seconds: the components' token lifetime (auth-tokens.ts), below kube's 600 s minimum for soaks
      if (values['token-seconds']) process.env.KTS_DEVCLUSTER_TOKEN_SECONDS = values['token-seconds'];
      const say = (line: string) => console.log(`  ${line}`);
      console.log('devcluster: starting etcd and the API server');
      const st = await upDetached({
        dir,
        ...(values.port ? { port: Number(values.port) } : {}),
        ...(values.token ? { token: values.token } : {}),
        ...(values['token-seconds'] ? { tokenMinExpirationSeconds: Number(values['token-seconds']) } : {}),
        ...(values['no-enforce'] ? { enforce: false } : {}),
      });
      say(`etcd: ${st.etcdEndpoint} (pid ${st.etcdPid}, log ${join(dir, 'etcd.log')})`);
      say(`API server: ${st.url} (pid ${st.apiserverPid}, log ${join(dir, 'apiserver.log')})`);
      const kubeconfig = join(dir, 'kubeconfig');
      if (values.nodes !== undefined) {
        // nodes/: netns nodes, fabric, kubelet-like runners and scheduler; then the install, whose pods run cilium
        const agents = !values['without-agents'];
        // --kvstore: an etcd of its own for the kvstore, before the install that points at it
        const kv = values.kvstore ? await upKvstoreEtcd(dir) : undefined;
        if (kv) say(`kvstore etcd: ${kv.endpoint} (pid ${kv.pid}, TLS, log ${join(dir, 'kvstore', 'etcd.log')})`);
        const ns = await upNodes(dir, {
          nodes: Number(values.nodes),
          agents,
          progress: say,
          waitForInstall: agents,
          ...(values.routed ? { routed: true } : {}),
          config: routingConfig(values),
          ...(kv ? { kvstore: { port: kv.port, secret: etcdSecretObject(kv.tls) } } : {}),
        });
        if (agents)
          say(
            `hubble-relay: ${join(dir, 'nodes', 'hubble-relay.sock')} (a port-forward to the relay pod; kubectl logs -n kube-system deploy/hubble-relay)`,
          );
        if (ns.hubbleUiUrl) say(`Hubble UI: ${ns.hubbleUiUrl}`);
      }
      console.log(`devcluster is up. Next:
  export KUBECONFIG=${kubeconfig}
  kubectl get pods -A -o wide${
    values.nodes !== undefined && !values['without-agents']
      ? `
  npm run cilium -- status --kubeconfig ${kubeconfig}
  npx hubble observe --server unix://${join(dir, 'nodes', 'hubble-relay.sock')}`
      : ''
  }
  npm run devcluster -- down${values.dir ? ` --dir ${dir}` : ''}`);
      return 0;
    }
    case 'status': {
      const st = readState(dir);
      if (!st) {
        console.log('devcluster is down');
        return 1;
      }
      const ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
      const ok = await ready(st.url, ca);
      console.log(
        `apiserver ${st.url}: ${ok ? 'ready' : 'not ready'} (pid ${st.apiserverPid}${alive(st.apiserverPid) ? '' : ', not running'})`,
      );
      console.log(`etcd ${st.etcdEndpoint}: pid ${st.etcdPid}${alive(st.etcdPid) ? '' : ' (not running)'}`);
      const kv = readKvstoreEtcd(dir);
      if (kv) console.log(`kvstore etcd ${kv.endpoint}: pid ${kv.pid}${alive(kv.pid) ? '' : ' (not running)'}`);
      console.log(`kubeconfig: ${join(dir, 'kubeconfig')}`);
      const nodes = new NodesLayout(dir).read();
      if (nodes)
        console.log(
          `nodes: ${nodes.nodes.map((n) => n.name).join(', ')} (daemon pid ${nodes.daemonPid ?? '-'}${nodes.daemonPid && alive(nodes.daemonPid) ? '' : ', not running'})`,
        );
      return ok ? 0 : 1;
    }
    case 'exec': {
      const [ref, ...cmd] = positionals.slice(1);
      if (!ref) break;
      try {
        return (await execInPod(dir, ref, cmd)).code;
      } catch (e) {
        console.error(`exec: ${(e as Error).message}`);
        return 1;
      }
    }
    case 'down': {
      await downNodes(dir);
      await downKvstoreEtcd(dir);
      const had = await downDetached(dir);
      console.log(had ? 'devcluster is down; removed ' + dir : 'devcluster was not running');
      return 0;
    }
    default:
  }
  console.error(USAGE);
  return 2;
}

process.exit(await main());
