// The nodes daemon's spawner: a small helper process that runs the daemon's one-shot commands (a
// pod's `ip netns add/del` and CNI plugin calls, one-shot.ts). Node's spawn forks the calling
// process: from the daemon (hundreds of MB: every node's kubelet, the API bridge) each fork cost
// 0.15–0.5 s of its one event loop under load, three per pod start (BENCHMARKS.md, "Pod start-up,
// session 12"); from here the fork copies this small process, and the daemon's loop only sees
// one line each way. Protocol: one JSON request per line on stdin ({ id, ...OneShotRequest }),
// one JSON reply per line on stdout ({ id, ...OneShotReply }), in completion order. Stdin closing
// (the daemon is gone) ends the commands still running and this process.
//
//   node build/devcluster/nodes/spawner.js   (started by spawner-client.ts)
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { runOneShot, type OneShotRequest } from './one-shot.js';

/** The commands still running (one per request: runOneShot hands its child over at once). */
const running = new Set<ChildProcess>();
let closing = false;

function reply(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let req: OneShotRequest & { id: number };
  try {
    req = JSON.parse(line) as OneShotRequest & { id: number };
  } catch {
    return reply({ id: -1, error: `not a JSON request: ${line.slice(0, 80)}` });
  }
  let child: ChildProcess | undefined;
  void runOneShot(req, (c) => running.add((child = c))).then((r) => {
    if (child) running.delete(child);
    reply({ id: req.id, ...r });
    if (closing && !running.size) process.exit(0);
  });
});
lines.on('close', () => {
  closing = true;
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  if (!running.size) process.exit(0);
});
