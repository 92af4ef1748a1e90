// cilium-cni: the CNI plugin executable. The runtime passes CNI_* in the environment and the
// network configuration on stdin; the result (or error result) goes to stdout. Installed bundled
// (images/agent/install-cni.sh), so start-up is one small ESM file.
import { runPlugin } from '../cni/main.js';

const chunks: Buffer[] = [];
if (!process.stdin.isTTY) for await (const c of process.stdin) chunks.push(c as Buffer);
const out = await runPlugin(process.env, Buffer.concat(chunks).toString('utf8'));
// Exit as soon as stdout is flushed: the runtime waits for the process, and pooled agent
// connections or timers must not keep it alive (ADD latency is pods per second).
process.stdout.write(out.stdout ? out.stdout + '\n' : '', () => process.exit(out.exitCode));
