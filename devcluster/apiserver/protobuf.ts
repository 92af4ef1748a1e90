// The Kubernetes protobuf envelope, decoded only as far as kubectl 1.32's typed creates need it:
// `kubectl create namespace|configmap|secret` POST `k8s\0` + runtime.Unknown{typeMeta, raw} with
// the object's own protobuf in raw (apimachinery runtime/generated.proto). Replies go out as JSON, which
// kubectl accepts because its Accept header lists application/json.
import { unsupportedMediaType } from './errors.js';
import { reviewSpec } from './auth/protobuf-reviews.js';
import { workloadSpec } from './protobuf-workloads.js';
import type { KubeObject, ObjectMeta } from './store.js';

export const PROTOBUF = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0) */
  n?: bigint;
  /** bytes (wire 2) */
  b?: Buffer;
}

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    const byte = buf[pos++];
    if (byte === undefined) throw new Error('truncated varint');
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

export function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos);
    pos = p1;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [n, p2] = readVarint(buf, pos);
      pos = p2;
      out.push({ no, wire, n });
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      out.push({ no, wire, b: buf.subarray(p2, end) });
      pos = end;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const str = (f: Field): string => (f.b ?? Buffer.alloc(0)).toString('utf8');

function mapEntry(f: Field, asBytes: boolean): [string, string] {
  let k = '';
  let v = '';
  for (const e of fields(f.b ?? Buffer.alloc(0))) {
    if (e.no === 1) k = str(e);
    if (e.no === 2) v = asBytes ? (e.b ?? Buffer.alloc(0)).toString('base64') : str(e);
  }
  return [k, v];
}

/** metav1.Time {1 seconds, 2 nanos} → RFC 3339 (whole seconds, as kube serializes it). */
function time(buf: Buffer): string | undefined {
  let secs = 0n;
  for (const f of fields(buf)) if (f.no === 1 && f.n !== undefined) secs = f.n;
  if (secs === 0n) return undefined;
  return new Date(Number(secs) * 1000).toISOString().replace('.000Z', 'Z');
}

function ownerReference(buf: Buffer): NonNullable<ObjectMeta['ownerReferences']>[number] {
  const ref = { apiVersion: '', kind: '', name: '', uid: '' } as NonNullable<ObjectMeta['ownerReferences']>[number];
  for (const f of fields(buf)) {
    if (f.no === 1) ref.kind = str(f);
    if (f.no === 3) ref.name = str(f);
    if (f.no === 4) ref.uid = str(f);
    if (f.no === 5) ref.apiVersion = str(f);
    if (f.no === 6 && f.n !== undefined) ref.controller = f.n !== 0n;
    if (f.no === 7 && f.n !== undefined) ref.blockOwnerDeletion = f.n !== 0n;
  }
  return ref;
}

function objectMeta(buf: Buffer): ObjectMeta {
  const m: ObjectMeta = {};
  for (const f of fields(buf)) {
    switch (f.no) {
      case 1:
        if (str(f)) m.name = str(f);
        break;
      case 2:
        if (str(f)) m.generateName = str(f);
        break;
      case 3:
        if (str(f)) m.namespace = str(f);
        break;
      case 5:
        if (str(f)) m.uid = str(f);
        break;
      case 6:
        if (str(f)) m.resourceVersion = str(f);
        break;
      case 7:
        if (f.n !== undefined && f.n !== 0n) m.generation = Number(f.n);
        break;
      case 8: {
        const t = time(f.b ?? Buffer.alloc(0));
        if (t) m.creationTimestamp = t;
        break;
      }
      case 13:
        (m.ownerReferences ??= []).push(ownerReference(f.b ?? Buffer.alloc(0)));
        break;
      case 11: {
        const [k, v] = mapEntry(f, false);
        (m.labels ??= {})[k] = v;
        break;
      }
      case 12: {
        const [k, v] = mapEntry(f, false);
        (m.annotations ??= {})[k] = v;
        break;
      }
      case 14:
        (m.finalizers ??= []).push(str(f));
        break;
    }
  }
  return m;
}

/** Decodes a protobuf request body for the kinds kubectl creates through typed clients. */
export function decodeProtobuf(body: Buffer): KubeObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw unsupportedMediaType(PROTOBUF, ['application/json', 'application/yaml']);
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  for (const f of fields(body.subarray(4))) {
    if (f.no === 1 && f.b) {
      for (const t of fields(f.b)) {
        if (t.no === 1) apiVersion = str(t);
        if (t.no === 2) kind = str(t);
      }
    }
    if (f.no === 2 && f.b) raw = f.b;
  }
  const top = fields(raw);
  if (kind === 'DeleteOptions') return deleteOptions(top) as unknown as KubeObject;
  const obj: KubeObject = { apiVersion, kind, metadata: {} };
  for (const f of top) if (f.no === 1 && f.b) obj.metadata = objectMeta(f.b);
  switch (kind) {
    case 'Namespace':
      for (const f of top) {
        if (f.no === 2 && f.b) {
          const fin = fields(f.b)
            .filter((x) => x.no === 1)
            .map(str);
          obj.spec = fin.length ? { finalizers: fin } : {};
        }
      }
      break;
    case 'ConfigMap':
      for (const f of top) {
        if (f.no === 2) {
          const [k, v] = mapEntry(f, false);
          ((obj.data ??= {}) as Record<string, string>)[k] = v;
        }
        if (f.no === 3) {
          const [k, v] = mapEntry(f, true);
          ((obj.binaryData ??= {}) as Record<string, string>)[k] = v;
        }
        if (f.no === 4 && f.n !== undefined) obj.immutable = f.n !== 0n;
      }
      break;
    case 'Secret':
      for (const f of top) {
        if (f.no === 2) {
          const [k, v] = mapEntry(f, true);
          ((obj.data ??= {}) as Record<string, string>)[k] = v;
        }
        if (f.no === 3 && str(f)) obj.type = str(f);
        if (f.no === 4) {
          const [k, v] = mapEntry(f, false);
          ((obj.stringData ??= {}) as Record<string, string>)[k] = v;
        }
        if (f.no === 5 && f.n !== undefined) obj.immutable = f.n !== 0n;
      }
      break;
    default: {
      const reader = { fields, str, mapEntry, objectMeta };
      const spec = workloadSpec(reader, kind, top) ?? reviewSpec(reader, kind, top);
      if (!spec) throw unsupportedMediaType(PROTOBUF, ['application/json', 'application/yaml']);
      obj.spec = spec;
    }
  }
  return obj;
}

/** meta/v1 DeleteOptions, which typed clients send as the body of a DELETE. */
function deleteOptions(top: Field[]): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' };
  for (const f of top) {
    if (f.no === 1 && f.n !== undefined) o.gracePeriodSeconds = Number(f.n);
    if (f.no === 2 && f.b) {
      const pre: Record<string, string> = {};
      for (const p of fields(f.b)) {
        if (p.no === 1 && str(p)) pre.uid = str(p);
        if (p.no === 2 && str(p)) pre.resourceVersion = str(p);
      }
      o.preconditions = pre;
    }
    if (f.no === 3 && f.n !== undefined) o.orphanDependents = f.n !== 0n;
    if (f.no === 4 && str(f)) o.propagationPolicy = str(f);
    if (f.no === 5) ((o.dryRun ??= []) as string[]).push(str(f));
  }
  return o;
}
