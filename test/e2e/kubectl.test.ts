// Real kubectl 1.32 against the devcluster API server: the "Done when" list of issue 3.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Devcluster } from '../../devcluster/cluster.js';
import { CRD_DIR, eventually, Kubectl, startDevcluster } from './harness.js';

let cluster: Devcluster;
let k: Kubectl;

const cnp = (name: string, role: string, labels: Record<string, string> = {}): string => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: ${name}
  labels: ${JSON.stringify(labels)}
spec:
  endpointSelector: {matchLabels: {role: ${role}}}
  ingress:
    - fromEndpoints: [{matchLabels: {role: frontend}}]
      toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`;

beforeAll(async () => {
  cluster = await startDevcluster('kubectl');
  k = new Kubectl(cluster);
  await k.ok(['apply', '-f', CRD_DIR]);
  await k.ok(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=20s']);
}, 60_000);

afterAll(async () => {
  k?.stopAll();
  await cluster?.stop();
});

describe('kubectl 1.32 against the devcluster', () => {
  it('serves the cilium.io/v2 CRDs with their short names', async () => {
    const out = await k.ok(['api-resources', '--api-group=cilium.io', '--no-headers']);
    expect(out).toMatch(/ciliumnetworkpolicies\s+cnp,ciliumnp\s+cilium\.io\/v2\s+true\s+CiliumNetworkPolicy/);
    expect(out).toMatch(/ciliumnodes\s+cn,ciliumn\s+cilium\.io\/v2\s+false\s+CiliumNode/);
    const crd = JSON.parse(await k.ok(['get', 'crd', 'ciliumnetworkpolicies.cilium.io', '-o', 'json']));
    const types = crd.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`);
    expect(types).toEqual(expect.arrayContaining(['NamesAccepted=True', 'Established=True']));
    expect(crd.metadata.finalizers).toContain('customresourcecleanup.apiextensions.k8s.io');
  });

  it('applies, gets (-A, -o wide, -o yaml, -l, --field-selector), labels, patches and deletes CNPs', async () => {
    expect(await k.ok(['apply', '-f', '-'], cnp('web', 'web', { app: 'web', tier: 'front' }))).toContain(
      'ciliumnetworkpolicy.cilium.io/web created',
    );
    await k.ok(['apply', '-f', '-'], cnp('db', 'db', { app: 'db', tier: 'back' }));
    expect(await k.ok(['apply', '-f', '-'], cnp('web', 'web', { app: 'web', tier: 'front' }))).toContain('unchanged');

    const all = await k.ok(['get', 'cnp', '-A']);
    expect(all.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+AGE\s+VALID/);
    expect(all).toMatch(/default\s+web\s+\d+s/);
    expect(await k.ok(['get', 'cnp', '-o', 'wide'])).toMatch(/NAME\s+AGE\s+VALID/);

    const yaml = await k.ok(['get', 'cnp', 'web', '-o', 'yaml']);
    expect(yaml).toContain('kind: CiliumNetworkPolicy');
    expect(yaml).toMatch(/resourceVersion: "\d+"/);
    expect(yaml).toContain('generation: 1');

    expect(await k.ok(['get', 'cnp', '-l', 'app in (web),tier!=back', '-o', 'name'])).toBe(
      'ciliumnetworkpolicy.cilium.io/web\n',
    );
    expect(await k.ok(['get', 'cnp', '--field-selector', 'metadata.name=db', '-o', 'name'])).toBe(
      'ciliumnetworkpolicy.cilium.io/db\n',
    );
    expect(
      await k.ok(['get', 'cnp', '--field-selector', 'metadata.namespace=default', '-l', 'app', '-o', 'name']),
    ).toContain('/db');

    await k.ok(['label', 'cnp', 'web', 'env=prod']);
    expect(await k.ok(['get', 'cnp', '-l', 'env=prod', '-o', 'name'])).toBe('ciliumnetworkpolicy.cilium.io/web\n');

    await k.ok(['patch', 'cnp', 'web', '--type=merge', '-p', '{"spec":{"description":"merged"}}']);
    await k.ok([
      'patch',
      'cnp',
      'web',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/spec/endpointSelector/matchLabels/role","value":"api"}]',
    ]);
    const web = JSON.parse(await k.ok(['get', 'cnp', 'web', '-o', 'json']));
    expect(web.spec.description).toBe('merged');
    expect(web.spec.endpointSelector.matchLabels.role).toBe('api');
    expect(web.metadata.generation).toBe(3);
    expect(web.metadata.labels.env).toBe('prod');

    // A strategic merge patch is refused for custom resources, as by kube-apiserver.
    const smp = await k.run(['patch', 'cnp', 'web', '-p', '{"spec":{"description":"x"}}']);
    expect(smp.code).not.toBe(0);
    expect(smp.stderr).toContain(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );

    expect(await k.ok(['delete', 'cnp', 'db'])).toContain('ciliumnetworkpolicy.cilium.io "db" deleted');
    const gone = await k.run(['get', 'cnp', 'db']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('Error from server (NotFound): ciliumnetworkpolicies.cilium.io "db" not found');
  });

  it('prints the upstream printer columns for cep and cn', async () => {
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: cilium.io/v2\nkind: CiliumEndpoint\nmetadata: {name: pod-a, namespace: default}\n',
    );
    await k.ok([
      'patch',
      'cep',
      'pod-a',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({
        status: {
          id: 1234,
          identity: { id: 5678 },
          state: 'ready',
          networking: { addressing: [{ ipv4: '10.0.0.7' }], node: '192.168.1.1' },
        },
      }),
    ]);
    const cep = await k.ok(['get', 'cep', '-A']);
    const [header, row] = cep.trim().split('\n');
    expect(header).toMatch(/^NAMESPACE\s+NAME\s+SECURITY IDENTITY\s+ENDPOINT STATE\s+IPV4\s+IPV6$/);
    expect(row).toMatch(/^default\s+pod-a\s+5678\s+ready\s+10\.0\.0\.7\s*$/);
    expect(await k.ok(['get', 'cep', '-o', 'wide'])).toMatch(
      /INGRESS ENFORCEMENT\s+EGRESS ENFORCEMENT\s+VISIBILITY POLICY/,
    );

    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: cilium.io/v2\nkind: CiliumNode\nmetadata: {name: node-1}\nspec:\n  addresses:\n  - {type: InternalIP, ip: 192.168.1.10}\n  - {type: CiliumInternalIP, ip: 10.0.0.1}\n',
    );
    const cn = (await k.ok(['get', 'cn'])).trim().split('\n');
    expect(cn[0]).toMatch(/^NAME\s+CILIUMINTERNALIP\s+INTERNALIP\s+AGE$/);
    expect(cn[1]).toMatch(/^node-1\s+10\.0\.0\.1\s+192\.168\.1\.10\s+\d+s$/);
  });

  it('streams ADDED, MODIFIED and DELETED with kubectl get cnp -w', async () => {
    const w = k.start(['get', 'cnp', '-w', '--output-watch-events']);
    await w.waitFor(/EVENT\s+NAME|No resources found/);
    await k.ok(['apply', '-f', '-'], cnp('watched', 'watched'));
    await w.waitFor(/ADDED\s+watched/);
    await k.ok(['label', 'cnp', 'watched', 'touched=yes']);
    await w.waitFor(/MODIFIED\s+watched/);
    await k.ok(['delete', 'cnp', 'watched']);
    await w.waitFor(/DELETED\s+watched/);
    w.child.kill('SIGKILL');
  });

  it('applies server-side, creating and then updating', async () => {
    expect(await k.ok(['apply', '--server-side', '-f', '-'], cnp('ssa', 'ssa'))).toContain(
      'ciliumnetworkpolicy.cilium.io/ssa serverside-applied',
    );
    const changed = cnp('ssa', 'ssa-v2').replace('toPorts: [{ports: [{port: "80", protocol: TCP}]}]', '');
    await k.ok(['apply', '--server-side', '-f', '-'], changed);
    const obj = JSON.parse(await k.ok(['get', 'cnp', 'ssa', '-o', 'json', '--show-managed-fields']));
    expect(obj.spec.endpointSelector.matchLabels.role).toBe('ssa-v2');
    expect(obj.spec.ingress[0].toPorts).toBeUndefined();
    expect(
      obj.metadata.managedFields.map((m: { manager: string; operation: string }) => `${m.manager}/${m.operation}`),
    ).toContain('kubectl/Apply');
  });

  it('explains cnp.spec.ingress from OpenAPI v3', async () => {
    const out = await k.ok(['explain', 'cnp.spec.ingress']);
    expect(out).toContain('KIND:       CiliumNetworkPolicy');
    expect(out).toContain('FIELD: ingress <[]Object>');
    expect(out).toMatch(/fromEndpoints\s+<\[\]Object>/);
  });

  it('creates a namespace with kubectl create (protobuf) and deleting it removes its contents', async () => {
    expect(await k.ok(['create', 'namespace', 'x'])).toBe('namespace/x created\n');
    await k.ok(['create', 'configmap', 'cfg', '-n', 'x', '--from-literal=a=b']);
    await k.ok(['create', 'secret', 'generic', 's', '-n', 'x', '--from-literal=k=v']);
    await k.ok(['apply', '-n', 'x', '-f', '-'], cnp('in-x', 'x'));
    expect(JSON.parse(await k.ok(['get', 'secret', 's', '-n', 'x', '-o', 'json'])).data.k).toBe(
      Buffer.from('v').toString('base64'),
    );
    expect(await k.ok(['delete', 'namespace', 'x', '--timeout=30s'])).toContain('namespace "x" deleted');
    expect((await k.run(['get', 'namespace', 'x'])).code).toBe(1);
    // Re-created, the namespace is empty: nothing of the old contents survived.
    await k.ok(['create', 'namespace', 'x']);
    expect(await k.ok(['get', 'cnp,cm,secret', '-n', 'x', '-o', 'name'])).toBe('');
  });

  it('refuses an invalid CNP and kubectl prints the field path', async () => {
    const bad = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad}
spec:
  endpointSelector: {matchLabels: {role: x}}
  ingress:
    - fromCIDR: ["not-a-cidr"]
      toPorts: [{ports: [{port: "80", protocol: XYZ}]}]
`;
    const r = await k.run(['apply', '-f', '-'], bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('The CiliumNetworkPolicy "bad" is invalid');
    expect(r.stderr).toContain('spec.ingress[0].fromCIDR[0]: Invalid value: "not-a-cidr"');
    expect(r.stderr).toContain('spec.ingress[0].toPorts[0].ports[0].protocol: Unsupported value: "XYZ"');
    const unknown = await k.run(['apply', '-f', '-'], cnp('typo', 'x').replace('ingress:', 'ingres:'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown field "spec.ingres"');
  });

  it('applies a multi-document file of namespaces and CNPs', async () => {
    const docs = ['team-a', 'team-b']
      .flatMap((ns) => [
        `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`,
        cnp('allow', ns).replace('metadata:\n', `metadata:\n  namespace: ${ns}\n`),
      ])
      .join('---\n');
    const file = join(cluster.dir, 'multi.yaml');
    writeFileSync(file, docs);
    const out = await k.ok(['apply', '-f', file]);
    expect(out).toContain('namespace/team-a created');
    expect(out).toContain('ciliumnetworkpolicy.cilium.io/allow created');
    expect(
      await k.ok([
        'get',
        'cnp',
        '-A',
        '-l',
        '',
        '-o',
        'custom-columns=NS:.metadata.namespace,NAME:.metadata.name',
        '--no-headers',
      ]),
    ).toMatch(/team-a\s+allow\n(.|\n)*team-b\s+allow/);
  });

  it("prints pods and nodes with kubectl's familiar columns", async () => {
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Node\nmetadata: {name: node-a, labels: {node-role.kubernetes.io/control-plane: ""}}\nstatus:\n  conditions: [{type: Ready, status: "True"}]\n  nodeInfo: {kubeletVersion: v1.32.4}\n',
    );
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Pod\nmetadata: {name: web-0}\nspec:\n  nodeName: node-a\n  containers: [{name: c, image: none, command: [sleep, "1"]}]\n',
    );
    const nodes = (await k.ok(['get', 'nodes'])).trim().split('\n');
    expect(nodes[0]).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/);
    expect(nodes[1]).toMatch(/^node-a\s+Ready\s+control-plane\s+\d+s\s+v1\.32\.4$/);
    const pods = (await k.ok(['get', 'pods', '-o', 'wide'])).trim().split('\n');
    expect(pods[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE$/);
    expect(pods[1]).toMatch(/^web-0\s+0\/1\s+Pending\s+0\s+\d+s\s+<none>\s+node-a$/);
  });

  it('re-applies a built-in kind with a strategic merge patch', async () => {
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: smp, labels: {a: "1", b: "2"}}\n',
    );
    expect(
      await k.ok(['apply', '-f', '-'], 'apiVersion: v1\nkind: Namespace\nmetadata: {name: smp, labels: {a: "3"}}\n'),
    ).toContain('namespace/smp configured');
    // b removed; the server keeps its kubernetes.io/metadata.name label, as kube-apiserver does
    expect(JSON.parse(await k.ok(['get', 'ns', 'smp', '-o', 'json'])).metadata.labels).toEqual({
      a: '3',
      'kubernetes.io/metadata.name': 'smp',
    });
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: smp}\ndata: {x: "1", y: "2"}\n';
    await k.ok(['apply', '-f', '-'], cm);
    await k.ok(['apply', '-f', '-'], cm.replace(', y: "2"', ''));
    expect(JSON.parse(await k.ok(['get', 'cm', 'c', '-n', 'smp', '-o', 'json'])).data).toEqual({ x: '1' });
    expect(await k.ok(['get', 'ns', 'smp', '--no-headers'])).toMatch(/^smp\s+Active\s+\d+s/);
  });

  it('applies the cilium-ts install manifest (dist/install.yaml)', async () => {
    const install = fileURLToPath(new URL('../../dist/install.yaml', import.meta.url));
    await k.ok(['apply', '-f', install]);
    const ds = (await k.ok(['get', 'ds', 'cilium', '-n', 'kube-system'])).trim().split('\n');
    expect(ds[0]).toMatch(/^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE$/);
    expect(ds[1]).toMatch(/^cilium\s+0\s+0\s+0\s+0\s+0\s+\S+\s+\d+s$/);
    expect(await k.ok(['get', 'deploy', 'cilium-operator', '-n', 'kube-system'])).toMatch(
      /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\ncilium-operator\s+0\/\d+\s+0\s+0\s+\d+s\n$/,
    );
    const names = await k.ok(['get', 'ds,deploy,svc,sa', '-n', 'kube-system', '-o', 'name']);
    expect(names).toContain('daemonset.apps/cilium');
    expect(names).toContain('deployment.apps/cilium-operator');
    // A second apply changes nothing. (kubectl always sends a patch for PodDisruptionBudgets,
    // whose selector has patchStrategy=replace, and says "configured", as against kube-apiserver;
    // the server sees a no-op and keeps the resourceVersion.)
    const pdbRv = JSON.parse(await k.ok(['get', 'pdb', 'cilium-operator', '-n', 'kube-system', '-o', 'json'])).metadata
      .resourceVersion;
    const again = await k.ok(['apply', '-f', install]);
    expect(
      again.split('\n').filter((l) => l && !l.endsWith(' unchanged') && !l.startsWith('poddisruptionbudget.policy/')),
    ).toEqual([]);
    expect(
      JSON.parse(await k.ok(['get', 'pdb', 'cilium-operator', '-n', 'kube-system', '-o', 'json'])).metadata
        .resourceVersion,
    ).toBe(pdbRv);
  });

  it('deleting a CRD deletes its objects', async () => {
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: cilium.io/v2\nkind: CiliumIdentity\nmetadata: {name: "100"}\nsecurity-labels: {"k8s:app": web}\n',
    );
    await k.ok(['delete', 'crd', 'ciliumidentities.cilium.io', '--timeout=30s']);
    await eventually(
      async () => !(await k.ok(['api-resources', '--api-group=cilium.io'])).includes('ciliumidentities'),
      20_000,
      'discovery without ciliumidentities',
    );
    await k.ok(['apply', '-f', join(CRD_DIR, 'ciliumidentities.yaml')]);
    await k.ok(['wait', '--for=condition=Established', 'crd/ciliumidentities.cilium.io', '--timeout=20s']);
    expect(await k.ok(['get', 'ciliumidentities', '-o', 'name'])).toBe('');
  });
});
