// Protobuf bodies of the auth APIs kubectl calls through typed clients: SelfSubjectAccessReview
// (`kubectl auth can-i`), SubjectAccessReview, SelfSubjectReview (`kubectl auth whoami`) and
// TokenRequest (`kubectl create token`), decoded by the field numbers of k8s.io/api
// authorization/v1 and authentication/v1 generated.proto.
import type { ProtoField, ProtoReader } from '../protobuf-workloads.js';

type Obj = Record<string, unknown>;

const RESOURCE_ATTRIBUTES = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];

function resourceAttributes(p: ProtoReader, buf: Buffer): Obj {
  const o: Obj = {};
  for (const f of p.fields(buf)) {
    const key = RESOURCE_ATTRIBUTES[f.no - 1];
    if (key && f.b) o[key] = p.str(f);
  }
  return o;
}

function nonResourceAttributes(p: ProtoReader, buf: Buffer): Obj {
  const o: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 1) o.path = p.str(f);
    if (f.no === 2) o.verb = p.str(f);
  }
  return o;
}

function accessReviewSpec(p: ProtoReader, buf: Buffer): Obj {
  const spec: Obj = {};
  for (const f of p.fields(buf)) {
    if (!f.b) continue;
    if (f.no === 1) spec.resourceAttributes = resourceAttributes(p, f.b);
    if (f.no === 2) spec.nonResourceAttributes = nonResourceAttributes(p, f.b);
    if (f.no === 3) spec.user = p.str(f);
    if (f.no === 4) ((spec.groups ??= []) as string[]).push(p.str(f));
    if (f.no === 6) spec.uid = p.str(f);
  }
  return spec;
}

function tokenRequestSpec(p: ProtoReader, buf: Buffer): Obj {
  const spec: Obj = {};
  for (const f of p.fields(buf)) {
    if (f.no === 1) ((spec.audiences ??= []) as string[]).push(p.str(f));
    if (f.no === 4 && f.n !== undefined) spec.expirationSeconds = Number(f.n);
    if (f.no === 3 && f.b) {
      const ref: Obj = {};
      for (const r of p.fields(f.b)) {
        const key = ['kind', 'apiVersion', 'name', 'uid'][r.no - 1];
        if (key) ref[key] = p.str(r);
      }
      spec.boundObjectRef = ref;
    }
  }
  return spec;
}

/** The spec of an auth API body, or undefined when `kind` is not one of them. */
export function reviewSpec(p: ProtoReader, kind: string, top: ProtoField[]): Obj | undefined {
  const specField = top.find((f) => f.no === 2 && f.b);
  const buf = specField?.b ?? Buffer.alloc(0);
  switch (kind) {
    case 'SelfSubjectAccessReview':
    case 'SubjectAccessReview':
      return accessReviewSpec(p, buf);
    case 'TokenRequest':
      return tokenRequestSpec(p, buf);
    case 'SelfSubjectReview':
      return {};
    default:
      return undefined;
  }
}
