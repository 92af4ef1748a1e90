// Unit tests of the CRD schema machinery (pruning, defaulting, validation errors worded as
// kube-apiserver words them), the patch types and the protobuf envelope decoder.
import { describe, expect, it } from '@jest/globals';
import { jsonPatch, mergePatch, serverSideApply, strategicMerge } from '../../devcluster/apiserver/patch.js';
import { decodeProtobuf } from '../../devcluster/apiserver/protobuf.js';
import { CrdSchema, type JsonSchema } from '../../devcluster/apiserver/schema.js';
import type { KubeObject } from '../../devcluster/apiserver/store.js';

const schema: JsonSchema = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['mode'],
      properties: {
        mode: { type: 'string', enum: ['a', 'b'] },
        port: { type: 'integer', default: 80 },
        cidr: { type: 'string', format: 'cidr' },
        tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        extra: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: { known: { type: 'object', properties: { x: { type: 'string' } } } },
        },
        nested: { type: 'object', default: {}, properties: { enabled: { type: 'boolean', default: true } } },
        size: { 'x-kubernetes-int-or-string': true },
        note: { type: 'string', nullable: true },
      },
    },
  },
};

describe('CRD schema', () => {
  const s = new CrdSchema(schema);
  it('prunes unknown fields except under preserve-unknown-fields, and reports their paths', () => {
    const o = {
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'a', bogus: 1 },
      spec: { mode: 'a', nope: 1, extra: { free: 1, known: { x: 'y', drop: 2 } } },
      top: 1,
    };
    expect(s.prune(o).sort()).toEqual(['metadata.bogus', 'spec.extra.known.drop', 'spec.nope', 'top']);
    expect(o).toEqual({
      apiVersion: 'x/v1',
      kind: 'X',
      metadata: { name: 'a' },
      spec: { mode: 'a', extra: { free: 1, known: { x: 'y' } } },
    });
  });
  it('defaults absent fields top-down, including inside defaulted parents', () => {
    const o = { spec: { mode: 'a' } };
    s.applyDefaults(o);
    expect(o).toEqual({ spec: { mode: 'a', port: 80, nested: { enabled: true } } });
  });
  it('defaults inside array items and additionalProperties; a schema without any default is not walked', () => {
    const deep = new CrdSchema({
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            plain: { type: 'object', properties: { a: { type: 'string' } } },
            rules: {
              type: 'array',
              items: { type: 'object', properties: { port: { type: 'integer', default: 443 } } },
            },
            byName: {
              type: 'object',
              additionalProperties: { type: 'object', properties: { on: { type: 'boolean', default: false } } },
            },
          },
        },
      },
    });
    expect(deep.hasDefaults).toBe(true);
    const o = { spec: { plain: {}, rules: [{}, { port: 80 }], byName: { x: {} } } };
    deep.applyDefaults(o);
    expect(o).toEqual({ spec: { plain: {}, rules: [{ port: 443 }, { port: 80 }], byName: { x: { on: false } } } });
    const none = new CrdSchema({
      type: 'object',
      properties: { spec: { type: 'object', properties: { a: { type: 'string' } } } },
    });
    expect(none.hasDefaults).toBe(false);
    expect(s.hasDefaults).toBe(true);
  });
  it('validates with kube-style field errors', () => {
    const causes = s.validate({
      metadata: {},
      spec: { mode: 'c', port: 'x', cidr: '10.0.0.0/33', tags: ['a', 'a'], size: 'big', note: null },
    });
    const texts = causes.map((c) => `${c.reason} ${c.field}: ${c.message}`);
    expect(texts).toContain('FieldValueNotSupported spec.mode: Unsupported value: "c": supported values: "a", "b"');
    expect(texts).toContain(
      'FieldValueTypeInvalid spec.port: Invalid value: "x": spec.port in body must be of type integer: "string"',
    );
    expect(texts).toContain(
      'FieldValueInvalid spec.cidr: Invalid value: "10.0.0.0/33": spec.cidr in body must be of type cidr: "10.0.0.0/33"',
    );
    expect(texts).toContain('FieldValueDuplicate spec.tags[1]: Duplicate value: "a"');
    expect(causes).toHaveLength(4);
    expect(s.validate({ metadata: {}, spec: {} }).map((c) => `${c.field}: ${c.message}`)).toEqual([
      'spec.mode: Required value',
    ]);
    expect(s.validate({ metadata: {}, spec: { mode: 'a', cidr: 'fd00::/64', size: 3 } })).toEqual([]);
  });
  it('ignores formats it does not know instead of failing to compile', () => {
    expect(
      () => new CrdSchema({ type: 'object', properties: { a: { type: 'string', format: 'no-such-format' } } }),
    ).not.toThrow();
  });
});

describe('patches', () => {
  const live: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { a: '1' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'c1', image: 'i1' },
        { name: 'c2', image: 'i2' },
      ],
    },
  };
  it('merge patch (RFC 7386) replaces lists and deletes with null', () => {
    expect(mergePatch(live, { metadata: { labels: { a: null, b: '2' } }, spec: { containers: [] } })).toMatchObject({
      metadata: { labels: { b: '2' } },
      spec: { containers: [] },
    });
  });
  it('strategic merge merges lists by key and honours $patch directives', () => {
    const out = strategicMerge(live, {
      metadata: { finalizers: ['y'] },
      spec: {
        containers: [
          { name: 'c2', image: 'new' },
          { name: 'c1', $patch: 'delete' },
          { name: 'c3', image: 'i3' },
        ],
      },
    }) as KubeObject;
    expect(out.metadata.finalizers).toEqual(['x', 'y']);
    expect((out.spec as { containers: unknown[] }).containers).toEqual([
      { name: 'c2', image: 'new' },
      { name: 'c3', image: 'i3' },
    ]);
  });
  it('json patch (RFC 6902) reports a failed test as Invalid', () => {
    expect(
      jsonPatch(live, [{ op: 'add', path: '/metadata/labels/b', value: '2' }], 'Pod', '', 'p').metadata.labels,
    ).toEqual({ a: '1', b: '2' });
    expect(() => jsonPatch(live, [{ op: 'test', path: '/metadata/name', value: 'q' }], 'Pod', '', 'p')).toThrow(
      /is invalid/,
    );
  });
  it("server-side apply removes what the same manager stopped applying, and keeps others' fields", () => {
    const first = serverSideApply(
      undefined,
      { metadata: { name: 'p', labels: { a: '1', b: '2' } }, spec: { x: 1, y: 2 } },
      'm1',
      'v1',
    );
    const other = { ...first, spec: { ...(first.spec as object), z: 3 } };
    const second = serverSideApply(other, { metadata: { name: 'p', labels: { a: '1' } }, spec: { x: 5 } }, 'm1', 'v1');
    expect(second.metadata.labels).toEqual({ a: '1' });
    expect(second.spec).toEqual({ x: 5, z: 3 });
    expect(() => serverSideApply(undefined, { metadata: {} }, '', 'v1')).toThrow(/fieldManager/);
    // A field another manager also applied stays when this one drops it.
    const shared = serverSideApply(
      serverSideApply(first, { metadata: { name: 'p' }, spec: { y: 2 } }, 'm2', 'v1'),
      { metadata: { name: 'p' }, spec: { x: 1 } },
      'm1',
      'v1',
    );
    expect(shared.spec).toEqual({ x: 1, y: 2 });
  });
});

// Minimal protobuf encoder for building the envelope kubectl sends.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
};
const bytesField = (no: number, b: Buffer): Buffer =>
  Buffer.from([...varint((no << 3) | 2), ...varint(b.length), ...b]);
const str = (no: number, s: string): Buffer => bytesField(no, Buffer.from(s));
const entry = (no: number, k: string, v: Buffer | string): Buffer =>
  bytesField(no, Buffer.concat([str(1, k), typeof v === 'string' ? str(2, v) : bytesField(2, v)]));
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from([0x6b, 0x38, 0x73, 0x00]),
    bytesField(1, Buffer.concat([str(1, apiVersion), str(2, kind)])),
    bytesField(2, raw),
    str(3, ''),
    str(4, ''),
  ]);

describe('protobuf envelope', () => {
  it('decodes a ConfigMap as kubectl create configmap sends it', () => {
    const meta = Buffer.concat([str(1, 'cfg'), str(2, ''), str(3, 'x'), entry(11, 'app', 'web')]);
    const raw = Buffer.concat([bytesField(1, meta), entry(2, 'a', 'b'), entry(3, 'bin', Buffer.from([1, 2]))]);
    expect(decodeProtobuf(envelope('v1', 'ConfigMap', raw))).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: 'x', labels: { app: 'web' } },
      data: { a: 'b' },
      binaryData: { bin: 'AQI=' },
    });
  });
  it('decodes what typed clients send on update (resourceVersion, uid, creationTimestamp, ownerReferences) and DeleteOptions', () => {
    const time = bytesField(8, Buffer.from([0x08, ...varint(1_700_000_000)]));
    const owner = bytesField(
      13,
      Buffer.concat([str(1, 'Deployment'), str(3, 'web'), str(4, 'u-1'), str(5, 'apps/v1'), Buffer.from([0x30, 0x01])]),
    );
    const meta = Buffer.concat([str(1, 's'), str(3, 'ns'), str(5, 'uid-1'), str(6, '42'), time, owner]);
    expect(decodeProtobuf(envelope('v1', 'Secret', bytesField(1, meta))).metadata).toEqual({
      name: 's',
      namespace: 'ns',
      uid: 'uid-1',
      resourceVersion: '42',
      creationTimestamp: '2023-11-14T22:13:20Z',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'u-1', controller: true }],
    });
    const opts = Buffer.concat([
      bytesField(2, Buffer.concat([str(1, 'uid-1'), str(2, '42')])),
      str(4, 'Foreground'),
      str(5, 'All'),
    ]);
    expect(decodeProtobuf(envelope('meta.k8s.io/v1', 'DeleteOptions', opts))).toEqual({
      kind: 'DeleteOptions',
      apiVersion: 'meta.k8s.io/v1',
      preconditions: { uid: 'uid-1', resourceVersion: '42' },
      propagationPolicy: 'Foreground',
      dryRun: ['All'],
    });
  });

  it('decodes Namespace and Secret, and refuses other kinds with 415', () => {
    expect(
      decodeProtobuf(
        envelope('v1', 'Namespace', Buffer.concat([bytesField(1, str(1, 'ns1')), bytesField(2, Buffer.alloc(0))])),
      ),
    ).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' }, spec: {} });
    const secret = decodeProtobuf(
      envelope(
        'v1',
        'Secret',
        Buffer.concat([bytesField(1, str(1, 's')), entry(2, 'k', Buffer.from('v')), str(3, 'Opaque')]),
      ),
    );
    expect(secret).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { k: 'dg==' },
      type: 'Opaque',
    });
    expect(() => decodeProtobuf(envelope('v1', 'Pod', Buffer.alloc(0)))).toThrow(
      expect.objectContaining({ status: 415 }),
    );
    expect(() => decodeProtobuf(Buffer.from('{}'))).toThrow(expect.objectContaining({ status: 415 }));
  });
});
