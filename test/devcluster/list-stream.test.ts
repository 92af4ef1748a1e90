// A whole list is written as etcd's pages are read (devcluster/apiserver/list-response.ts): over
// several etcd pages it must still be one consistent JSON list — every object once, in key order,
// at one resourceVersion, selectors applied per page — and equal the same list read in pages.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Agent, request } from 'node:https';
import type { Devcluster } from '../../devcluster/cluster.js';
import { startDevcluster } from '../e2e/harness.js';

let cluster: Devcluster;
let agent: Agent;
const TOKEN = 'sekret';
/** More than two of the list's etcd pages (1,000 keys each). */
const COUNT = 2_100;
const NS = `stream-${process.pid}`;

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

function call(method: string, path: string, body?: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'Content-Type': 'application/json',
      Authorization: `Bearer ${TOKEN}`,
    };
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
    const req = request(`${cluster.url}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

type List = { metadata: { resourceVersion: string; continue?: string }; items: { metadata: { name: string } }[] };
const names = (l: List): string[] => l.items.map((i) => i.metadata.name);

beforeAll(async () => {
  cluster = await startDevcluster('list-stream', { token: TOKEN });
  agent = new Agent({ ca: cluster.tls.caCert, keepAlive: true, maxSockets: 16 });
  expect((await call('POST', '/api/v1/namespaces', { metadata: { name: NS } })).status).toBe(201);
  const todo = Array.from({ length: COUNT }, (_, i) => i);
  const worker = async (): Promise<void> => {
    for (let i = todo.shift(); i !== undefined; i = todo.shift()) {
      const res = await call('POST', `/api/v1/namespaces/${NS}/configmaps`, {
        metadata: { name: `cm-${String(i).padStart(5, '0')}`, labels: { odd: String(i % 2 === 1) } },
        data: { i: String(i) },
      });
      if (res.status !== 201) throw new Error(`create cm-${i}: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}, 300_000);

afterAll(async () => {
  agent?.destroy();
  await cluster?.stop();
});

describe('a whole list streams', () => {
  it('serves every object once, in key order, at one resourceVersion, chunked, as a paged read sees it', async () => {
    const whole = await call('GET', `/api/v1/namespaces/${NS}/configmaps?resourceVersion=0`);
    expect(whole.status).toBe(200);
    expect(whole.headers['transfer-encoding']).toBe('chunked');
    expect(whole.headers['content-length']).toBeUndefined();
    const list = whole.json as unknown as List;
    expect(whole.json).toMatchObject({ kind: 'ConfigMapList', apiVersion: 'v1' });
    const expected = Array.from({ length: COUNT }, (_, i) => `cm-${String(i).padStart(5, '0')}`);
    expect(names(list)).toEqual(expected);
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThan(0);
    expect(list.metadata.continue).toBeUndefined();

    // The same list in pages of 500 at the same revision.
    const paged: string[] = [];
    let cont = '';
    do {
      const page = (
        await call(
          'GET',
          `/api/v1/namespaces/${NS}/configmaps?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`,
        )
      ).json as unknown as List;
      expect(page.items.length).toBeLessThanOrEqual(500);
      paged.push(...names(page));
      cont = page.metadata.continue ?? '';
    } while (cont);
    expect(paged).toEqual(expected);
  });

  it('applies a label selector on every etcd page, and answers an empty list as a list', async () => {
    const odd = (await call('GET', `/api/v1/namespaces/${NS}/configmaps?labelSelector=odd%3Dtrue`))
      .json as unknown as List;
    expect(odd.items).toHaveLength(COUNT / 2);
    expect(names(odd).every((n) => Number(n.slice(3)) % 2 === 1)).toBe(true);
    const none = await call('GET', `/api/v1/namespaces/${NS}/configmaps?labelSelector=odd%3Dmaybe`);
    expect(none.status).toBe(200);
    expect(none.json).toMatchObject({ kind: 'ConfigMapList', items: [] });
    expect(Number((none.json as unknown as List).metadata.resourceVersion)).toBeGreaterThan(0);
    const missing = await call('GET', '/api/v1/namespaces/nowhere/configmaps');
    expect(missing).toMatchObject({ status: 200, json: { items: [] } });
  });
});
