// hubble: `hubble observe|status|list nodes|list namespaces [--server ADDR] [flags]` against
// hubble-relay (default localhost:4245 or $HUBBLE_SERVER) or one agent's Hubble socket.
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
process.exit(code);
