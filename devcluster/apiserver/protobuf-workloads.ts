// Protobuf bodies of the workload kinds kubectl creates through typed clients (`kubectl create
// deployment NAME --image=I [--replicas=N] [--port=P] [-- COMMAND…]`, `kubectl create job`),
// decoded as far as those commands fill them (k8s.io/api apps/v1, batch/v1 and core/v1
// generated.proto field numbers). Other fields are not decoded.
import type { KubeObject } from './store.js';

export interface ProtoField {
  no: number;
  wire: number;
  n?: bigint;
  b?: Buffer;
}

export interface ProtoReader {
  fields(buf: Buffer): ProtoField[];
  str(f: ProtoField): string;
  mapEntry(f: ProtoField, asBytes: boolean): [string, string];
  objectMeta(buf: Buffer): KubeObject['metadata'];
}

type Obj = Record<string, unknown>;

function labelSelector(p: ProtoReader, buf: Buffer): Obj {
  const sel: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 1) {
      const [k, v] = p.mapEntry(f, false);
      ((sel.matchLabels ??= {}) as Record<string, string>)[k] = v;
    }
  }
  return sel;
}

function container(p: ProtoReader, buf: Buffer): Obj {
  const c: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 1) c.name = p.str(f);
    if (f.no === 2) c.image = p.str(f);
    if (f.no === 3) ((c.command ??= []) as string[]).push(p.str(f));
    if (f.no === 4) ((c.args ??= []) as string[]).push(p.str(f));
    if (f.no === 5) c.workingDir = p.str(f);
    if (f.no === 6 && f.b) {
      const port: Obj = {};
      for (const x of p.fields(f.b)) {
        if (x.no === 1) port.name = p.str(x);
        if (x.no === 3 && x.n !== undefined) port.containerPort = Number(x.n);
        if (x.no === 4) port.protocol = p.str(x);
      }
      ((c.ports ??= []) as Obj[]).push(port);
    }
    if (f.no === 7 && f.b) {
      const env: Obj = {};
      for (const x of p.fields(f.b)) {
        if (x.no === 1) env.name = p.str(x);
        if (x.no === 2) env.value = p.str(x);
      }
      ((c.env ??= []) as Obj[]).push(env);
    }
    if (f.no === 8) c.resources = {};
    if (f.no === 13) c.terminationMessagePath = p.str(f);
    if (f.no === 14) c.imagePullPolicy = p.str(f);
    if (f.no === 20) c.terminationMessagePolicy = p.str(f);
  }
  return c;
}

function podSpec(p: ProtoReader, buf: Buffer): Obj {
  const s: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 2 && f.b) ((s.containers ??= []) as Obj[]).push(container(p, f.b));
    if (f.no === 3) s.restartPolicy = p.str(f);
    if (f.no === 4 && f.n !== undefined) s.terminationGracePeriodSeconds = Number(f.n);
  }
  return s;
}

function podTemplate(p: ProtoReader, buf: Buffer): Obj {
  const t: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 1 && f.b) t.metadata = p.objectMeta(f.b);
    if (f.no === 2 && f.b) t.spec = podSpec(p, f.b);
  }
  return t;
}

/** The spec of a Deployment or Job body, or undefined for other kinds. */
export function workloadSpec(p: ProtoReader, kind: string, top: ProtoField[]): Obj | undefined {
  const raw = top.find((f) => f.no === 2 && f.b)?.b ?? Buffer.alloc(0);
  const spec: Obj = {};
  if (kind === 'Deployment') {
    for (const f of p.fields(raw)) {
      if (f.no === 1 && f.n !== undefined) spec.replicas = Number(f.n);
      if (f.no === 2 && f.b) spec.selector = labelSelector(p, f.b);
      if (f.no === 3 && f.b) spec.template = podTemplate(p, f.b);
    }
    return spec;
  }
  if (kind === 'Job') {
    for (const f of p.fields(raw)) {
      if (f.no === 1 && f.n !== undefined) spec.parallelism = Number(f.n);
      if (f.no === 2 && f.n !== undefined) spec.completions = Number(f.n);
      if (f.no === 4 && f.b) spec.selector = labelSelector(p, f.b);
      if (f.no === 6 && f.b) spec.template = podTemplate(p, f.b);
      if (f.no === 7 && f.n !== undefined) spec.backoffLimit = Number(f.n);
    }
    return spec;
  }
  return undefined;
}
