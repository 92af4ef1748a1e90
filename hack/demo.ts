// `npm run demo`: the project's main job. It grows with the project; for now it proves the
// toolchain and shows the CRDs that users apply with kubectl.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const crdDir = join(import.meta.dirname, '..', 'crds', 'v2');
console.log(`cilium-ts demo on Node ${process.version}`);
const files = readdirSync(crdDir).filter((f) => f.endsWith('.yaml'));
console.log(`CRDs ready to apply with kubectl (${files.length}):`);
for (const f of files) console.log(`  crds/v2/${f}`);
