// hubble: `hubble observe|status|list nodes|list namespaces [--server ADDR] [flags]` against
// hubble-relay ($HUBBLE_SERVER, else the devcluster's relay, else localhost:4245) or one agent.
import { runHubbleCli } from '../hubble/cli.js';

const ac = new AbortController();
process.on('SIGINT', () => ac.abort());
process.on('SIGTERM', () => ac.abort());
const code = await runHubbleCli(process.argv.slice(2), {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
  env: process.env,
  signal: ac.signal,
});
// Exit once stdout has drained: an immediate exit cuts a long `observe` short on a pipe; the
// explicit exit still ends open gRPC channels.
process.stdout.write('', () => process.exit(code));
