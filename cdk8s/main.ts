// `npm run synth`: writes every generated manifest of the install.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthCrdFiles } from './crds-chart.js';

const root = join(import.meta.dirname, '..');
const crdDir = join(root, 'crds', 'v2');
mkdirSync(crdDir, { recursive: true });
const files = synthCrdFiles();
for (const f of readdirSync(crdDir)) if (f.endsWith('.yaml') && !files.has(f)) rmSync(join(crdDir, f));
for (const [name, text] of files) writeFileSync(join(crdDir, name), text);
console.log(`synthesized ${files.size} CRDs into crds/v2/`);
