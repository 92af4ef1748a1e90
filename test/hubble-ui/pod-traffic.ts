// Steady TCP traffic from inside pods for the browser tests and the demo: one python3 process per
// source pod, in the pod's network namespace, opening a connection to each target every period
// (a refused or dropped one times out after `timeoutS`). Starting a process per connection is too
// slow on a loaded machine to show traffic "within seconds"; a loop per pod is not.
import { spawn, type ChildProcess } from 'node:child_process';
import { podNetns } from '../../devcluster/nodes/nodes.js';

export interface Target {
  ip: string;
  port: number;
}

export class PodTraffic {
  private readonly children: ChildProcess[] = [];

  /**
   * Starts a loop in `pod` (namespace/name) connecting to every target every `periodMs`; resolves
   * once its first round of connections was made.
   */
  async start(dir: string, pod: string, targets: readonly Target[], periodMs = 300, timeoutS = 0.5): Promise<void> {
    const netns = await podNetns(dir, pod);
    const code = [
      'import socket, time',
      `targets = ${JSON.stringify(targets.map((t) => [t.ip, t.port]))}`,
      'while True:',
      '    for ip, port in targets:',
      '        s = socket.socket()',
      `        s.settimeout(${timeoutS})`,
      '        try:',
      '            s.connect((ip, port))',
      '        except OSError:',
      '            pass',
      '        finally:',
      '            s.close()',
      "    print('round', flush=True)",
      `    time.sleep(${periodMs / 1000})`,
    ].join('\n');
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'python3', '-c', code], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`traffic from ${pod} exited (${code})`)));
      child.stdout!.once('data', () => resolve());
    });
    child.stdout!.resume();
  }

  stop(): void {
    for (const c of this.children) c.kill('SIGKILL');
    this.children.length = 0;
  }
}
