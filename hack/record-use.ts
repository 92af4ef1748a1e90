// Records what each component of the install actually asks the API server for during the e2e
// suites, for test/install/recorded-use.test.ts: runs the given e2e files (one at a time) with
// KTS_DEVCLUSTER_RECORD_USE set, keeps the records of the install's ServiceAccounts, and writes
// them sorted and deduplicated to test/install/fixtures/recorded-use.jsonl.
//   node --import tsx hack/record-use.ts [test/e2e/agent-two-nodes.test.ts …]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_USE_ENV } from '../devcluster/cluster.js';
import type { UseRecord } from '../devcluster/apiserver/auth/use-recorder.js';

const files = process.argv.slice(2);
if (!files.length) files.push('test/e2e/agent-two-nodes.test.ts');
const OUT = 'test/install/fixtures/recorded-use.jsonl';
const dir = mkdtempSync(join(tmpdir(), 'kts-record-use-'));
const raw = join(dir, 'use.jsonl');
try {
  for (const f of files) {
    const r = spawnSync(
      process.execPath,
      ['--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', f],
      { stdio: 'inherit', env: { ...process.env, [RECORD_USE_ENV]: raw } },
    );
    if (r.status !== 0) throw new Error(`${f} failed: its recorded use would be incomplete`);
  }
  const lines = new Set<string>();
  for (const l of existsSync(raw) ? readFileSync(raw, 'utf8').split('\n') : []) {
    if (!l) continue;
    const r = JSON.parse(l) as UseRecord;
    if (!r.user.startsWith('system:serviceaccount:')) continue;
    delete r.namespace;
    lines.add(JSON.stringify(r));
  }
  writeFileSync(OUT, [...lines].sort().join('\n') + '\n');
  console.log(`${OUT}: ${lines.size} distinct uses from ${files.join(', ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
