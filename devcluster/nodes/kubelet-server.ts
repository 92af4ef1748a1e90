// The kubelet's streaming server for one node, on a unix socket in the node's directory
// (`nodes/<node>/kubelet.sock`): the API server proxies `pods/log` and `pods/exec` here as
// kube-apiserver proxies them to a kubelet's port 10250.
//
//   GET /containerLogs/NS/POD/CONTAINER?follow=&tailLines=&timestamps=&previous=&sinceSeconds=&sinceTime=&limitBytes=
//   GET /exec/NS/POD/CONTAINER?command=…&command=…&input=1&output=1&error=1&tty=1   (WebSocket upgrade)
//
// Exec speaks the WebSocket channel protocol (remote-command.ts). SPDY is refused with a Status
// (kubectl 1.32 only falls back to it when the WebSocket upgrade fails). Errors are metav1.Status
// JSON, which the API server passes through and kubectl prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { containerLogPath, readContainerLog, stillWriting, type LogReadOptions } from './container-log.js';
import {
  Channel,
  decodeFrame,
  encodeFrame,
  exitStatus,
  failureStatus,
  negotiate,
  PROTOCOL_V5,
  type RemoteCommandProtocol,
} from './remote-command.js';
import { KubeletRequestError } from './errors.js';
import type { PodSandbox } from './sandbox.js';

export const KUBELET_SOCKET_NAME = 'kubelet.sock';

export const KUBELET_SERVER_DEFAULTS = {
  /** How often a running exec checks that its container still runs (the runtime kills execs with it). */
  execWatchMs: 500,
};

/** Where the server finds pods: the node runner's sandboxes by `namespace/name`. */
export interface PodLookup {
  sandbox(key: string): PodSandbox | undefined;
}

const badRequest = (m: string) => new KubeletRequestError(400, 'BadRequest', m);
const notFound = (m: string) => new KubeletRequestError(404, 'NotFound', m);
const asRequestError = (e: unknown) =>
  e instanceof KubeletRequestError ? e : new KubeletRequestError(500, 'InternalError', String(e));

function statusBody(e: KubeletRequestError): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: e.message,
    reason: e.reason,
    code: e.status,
  });
}

const truthy = (v: string | null) => v === '1' || v === 'true';

export class KubeletServer {
  private server?: Server;
  private readonly wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => negotiate(p) ?? false });
  private readonly execs = new Set<ChildProcess>();

  constructor(
    private readonly pods: PodLookup,
    readonly socketPath: string,
  ) {}

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.socketPath, resolve);
    });
  }

  async stop(): Promise<void> {
    for (const c of this.execs) killGroup(c);
    this.wss.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    rmSync(this.socketPath, { force: true });
  }

  private parse(url: URL, verb: string): { sb: PodSandbox; container: string } {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== verb || parts.length !== 4) throw notFound(`${url.pathname}: not found`);
    const [, ns, pod, container] = parts as [string, string, string, string];
    const sb = this.pods.sandbox(`${ns}/${pod}`);
    if (!sb) throw badRequest(`container "${container}" in pod "${pod}" is waiting to start: ContainerCreating`);
    if (!sb.pod.spec.containers.some((c) => c.name === container))
      throw badRequest(`container ${container} is not valid for pod ${pod}`);
    return { sb, container };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    try {
      if (url.pathname === '/healthz') return void res.end('ok');
      if (url.pathname.startsWith('/exec/')) {
        this.parse(url, 'exec');
        throw badRequest('Upgrade request required');
      }
      const { sb, container } = this.parse(url, 'containerLogs');
      await this.logs(sb, container, url.searchParams, req, res);
    } catch (e) {
      const err = asRequestError(e);
      if (res.headersSent) return void res.end();
      res.writeHead(err.status, { 'Content-Type': 'application/json' }).end(statusBody(err));
    }
  }

  private async logs(
    sb: PodSandbox,
    container: string,
    q: URLSearchParams,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const pod = sb.pod.metadata.name;
    const state = sb.containers.get(container);
    if (!state) throw badRequest(`container "${container}" in pod "${pod}" is waiting to start: ContainerCreating`);
    // the current instance, or the one before it (the current may itself have ended, awaiting restart)
    const instance = truthy(q.get('previous')) ? state.restartCount - 1 : state.restartCount;
    if (instance < 0) throw badRequest(`previous terminated container "${container}" in pod "${pod}" not found`);
    const path = containerLogPath(sb.dir, container, instance);
    const o: LogReadOptions = { follow: truthy(q.get('follow')), timestamps: truthy(q.get('timestamps')) };
    const tailLines = q.get('tailLines');
    if (tailLines !== null) o.tailLines = Number(tailLines);
    const limit = q.get('limitBytes');
    if (limit !== null) o.limitBytes = Number(limit);
    const sinceSeconds = q.get('sinceSeconds');
    const sinceTime = q.get('sinceTime');
    if (sinceSeconds !== null) o.since = new Date(Date.now() - Number(sinceSeconds) * 1000);
    else if (sinceTime !== null) o.since = new Date(sinceTime);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let gone = false;
    req.socket.on('close', () => (gone = true));
    // follow ends with the instance's output (its pipes close when it and its children exit)
    await readContainerLog(path, o, { write: (t) => void res.write(t), closed: () => gone }, () => stillWriting(path));
    res.end();
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const refuse = (e: KubeletRequestError) => {
      const body = statusBody(e);
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const { sb, container } = this.parse(url, 'exec');
      const q = url.searchParams;
      const command = q.getAll('command');
      if (!command.length) throw badRequest('you must specify at least 1 command');
      const state = sb.containers.get(container);
      if (!state?.running || !state.pid) throw badRequest(`container not found ("${container}")`);
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket')
        throw badRequest(
          `the devcluster serves exec over WebSocket (${PROTOCOL_V5}) only, not ${req.headers.upgrade ?? 'without an upgrade'}`,
        );
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',');
      if (!negotiate(offered))
        throw badRequest(`none of the offered subprotocols is supported: ${offered.join(', ') || '(none)'}`);
      const pid = state.pid;
      this.wss.handleUpgrade(req, socket, head, (ws) =>
        this.exec(ws, sb, container, pid, command, {
          stdin: truthy(q.get('input')),
          stdout: truthy(q.get('output')),
          stderr: truthy(q.get('error')),
        }),
      );
    } catch (e) {
      refuse(asRequestError(e));
    }
  }

  /** Runs the command inside the container with the container's environment and working directory. */
  private exec(
    ws: WebSocket,
    sb: PodSandbox,
    container: string,
    pid: number,
    command: string[],
    io: { stdin: boolean; stdout: boolean; stderr: boolean },
  ): void {
    const protocol = ws.protocol as RemoteCommandProtocol;
    const [enter, ...args] = sb.execArgv(container, command);
    const child = spawn(enter!, args, {
      env: containerEnv(pid),
      cwd: containerCwd(pid) ?? sb.dir,
      stdio: [io.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.execs.add(child);
    const send = (ch: Channel, d: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(encodeFrame(ch, d));
    };
    child.stdout?.on('data', (d: Buffer) => io.stdout && send(Channel.Stdout, d));
    child.stderr?.on('data', (d: Buffer) => io.stderr && send(Channel.Stderr, d));
    child.stdin?.on('error', () => undefined);
    ws.on('message', (msg: Buffer, binary) => {
      if (!binary) return;
      const f = decodeFrame(msg, protocol);
      if (f.type === 'close' && f.channel === Channel.Stdin) child.stdin?.end();
      else if (f.type === 'data' && f.channel === Channel.Stdin) child.stdin?.write(f.data);
      // resize (4) only matters with a terminal, which containers here do not have
    });
    // the client went away: the command goes too (v4 has no stdin close, so its stdin ends here)
    ws.on('close', () => {
      child.stdin?.end();
      if (child.exitCode === null && child.signalCode === null) killGroup(child);
    });
    const watch = setInterval(() => {
      if (!sb.containers.get(container)?.running) killGroup(child);
    }, KUBELET_SERVER_DEFAULTS.execWatchMs);
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    child.on('close', (code, signal) => {
      clearInterval(watch);
      this.execs.delete(child);
      const status = spawnError
        ? failureStatus(`failed to exec in container: ${spawnError.message}`)
        : exitStatus(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), command);
      send(Channel.Error, Buffer.from(JSON.stringify(status)));
      ws.close(1000);
    });
  }
}

/** The environment of the container's process, which an exec inherits as in a runtime. */
function containerEnv(pid: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  try {
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
  } catch {
    env.PATH = process.env.PATH ?? '/usr/bin:/bin';
  }
  return env;
}

function containerCwd(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

function killGroup(c: ChildProcess): void {
  try {
    if (c.pid) process.kill(-c.pid, 'SIGKILL');
  } catch {
    // exited
  }
}
