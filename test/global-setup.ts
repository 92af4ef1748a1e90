// Jest's global setup: `npm run build` before any test (well under a second of work when nothing
// changed). The devcluster, the CNI plugin and the binary tests run the compiled output, so a test
// run must never meet a build older than the sources it tests.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function buildFirst(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'hack', 'build.ts'), '--quiet'], {
    stdio: 'inherit',
  });
}
