// The layering check (.dependency-cruiser.cjs) refuses imports that point up docs/design.md's table.
import { afterAll, describe, expect, it } from '@jest/globals';
import { cruise } from 'dependency-cruiser';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const config = require('../../.dependency-cruiser.cjs') as { forbidden: unknown[] };
const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-layering-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tree(files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}

async function violations(entry: string[]): Promise<string[]> {
  const result = await cruise(entry, {
    baseDir: dir,
    validate: true,
    ruleSet: { forbidden: config.forbidden } as never,
    tsPreCompilationDeps: true,
  });
  const summary = (result.output as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } })
    .summary;
  return summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
}

describe('layering check', () => {
  tree({
    'crds/types.ts': 'export const A = 1;\n',
    'datapath/maps.ts': 'export const M = 1;\n',
    'policy/engine.ts':
      "import { A } from '../crds/types.js';\nimport { M } from '../datapath/maps.js';\nexport const E = A + M;\n",
    'crds/bad.ts': "import { E } from '../policy/engine.js';\nexport const B = E;\n",
    'controllers/agent/a.ts': "import { E } from '../../policy/engine.js';\nexport const X = E;\n",
  });

  it('flags policy/ importing datapath/ and crds/ importing policy/', async () => {
    const found = await violations(['policy', 'crds', 'datapath']);
    expect(found).toEqual(
      expect.arrayContaining([
        'policy-is-pure: policy/engine.ts -> datapath/maps.ts',
        'crds-import-nothing: crds/bad.ts -> policy/engine.ts',
      ]),
    );
  });

  it('flags a value import cycle but not one made only of `import type`', async () => {
    tree({
      'hubble/a.ts': "import { B } from './b.js';\nexport const A = B + 1;\n",
      'hubble/b.ts': "import { A } from './a.js';\nexport const B = () => A;\n",
      'cni/x.ts': "import type { Y } from './y.js';\nexport type X = { y?: Y };\n",
      'cni/y.ts': "import type { X } from './x.js';\nexport type Y = { x?: X };\n",
    });
    const found = await violations(['hubble', 'cni']);
    expect(found.some((v) => v.startsWith('no-circular: hubble/'))).toBe(true);
    expect(found.some((v) => v.startsWith('no-circular: cni/'))).toBe(false);
  });

  it('controllers/kvstore/ stands on etcd alone; agent and operator may import it', async () => {
    tree({
      'controllers/kvstore/client.ts': 'export const KV = 1;\n',
      'controllers/kvstore/bad.ts':
        "import { X } from '../agent/kv-user.js';\nimport { F } from '../framework/f.js';\nexport const B = X + F;\n",
      'controllers/framework/f.ts': 'export const F = 1;\n',
      'controllers/agent/kv-user.ts': "import { KV } from '../kvstore/client.js';\nexport const X = KV;\n",
      'controllers/operator/kv-user.ts': "import { KV } from '../kvstore/client.js';\nexport const Y = KV;\n",
    });
    const found = await violations(['controllers']);
    expect(found).toEqual(
      expect.arrayContaining([
        'kvstore-not-controllers: controllers/kvstore/bad.ts -> controllers/agent/kv-user.ts',
        'kvstore-not-controllers: controllers/kvstore/bad.ts -> controllers/framework/f.ts',
      ]),
    );
    expect(found.filter((v) => v.includes('-> controllers/kvstore/'))).toEqual([]);
  });

  it('keeps config/ at the bottom: cdk8s/, controllers and cmd/ import it, it imports none of ours', async () => {
    tree({
      'config/keys.ts': 'export const KEYS = 1;\n',
      'config/bad.ts': "import { X } from '../cdk8s/install.js';\nexport const Y = X;\n",
      'cdk8s/install.ts': "import { KEYS } from '../config/keys.js';\nexport const X = KEYS;\n",
      'controllers/agent/config.ts': "import { KEYS } from '../../config/keys.js';\nexport const C = KEYS;\n",
      'cmd/agent.ts': "import { KEYS } from '../config/keys.js';\nexport const M = KEYS;\n",
    });
    const found = await violations(['config', 'cdk8s', 'controllers', 'cmd']);
    expect(found).toContain('config-imports-nothing: config/bad.ts -> cdk8s/install.ts');
    expect(found.filter((v) => v.includes('-> config/'))).toEqual([]);
  });

  it('whatif/ may use policy/, crds/ and hubble/ types and client; not datapath/ or the Hubble observer', async () => {
    tree({
      'hubble/types.ts': 'export type Flow = { a?: number };\n',
      'hubble/observer.ts': 'export const O = 1;\n',
      'whatif/ok.ts':
        "import { E } from '../policy/engine.js';\nimport type { Flow } from '../hubble/types.js';\nexport const W = (f: Flow) => E + (f.a ?? 0);\n",
      'whatif/bad.ts':
        "import { M } from '../datapath/maps.js';\nimport { O } from '../hubble/observer.js';\nexport const B = M + O;\n",
    });
    const found = await violations(['whatif']);
    expect(found.filter((v) => v.includes('whatif/ok.ts'))).toEqual([]);
    expect(found).toEqual(
      expect.arrayContaining([
        'whatif-on-policy-and-hubble-types: whatif/bad.ts -> datapath/maps.ts',
        'whatif-not-hubble-runtime: whatif/bad.ts -> hubble/observer.ts',
      ]),
    );
  });

  it('proxy/ may use policy/, crds/ and hubble/ types; not datapath/, the agent or the Hubble observer', async () => {
    tree({
      'hubble/types.ts': 'export type Flow = { a?: number };\n',
      'hubble/observer.ts': 'export const O = 1;\n',
      'proxy/ok.ts':
        "import { E } from '../policy/engine.js';\nimport type { Flow } from '../hubble/types.js';\nexport const P = (f: Flow) => E + (f.a ?? 0);\n",
      'proxy/bad.ts':
        "import { M } from '../datapath/maps.js';\nimport { O } from '../hubble/observer.js';\nimport { X } from '../controllers/agent/a.js';\nexport const B = M + O + X;\n",
    });
    const found = await violations(['proxy']);
    expect(found.filter((v) => v.includes('proxy/ok.ts'))).toEqual([]);
    expect(found).toEqual(
      expect.arrayContaining([
        'proxy-on-policy-and-hubble-types: proxy/bad.ts -> datapath/maps.ts',
        'proxy-on-policy-and-hubble-types: proxy/bad.ts -> controllers/agent/a.ts',
        'proxy-not-hubble-runtime: proxy/bad.ts -> hubble/observer.ts',
      ]),
    );
  });

  it('hubble-ui/ uses the hubble/ client, whatif/ and the framework client; only cmd/ imports it', async () => {
    tree({
      'hubble/client.ts': 'export const CLIENT = 1;\n',
      'hubble/relay.ts': 'export const RELAY = 1;\n',
      'whatif/index.ts': 'export const WHATIF = 1;\n',
      'controllers/framework/client.ts': 'export const KUBE = 1;\n',
      'controllers/agent/policy.ts': 'export const POLICY = 1;\n',
      'hubble-ui/ok.ts':
        "import { CLIENT } from '../hubble/client.js';\nimport { WHATIF } from '../whatif/index.js';\nimport { KUBE } from '../controllers/framework/client.js';\nexport const OK = CLIENT + WHATIF + KUBE;\n",
      'hubble-ui/bad.ts':
        "import { RELAY } from '../hubble/relay.js';\nimport { POLICY } from '../controllers/agent/policy.js';\nimport { M } from '../datapath/maps.js';\nexport const BAD = RELAY + POLICY + M;\n",
      'cmd/hubble-ui.ts': "import { OK } from '../hubble-ui/ok.js';\nexport const UI = OK;\n",
      'hubble/uses-ui.ts': "import { OK } from '../hubble-ui/ok.js';\nexport const U = OK;\n",
    });
    const found = await violations(['hubble-ui', 'cmd', 'hubble']);
    expect(found.filter((v) => v.includes('hubble-ui/ok.ts ->') || v.includes('cmd/hubble-ui.ts'))).toEqual([]);
    expect(found).toEqual(
      expect.arrayContaining([
        'hubble-ui-not-hubble-runtime: hubble-ui/bad.ts -> hubble/relay.ts',
        'hubble-ui-only-framework-client: hubble-ui/bad.ts -> controllers/agent/policy.ts',
        'hubble-ui-on-hubble-client-and-whatif: hubble-ui/bad.ts -> datapath/maps.ts',
        'only-cmd-uses-hubble-ui: hubble/uses-ui.ts -> hubble-ui/ok.ts',
      ]),
    );
  });

  it('allows the arrows that point down (agent -> policy -> crds)', async () => {
    const found = await violations(['controllers']);
    expect(found.filter((v) => v.includes('controllers/agent/a.ts'))).toEqual([]);
  });
  it('devcluster/ uses the framework and launch description; only test/ and hack/ import it', async () => {
    tree({
      'controllers/framework/client.ts': 'export const CLIENT = 1;\n',
      'controllers/agent/policy.ts': 'export const POLICY = 1;\n',
      'cdk8s/process-launch.ts': 'export const LAUNCH = 1;\n',
      'cdk8s/install.ts': 'export const INSTALL = 1;\n',
      'devcluster/ok.ts':
        "import { CLIENT } from '../controllers/framework/client.js';\nimport { LAUNCH } from '../cdk8s/process-launch.js';\nexport const OK = CLIENT + LAUNCH;\n",
      'devcluster/bad.ts':
        "import { POLICY } from '../controllers/agent/policy.js';\nimport { INSTALL } from '../cdk8s/install.js';\nexport const BAD = POLICY + INSTALL;\n",
      'hack/demo.ts': "import { OK } from '../devcluster/ok.js';\nexport const D = OK;\n",
      'cmd/agent.ts': "import { OK } from '../devcluster/ok.js';\nexport const A = OK;\n",
    });
    const found = await violations(['devcluster', 'hack', 'cmd']);
    expect(found).toEqual(
      expect.arrayContaining([
        'devcluster-not-controller-insides: devcluster/bad.ts -> controllers/agent/policy.ts',
        'devcluster-only-launch-from-cdk8s: devcluster/bad.ts -> cdk8s/install.ts',
        'only-tests-and-hack-use-devcluster: cmd/agent.ts -> devcluster/ok.ts',
      ]),
    );
    expect(
      found.filter(
        (v) => v.includes('devcluster/ok.ts ->') || v.startsWith('only-tests-and-hack-use-devcluster: hack/'),
      ),
    ).toEqual([]);
  });
  it('devcluster/apiserver/auth/ sits below the serving code (server, handlers, router, watch)', async () => {
    tree({
      'devcluster/apiserver/server.ts': "import { RBAC } from './auth/rbac.js';\nexport const S = RBAC;\n",
      'devcluster/apiserver/store.ts': 'export const STORE = 1;\n',
      'devcluster/apiserver/auth/rbac.ts': "import { STORE } from '../store.js';\nexport const RBAC = STORE;\n",
      'devcluster/apiserver/auth/bad.ts': "import { S } from '../server.js';\nexport const B = S;\n",
    });
    const found = await violations(['devcluster']);
    expect(found).toContain(
      'apiserver-auth-below-serving: devcluster/apiserver/auth/bad.ts -> devcluster/apiserver/server.ts',
    );
    expect(
      found.filter(
        (v) =>
          v.includes('auth/rbac.ts ->') || v.startsWith('apiserver-auth-below-serving: devcluster/apiserver/server.ts'),
      ),
    ).toEqual([]);
  });
});
