// The client's watch stream is newline-delimited JSON cut into chunks wherever the network cut it:
// a chunk may end inside a line or inside a multi-byte UTF-8 character, and one chunk may carry
// many lines. A real HTTP server writes the bytes in exactly such pieces.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeClient } from '../../../controllers/framework/index.js';
import { type ResourceRef } from '../../../controllers/framework/index.js';
import { loopbackClient } from './fixtures/local-client.js';

let server: Server | undefined;
let client: KubeClient | undefined;

afterEach(() => {
  client?.close();
  server?.close();
});

const configMaps: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };

/** Serves one watch response written as the given byte pieces, each in its own write and turn. */
async function serveWatch(pieces: Buffer[]): Promise<number> {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    let i = 0;
    const next = (): void => {
      if (i === pieces.length) {
        res.end();
        return;
      }
      res.write(pieces[i++]);
      setTimeout(next, 5);
    };
    next();
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return (server!.address() as AddressInfo).port;
}

function eventLine(name: string, value: string): string {
  return (
    JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', metadata: { name }, data: { v: value } } }) + '\n'
  );
}

async function collect(port: number): Promise<Array<{ name: string; value: string }>> {
  client = loopbackClient(port);
  const out: Array<{ name: string; value: string }> = [];
  const ac = new AbortController();
  for await (const ev of client.watch(configMaps, { namespace: 'default' }, ac.signal)) {
    const o = ev.object as unknown as { metadata: { name: string }; data: { v: string } };
    out.push({ name: o.metadata.name, value: o.data.v });
  }
  return out;
}

describe('KubeClient watch stream', () => {
  it('a multi-byte character cut between two chunks arrives whole', async () => {
    const bytes = Buffer.from(eventLine('a', 'grüße ✓ 日本') + eventLine('b', 'plain'), 'utf8');
    // Cut inside "✓" (three bytes in UTF-8): after its first byte.
    const cut = bytes.indexOf(Buffer.from('✓', 'utf8')) + 1;
    const port = await serveWatch([bytes.subarray(0, cut), bytes.subarray(cut)]);
    expect(await collect(port)).toEqual([
      { name: 'a', value: 'grüße ✓ 日本' },
      { name: 'b', value: 'plain' },
    ]);
  });

  it('many lines in one chunk and a line across three chunks arrive in order, blank lines skipped', async () => {
    let many = '';
    for (let i = 0; i < 500; i++) many += eventLine(`m${i}`, String(i));
    const long = eventLine('long', 'x'.repeat(3000));
    const pieces = [
      Buffer.from(many + '\n' + long.slice(0, 1000)),
      Buffer.from(long.slice(1000, 2000)),
      Buffer.from(long.slice(2000)),
    ];
    const events = await collect(await serveWatch(pieces));
    expect(events).toHaveLength(501);
    expect(events[0]).toEqual({ name: 'm0', value: '0' });
    expect(events[499]).toEqual({ name: 'm499', value: '499' });
    expect(events[500]).toEqual({ name: 'long', value: 'x'.repeat(3000) });
  });
});
