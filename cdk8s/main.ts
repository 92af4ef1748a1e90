// `npm run synth`: writes every generated manifest of the install (see outputs.ts) and removes
// stale files from the directories that hold only generated files.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { GENERATED_DIRS, synthOutputs } from './outputs.js';

const root = join(import.meta.dirname, '..');
const files = synthOutputs();

function walk(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
  } catch {
    return [];
  }
  return names.flatMap((n) => (n.endsWith('/') ? walk(join(dir, n)) : [join(dir, n)]));
}

for (const dir of GENERATED_DIRS) {
  for (const file of walk(join(root, dir))) {
    const rel = relative(root, file);
    if (!files.has(rel) && !(dir === 'crds/v2' && !rel.endsWith('.yaml'))) rmSync(file);
  }
}
for (const [rel, text] of files) {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}
console.log(
  `synthesized ${files.size} files: ${[...new Set([...files.keys()].map((f) => f.split('/').slice(0, 2).join('/')))].join(', ')}`,
);
