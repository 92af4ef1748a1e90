// cilium-cni: the CNI plugin executable. The runtime passes CNI_* in the environment and the
// network configuration on stdin; the result (or error result) goes to stdout. Installed bundled
// (images/agent/install-cni.sh), so start-up is one small ESM file.
import { runPlugin } from '../cni/main.js';

const chunks: Buffer[] = [];
if (!process.stdin.isTTY) for await (const c of process.stdin) chunks.push(c as Buffer);
const out = await runPlugin(process.env, Buffer.concat(chunks).toString('utf8'));
if (out.stdout) process.stdout.write(out.stdout + '\n');
process.exitCode = out.exitCode;
