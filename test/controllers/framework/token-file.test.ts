// The framework client's tokenFile (client-go's kubeconfig field): the file is re-read once the
// refresh period (client-go: about a minute) has passed, at once after invalidate() (a 401), and a
// missing file keeps the last token; the kubeconfig's inline token wins over tokenFile.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeClient } from '../../../controllers/framework/index.js';
import { inClusterTokenFile, kubeconfigTokenFile, TokenFile } from '../../../controllers/framework/token-file.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-token-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TokenFile', () => {
  it('re-reads after the refresh period, or at once after invalidate, and survives a missing file', () => {
    const path = join(dir, 'token');
    writeFileSync(path, 'one\n');
    let now = 0;
    const t = new TokenFile(path, { refreshMs: 60_000, now: () => now });
    expect(t.get()).toBe('one');
    writeFileSync(path, 'two');
    now = 59_999;
    expect(t.get()).toBe('one');
    now = 60_000;
    expect(t.get()).toBe('two');
    writeFileSync(path, 'three');
    t.invalidate();
    expect(t.get()).toBe('three');
    unlinkSync(path);
    now = 200_000;
    expect(t.get()).toBe('three');
  });

  it("finds the current user's tokenFile in a kubeconfig; an inline token takes precedence", () => {
    const kc = (user: string): string => {
      const p = join(dir, `kc-${Math.random()}`);
      writeFileSync(
        p,
        `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\nusers:\n- name: u\n  user: ${user}\n`,
      );
      return p;
    };
    expect(kubeconfigTokenFile(kc('{tokenFile: /var/run/token}'))).toBe('/var/run/token');
    expect(kubeconfigTokenFile(kc('{token: abc, tokenFile: /var/run/token}'))).toBeUndefined();
    expect(kubeconfigTokenFile(kc('{}'))).toBeUndefined();
  });

  it('an in-cluster configuration (the ServiceAccount token file) is re-read by the client, not applied once', async () => {
    const path = join(dir, 'sa-token');
    writeFileSync(path, 'first');
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    // what client-node's loadFromCluster builds
    kc.loadFromOptions({
      clusters: [
        {
          name: 'in-cluster',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'sa', authProvider: { name: 'tokenFile', config: { tokenFile: path } } }],
      contexts: [{ name: 'c', cluster: 'in-cluster', user: 'sa' }],
      currentContext: 'c',
    });
    expect(inClusterTokenFile(kc)).toBe(path);
    const client = new KubeClient({ kubeConfig: kc, tokenRefreshMs: 0 });
    try {
      await client.request('GET', '/api');
      writeFileSync(path, 'rotated');
      await client.request('GET', '/api');
      expect(seen).toEqual(['Bearer first', 'Bearer rotated']);
    } finally {
      client.close();
      server.close();
    }
  });
});
