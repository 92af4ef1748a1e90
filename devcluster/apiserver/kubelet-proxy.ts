// The pod subresources kube-apiserver serves by proxying to the pod's kubelet: `pods/log` (a
// streamed GET) and `pods/exec` (an upgraded connection, WebSocket for kubectl 1.32). As upstream
// (pkg/registry/core/pod/strategy.go LogLocation/ExecLocation) the server checks the pod and the
// container first, then hands the request to the kubelet of spec.nodeName: here the nodes
// daemon's kubelet server on `<kubeletSocketDir>/<node>/kubelet.sock` (nodes/kubelet-server.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request, STATUS_CODES } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ApiError, ApiServerErrorCode, badRequest, internal, invalid, methodNotAllowed } from './errors.js';
import type { Objects } from './objects.js';
import type { Route } from './router.js';

/** The socket name the nodes daemon's kubelet server listens on in each node's directory. */
export const KUBELET_SOCKET_NAME = 'kubelet.sock';

/** Subresources of pods that go to the kubelet. */
export const KUBELET_SUBRESOURCES = new Set(['log', 'exec', 'attach', 'portforward']);

const LOG_PARAMS = ['follow', 'tailLines', 'timestamps', 'previous', 'sinceSeconds', 'sinceTime', 'limitBytes'];

interface PodLite {
  metadata: { name: string };
  spec?: {
    nodeName?: string;
    containers?: { name: string }[];
    initContainers?: { name: string }[];
    ephemeralContainers?: { name: string }[];
  };
}

/** Upstream's ValidateContainer: the named container, or the only one, or a 400 naming the choices. */
export function validateContainer(container: string | null, pod: PodLite): string {
  const spec = pod.spec ?? {};
  const containers = spec.containers ?? [];
  if (!container) {
    if (containers.length === 1) return containers[0]!.name;
    if (containers.length === 0) throw badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
    const all = [...(spec.initContainers ?? []), ...containers, ...(spec.ephemeralContainers ?? [])].map((c) => c.name);
    throw badRequest(
      `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${all.join(' ')}]`,
    );
  }
  const known = [...(spec.initContainers ?? []), ...containers, ...(spec.ephemeralContainers ?? [])];
  if (!known.some((c) => c.name === container))
    throw badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
  return container;
}

/** PodLogOptions validation (upstream ValidatePodLogOptions): 422 with field causes. */
function validateLogOptions(name: string, q: URLSearchParams): void {
  const causes: { reason: string; message: string; field: string }[] = [];
  const atLeast = (field: string, min: number) => {
    const v = q.get(field);
    if (v === null) return;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${v}: must be greater than or equal to ${min}`,
        field: field,
      });
  };
  atLeast('tailLines', 0);
  atLeast('limitBytes', 1);
  atLeast('sinceSeconds', 1);
  if (q.get('sinceSeconds') !== null && q.get('sinceTime') !== null)
    causes.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
      field: '',
    });
  if (causes.length) throw invalid('PodLogOptions', '', name, causes);
}

export class KubeletProxy {
  constructor(
    private readonly objects: Objects,
    /** Where the nodes' kubelet servers listen (`<dir>/<node>/kubelet.sock`); unset: no nodes. */
    private readonly socketDir: string | undefined,
  ) {}

  private async pod(rt: Route): Promise<PodLite> {
    return (await this.objects.get(rt.r, rt.namespace, rt.name ?? '')) as unknown as PodLite;
  }

  private socketOf(pod: PodLite): string {
    const node = pod.spec?.nodeName;
    if (!node) throw badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
    if (!this.socketDir)
      throw new ApiError(
        503,
        'ServiceUnavailable',
        `no kubelet serves node ${node}: the API server was started without a kubelet socket directory`,
        ApiServerErrorCode.Internal,
      );
    return join(this.socketDir, node, KUBELET_SOCKET_NAME);
  }

  /** A plain request to a kubelet subresource: logs are streamed, the others want an upgrade. */
  async serve(req: IncomingMessage, res: ServerResponse, rt: Route, q: URLSearchParams): Promise<void> {
    if (rt.subresource !== 'log') {
      await this.pod(rt);
      throw badRequest('Upgrade request required');
    }
    if (req.method !== 'GET') throw methodNotAllowed(req.method ?? '');
    const pod = await this.pod(rt);
    validateLogOptions(pod.metadata.name, q);
    const container = validateContainer(q.get('container'), pod);
    // A pod without a node has no logs yet: upstream streams nothing.
    if (!pod.spec?.nodeName) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return void res.end();
    }
    const socketPath = this.socketOf(pod);
    const params = new URLSearchParams();
    for (const p of LOG_PARAMS) {
      const v = q.get(p);
      if (v !== null) params.set(p, v);
    }
    const path = `/containerLogs/${enc(rt.namespace)}/${enc(pod.metadata.name)}/${enc(container)}?${params}`;
    await new Promise<void>((resolve, reject) => {
      const up = request({ socketPath, path, method: 'GET' }, (kres) => {
        if (kres.statusCode !== 200) {
          let body = '';
          kres.on('data', (d: Buffer) => (body += d.toString()));
          kres.on('end', () => reject(fromKubelet(kres.statusCode ?? 500, body)));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
        res.flushHeaders();
        kres.pipe(res);
        kres.on('end', resolve);
        kres.on('error', reject);
      });
      // the client left (kubectl logs -f interrupted): stop the kubelet's stream too
      res.on('close', () => up.destroy());
      up.on('error', (e) => reject(res.headersSent ? e : kubeletUnreachable(socketPath, e)));
      up.end();
    }).catch((e: unknown) => {
      if (res.headersSent) return void res.end();
      throw e;
    });
  }

  /**
   * An upgrade request (`pods/exec` over WebSocket or SPDY): checks, then the raw connection is
   * joined to the kubelet's, which answers the upgrade itself.
   */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, rt: Route, q: URLSearchParams): Promise<void> {
    if (rt.subresource !== 'exec')
      throw badRequest(`pods/${rt.subresource ?? ''} is not served by the devcluster (only log and exec are)`);
    const pod = await this.pod(rt);
    const container = validateContainer(q.get('container'), pod);
    const socketPath = this.socketOf(pod);
    const params = new URLSearchParams();
    for (const c of q.getAll('command')) params.append('command', c);
    // kube-apiserver's names → the kubelet's
    for (const [from, to] of [
      ['stdin', 'input'],
      ['stdout', 'output'],
      ['stderr', 'error'],
      ['tty', 'tty'],
    ] as const)
      if (q.get(from) === 'true' || q.get(from) === '1') params.set(to, '1');
    const path = `/exec/${enc(rt.namespace)}/${enc(pod.metadata.name)}/${enc(container)}?${params}`;
    const up = connect(socketPath);
    await new Promise<void>((resolve, reject) => {
      up.once('connect', resolve);
      up.once('error', (e) => reject(kubeletUnreachable(socketPath, e)));
    });
    const headers = Object.entries(req.headers)
      .filter(([k]) => !['host', 'authorization', 'content-length'].includes(k))
      .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}: ${x}`) : [`${k}: ${v ?? ''}`]));
    up.write(`${req.method ?? 'GET'} ${path} HTTP/1.1\r\nHost: kubelet\r\n${headers.join('\r\n')}\r\n\r\n`);
    if (head.length) up.write(head);
    socket.pipe(up);
    up.pipe(socket);
    const close = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', close);
    socket.on('error', close);
    up.on('close', () => socket.end());
    socket.on('close', () => up.destroy());
  }
}

const enc = (s: string | undefined) => encodeURIComponent(s ?? '');

/** The kubelet's Status (it answers metav1.Status JSON), as kube-apiserver passes a kubelet error on. */
function fromKubelet(code: number, body: string): ApiError {
  try {
    const s = JSON.parse(body) as { message?: string; reason?: string };
    if (s.message)
      return new ApiError(
        code,
        s.reason ?? 'InternalError',
        s.message,
        code === 400 ? ApiServerErrorCode.BadRequest : ApiServerErrorCode.Internal,
      );
  } catch {
    // not JSON: the text is the message
  }
  return code === 400 ? badRequest(body.trim()) : internal(new Error(body.trim() || `kubelet answered ${code}`));
}

function kubeletUnreachable(socketPath: string, e: Error): ApiError {
  return internal(new Error(`dial unix ${socketPath}: ${e.message}`));
}

/** Writes a Status error onto a raw (not yet upgraded) connection and closes it. */
export function refuseUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
