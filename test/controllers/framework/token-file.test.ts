// The framework client's tokenFile (client-go's kubeconfig field): the file is re-read once the
// refresh period (client-go: about a minute) has passed, at once after invalidate() (a 401), and a
// missing file keeps the last token; the kubeconfig's inline token wins over tokenFile.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigTokenFile, TokenFile } from '../../../controllers/framework/token-file.js';

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
});
