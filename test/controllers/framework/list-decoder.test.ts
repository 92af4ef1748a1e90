// The list decoder (controllers/framework/list-decoder.ts) parses each item of a list as its bytes
// arrive. Cut anywhere — inside a string, an escape, a multi-byte character, between an item's
// braces — it must give JSON.parse's items and metadata; a body cut short is an error, not a short
// list. And the client yields the first item before the server has written the rest.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListDecoder } from '../../../controllers/framework/list-decoder.js';
import type { KubeClient, ResourceRef } from '../../../controllers/framework/index.js';
import { loopbackClient } from './fixtures/local-client.js';

const DOC = JSON.stringify({
  kind: 'ConfigMapList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'tok' },
  items: [
    { metadata: { name: 'a', labels: { items: '[' } }, data: { v: 'grüße ✓ 日本 "quoted" \\ back\\slash }]' } },
    { metadata: { name: 'b' }, data: { items: [{ x: [1, 2, { y: '}' }] }] } },
    { metadata: { name: 'c' }, nested: { items: [] }, data: {} },
  ],
  trailer: { after: ['items', { items: [1] }] },
});

function decode(pieces: Buffer[]): { items: unknown[]; envelope: Record<string, unknown> } {
  const d = new ListDecoder();
  const items: unknown[] = [];
  for (const p of pieces) items.push(...d.write(p));
  return { items, envelope: d.end() };
}

describe('ListDecoder', () => {
  it('gives JSON.parse’s items and envelope however the bytes are cut', () => {
    const bytes = Buffer.from(DOC, 'utf8');
    const whole = JSON.parse(DOC) as { items: unknown[] };
    const expected = { items: whole.items, envelope: { ...whole, items: [] } };
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(decode([bytes.subarray(0, cut), bytes.subarray(cut)])).toEqual(expected);
    }
    // and one byte at a time
    expect(decode([...bytes].map((b) => Buffer.from([b])))).toEqual(expected);
    // pretty-printed, whitespace everywhere
    expect(decode([Buffer.from(JSON.stringify(JSON.parse(DOC), null, 2))])).toEqual(expected);
  });

  it('reads an empty list and a list whose metadata comes after its items', () => {
    expect(decode([Buffer.from('{"kind":"L","metadata":{"resourceVersion":"1"},"items":[]}')])).toEqual({
      items: [],
      envelope: { kind: 'L', metadata: { resourceVersion: '1' }, items: [] },
    });
    expect(decode([Buffer.from('{"items":[{"a":1}],"metadata":{"resourceVersion":"7"}}')])).toEqual({
      items: [{ a: 1 }],
      envelope: { items: [], metadata: { resourceVersion: '7' } },
    });
  });

  it('refuses a body cut short and an item that is not JSON', () => {
    const bytes = Buffer.from(DOC, 'utf8');
    const d = new ListDecoder();
    d.write(bytes.subarray(0, bytes.length - 40));
    expect(() => d.end()).toThrow(/ended before its JSON did/);
    const bad = new ListDecoder();
    expect(() => bad.write(Buffer.from('{"items":[{"a":tru}]}'))).toThrow(/a list item is not JSON/);
  });
});

const configMaps: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
let server: Server | undefined;
let client: KubeClient | undefined;
afterEach(() => {
  for (const c of [client, server]) c?.close();
});

describe('KubeClient.listItems', () => {
  it('yields an item before the server has written the rest of the list', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":"ConfigMapList","metadata":{"resourceVersion":"9"},"items":[{"metadata":{"name":"first"}},');
      void released.then(() => res.end('{"metadata":{"name":"second"}}]}'));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    client = loopbackClient((server.address() as AddressInfo).port);
    const gen = client.listItems(configMaps, { namespace: 'default', resourceVersion: '0' });
    const first = await gen.next();
    expect(first).toEqual({ done: false, value: [{ metadata: { name: 'first' } }] });
    release();
    expect(await gen.next()).toEqual({ done: false, value: [{ metadata: { name: 'second' } }] });
    expect(await gen.next()).toEqual({ done: true, value: { resourceVersion: '9' } });
  });

  it('throws the API server’s Status for an error answer', async () => {
    server = createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 403, reason: 'Forbidden', message: 'no configmaps for you' }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    client = loopbackClient((server.address() as AddressInfo).port);
    await expect(client.listItems(configMaps).next()).rejects.toThrow(/no configmaps for you/);
  });
});
