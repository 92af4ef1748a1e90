// Readiness probes as the kubelet runs them (pkg/kubelet/prober): exec, tcpSocket and httpGet,
// every periodSeconds after initialDelaySeconds, Ready after successThreshold successes and not
// Ready after failureThreshold failures. Probes run inside the pod's network namespace (exec: the
// command; tcpSocket/httpGet: a small Node client against the pod IP), as the kubelet reaches pods.
import { spawn } from 'node:child_process';

export interface ProbeSpec {
  exec?: { command?: string[] };
  tcpSocket?: { port: number | string; host?: string };
  httpGet?: { port: number | string; path?: string; host?: string; scheme?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface NamedPort {
  name?: string;
  containerPort: number;
}

export const PROBE_DEFAULTS = { periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 };

/** A named port resolved from the container's ports (kubelet's findPortByName). */
export function resolveProbePort(port: number | string, ports: NamedPort[]): number | undefined {
  if (typeof port === 'number' || /^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

/** The node script that connects (tcp) or GETs (http) and exits 0 on success. */
function clientScript(kind: 'tcp' | 'http', host: string, port: number, path: string, https: boolean): string {
  if (kind === 'tcp')
    return `const s=require('net').connect(${port},${JSON.stringify(host)},()=>{s.end();process.exit(0)});s.on('error',()=>process.exit(1))`;
  const mod = https ? 'https' : 'http';
  return `require('${mod}').get({host:${JSON.stringify(host)},port:${port},path:${JSON.stringify(path)},rejectUnauthorized:false},r=>{process.exit(r.statusCode>=200&&r.statusCode<400?0:1)}).on('error',()=>process.exit(1))`;
}

/** Runs a probe once in the namespace; true when it succeeded within the timeout. */
export function runProbe(p: ProbeSpec, netnsPath: string, podIP: string, ports: NamedPort[]): Promise<boolean> {
  let argv: string[] | undefined;
  if (p.exec?.command?.length) argv = p.exec.command;
  else if (p.tcpSocket || p.httpGet) {
    const spec = (p.tcpSocket ?? p.httpGet)!;
    const port = resolveProbePort(spec.port, ports);
    if (port === undefined) return Promise.resolve(false);
    const script = p.tcpSocket
      ? clientScript('tcp', spec.host ?? podIP, port, '', false)
      : clientScript('http', spec.host ?? podIP, port, p.httpGet?.path ?? '/', p.httpGet?.scheme === 'HTTPS');
    argv = [process.execPath, '-e', script];
  }
  if (!argv) return Promise.resolve(false);
  const timeoutMs = (p.timeoutSeconds ?? PROBE_DEFAULTS.timeoutSeconds) * 1000;
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, '--', ...argv], { stdio: 'ignore' });
    // a Node client needs its start-up time on top of the probe's timeout
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + (argv[0] === process.execPath ? 2000 : 0));
    child.on('error', () => resolve(false));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

/** One container's readiness: probed periodically until stopped. */
export class ReadinessProber {
  ready = false;
  private successes = 0;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly probe: ProbeSpec,
    private readonly target: () => { netnsPath: string; podIP: string; ports: NamedPort[] },
    private readonly onChange: () => void,
  ) {}

  start(): void {
    this.schedule((this.probe.initialDelaySeconds ?? 0) * 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const t = this.target();
    const ok = await runProbe(this.probe, t.netnsPath, t.podIP, t.ports);
    if (this.stopped) return;
    if (ok) {
      this.failures = 0;
      this.successes++;
    } else {
      this.successes = 0;
      this.failures++;
    }
    const before = this.ready;
    if (ok && this.successes >= (this.probe.successThreshold ?? PROBE_DEFAULTS.successThreshold)) this.ready = true;
    if (!ok && (this.failures >= (this.probe.failureThreshold ?? PROBE_DEFAULTS.failureThreshold) || !before))
      this.ready = false;
    if (before !== this.ready) this.onChange();
    this.schedule((this.probe.periodSeconds ?? PROBE_DEFAULTS.periodSeconds) * 1000);
  }
}
