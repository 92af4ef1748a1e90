// Connections made from inside a client pod, as a user would check them: one exec per pod and
// round runs a small Node.js program that opens every requested connection in parallel (HTTP GET
// with a timeout) and prints one JSON line with the outcome of each. Through the API server's
// pods/exec, so it works on any cluster the kubeconfig reaches (no devcluster internals).
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { PassThrough } from 'node:stream';

/** One connection to make. */
export interface ProbeTarget {
  id: string;
  host: string;
  port: number;
}

/**
 * `ok`: an HTTP answer came back; `timeout`: nothing within the timeout (a policy drop is silent);
 * `refused`: the peer reset or refused it; `error`: anything else (the message says what).
 */
export type ProbeOutcome =
  | { id: string; result: 'ok'; status: number; body: string }
  | { id: string; result: 'timeout' | 'refused' }
  | { id: string; result: 'error'; message: string };

/** The program run in the pod: argv[1] is the JSON target list, argv[2] the timeout in ms. */
export const PROBE_SCRIPT = `
const http = require('http');
const targets = JSON.parse(process.argv[1]);
const timeout = Number(process.argv[2]);
const one = (t) => new Promise((done) => {
  const req = http.get({ host: t.host, port: t.port, path: '/', timeout, agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { if (body.length < 512) body += d; });
    res.on('end', () => done({ id: t.id, result: 'ok', status: res.statusCode, body }));
  });
  req.on('timeout', () => { req.destroy(); done({ id: t.id, result: 'timeout' }); });
  req.on('error', (e) => done(e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EHOSTUNREACH'
    ? { id: t.id, result: 'refused' } : { id: t.id, result: 'error', message: String(e.code || e.message) }));
});
Promise.all(targets.map(one)).then((r) => process.stdout.write(JSON.stringify(r) + '\\n'));
`;

export interface PodRef {
  namespace: string;
  name: string;
  container: string;
}

export class Prober {
  private readonly exec: Exec;

  constructor(
    kc: KubeConfig,
    /** How long one connection may take before it counts as dropped. */
    private readonly timeoutMs: number,
  ) {
    this.exec = new Exec(kc);
  }

  /** Runs `targets` from `pod`; throws when the exec itself fails (not when a connection does). */
  async run(pod: PodRef, targets: ProbeTarget[]): Promise<ProbeOutcome[]> {
    if (targets.length === 0) return [];
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const status = await new Promise<V1Status>((resolve, reject) => {
      const guard = setTimeout(
        () => reject(new Error(`exec in ${pod.namespace}/${pod.name} did not finish`)),
        this.timeoutMs + 15_000,
      );
      this.exec
        .exec(
          pod.namespace,
          pod.name,
          pod.container,
          ['node', '-e', PROBE_SCRIPT, JSON.stringify(targets), String(this.timeoutMs)],
          stdout,
          stderr,
          null,
          false,
          (s) => {
            clearTimeout(guard);
            resolve(s);
          },
        )
        .catch((e: unknown) => {
          clearTimeout(guard);
          reject(e instanceof Error ? e : new Error(String(e)));
        });
    });
    if (status.status !== 'Success')
      throw new Error(
        `exec in ${pod.namespace}/${pod.name} failed: ${status.message ?? status.reason ?? 'unknown'}${err ? `: ${err.trim()}` : ''}`,
      );
    // the status can arrive before the last stdout frame is flushed through the stream
    for (let i = 0; i < 50 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 10));
    const line = out.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as ProbeOutcome[];
    } catch {
      throw new Error(`the probe in ${pod.namespace}/${pod.name} printed no result: ${out.trim() || err.trim()}`);
    }
  }
}
