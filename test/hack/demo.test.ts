// `npm run demo`'s script end to end (setup aside): it must bring up two nodes, measure both
// matrices and find them differing exactly as its policies say; --down leaves nothing behind.
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

describe('npm run demo', () => {
  it('shows the two matrices differing exactly as the policies say, then tears down', async () => {
    // `--down` removes the cluster dir; the scratch parent goes too when empty (a failed run's cluster
    // state stays for `npm run devcluster -- down`)
    const parent = mkdtempSync(join(tmpdir(), 'kts-demo-'));
    const dir = join(parent, 'cluster');
    try {
      const script = fileURLToPath(new URL('../../hack/demo.ts', import.meta.url));
      const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', script, '--dir', dir, '--down'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.stderr.on('data', (d: Buffer) => (out += d));
        p.on('close', (c) => resolve({ code: c, out }));
      });
      expect({ code, tail: out.slice(-3000) }).toMatchObject({ code: 0 });
      expect(out).toContain('the matrices differ exactly as the policies say');
      expect(out).toMatch(/shop\/intruder\s+closed\s+closed\s+closed\s+closed/);
      expect(existsSync(dir)).toBe(false);
    } finally {
      if (!existsSync(dir)) rmdirSync(parent);
    }
  }, 240_000);
});
