// The client's pooled keep-alive sockets: a server that closes an idle connection just as the
// client reuses it (its keep-alive timeout racing the next request) must not fail the request.
// Made deterministic with a raw HTTP/1.1 server that answers the first request of a connection
// and resets the connection on the second, as a server that timed the socket out would.
import { afterEach, describe, expect, it } from '@jest/globals';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { KubeClient } from '../../../controllers/framework/index.js';
import { loopbackClient } from './fixtures/local-client.js';

let server: Server | undefined;
let client: KubeClient | undefined;

afterEach(() => {
  client?.close();
  server?.close();
});

/** A server counting connections; each connection answers `answered` requests, then resets. */
async function resettingServer(answered: number): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  server = createServer((sock: Socket) => {
    connections++;
    let requests = 0;
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        if (++requests > answered) {
          sock.resetAndDestroy();
          return;
        }
        sock.write(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}',
        );
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { port: (server!.address() as AddressInfo).port, connections: () => connections };
}

describe('KubeClient keep-alive', () => {
  it('a request on a pooled socket the server reset is sent again on a fresh connection', async () => {
    const s = await resettingServer(1);
    client = loopbackClient(s.port);
    await client.request('GET', '/api');
    await client.request('GET', '/api'); // reuses the socket, which the server resets
    await client.request('PATCH', '/api/v1/namespaces/x', {}, 'application/merge-patch+json');
    expect(s.connections()).toBe(3);
  });

  it('a reset on a fresh connection is an error, not a retry loop', async () => {
    const s = await resettingServer(0);
    client = loopbackClient(s.port);
    await expect(client.request('GET', '/api')).rejects.toThrow(/GET \/api: (socket hang up|read ECONNRESET)/);
    expect(s.connections()).toBe(1);
  });
});
