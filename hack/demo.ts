// `npm run demo`: the project's main job (run after hack/setup.sh). It grows with the project;
// today it shows the CRDs a user applies with kubectl and how a bad policy is refused.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { validateObject } from '../crds/index.js';

const root = join(import.meta.dirname, '..');
const say = (s: string) => console.log(`[demo] ${s}`);

say(`running on Node ${process.version} (the pinned devDependency)`);
const files = readdirSync(join(root, 'crds', 'v2')).filter((f) => f.endsWith('.yaml'));
say(`${files.length} CRDs ready for \`kubectl apply -f crds/v2/\`:`);
for (const f of files) {
  const crd = parse(readFileSync(join(root, 'crds', 'v2', f), 'utf8')) as { spec: { names: { kind: string; shortNames: string[] }; scope: string } };
  say(`  ${crd.spec.names.kind.padEnd(32)} ${crd.spec.scope.padEnd(10)} short names: ${crd.spec.names.shortNames.join(', ')}`);
}

const policy = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'demo', namespace: 'default' },
  spec: {
    endpointSelector: { matchLabels: { app: 'web' } },
    egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['192.168.0.0/16'] }] }, { toPorts: [{ ports: [{ port: '443', endPort: 80 }] }] }],
  },
};
say('validating a CiliumNetworkPolicy with two mistakes:');
for (const e of validateObject('CiliumNetworkPolicy', policy)) say(`  ${e.code} ${e.field}: ${e.message}`);
say('done: toolchain, CRDs and validators are in place (the devcluster, agent and datapath come next)');
