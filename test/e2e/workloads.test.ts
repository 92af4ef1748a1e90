// Real kubectl 1.32 against the devcluster with its kube-controller-manager-like controllers:
// issue 14's "Done when" items that need no real pods (a fake kubelet in this file marks pods
// running and ready, as the nodes' runners would).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Devcluster } from '../../hack/devcluster/cluster.js';
import { Kubectl, startDevcluster } from './harness.js';

let cluster: Devcluster;
let k: Kubectl;

beforeAll(async () => {
  cluster = await startDevcluster('workloads');
  k = new Kubectl(cluster);
}, 60_000);

afterAll(async () => {
  k?.stopAll();
  await cluster?.stop();
});

describe('namespaces', () => {
  it('carry kubernetes.io/metadata.name, which users cannot remove or change', async () => {
    await k.ok(['create', 'namespace', 'team-a']);
    expect(await k.ok(['get', 'ns', 'team-a', '--show-labels', '--no-headers'])).toMatch(
      /kubernetes\.io\/metadata\.name=team-a/,
    );
    expect(await k.ok(['get', 'ns', 'default', '--show-labels', '--no-headers'])).toMatch(
      /kubernetes\.io\/metadata\.name=default/,
    );
    await k.ok(['label', 'ns', 'team-a', 'kubernetes.io/metadata.name-']);
    await k.ok(['label', 'ns', 'team-a', '--overwrite', 'kubernetes.io/metadata.name=other', 'env=dev']);
    const labels = JSON.parse(await k.ok(['get', 'ns', 'team-a', '-o', 'jsonpath={.metadata.labels}']));
    expect(labels).toEqual({ 'kubernetes.io/metadata.name': 'team-a', env: 'dev' });
    // a namespaceSelector on the label selects exactly that namespace
    expect(await k.ok(['get', 'ns', '-l', 'kubernetes.io/metadata.name=team-a', '-o', 'name'])).toBe(
      'namespace/team-a\n',
    );
  });
});

const list = (items: unknown[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
const cm = (name: string, extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'default' },
  data: { a: '1' },
  ...extra,
});

describe('kubectl apply with client-side validation (/openapi/v2)', () => {
  it('applies a v1 List and a multi-document YAML', async () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'listed', namespace: 'default' },
      spec: { selector: { app: 'listed' }, ports: [{ port: 80, targetPort: 'http' }] },
    };
    const out = await k.ok(['apply', '-f', '-'], list([cm('listed-a'), svc]));
    expect(out).toContain('configmap/listed-a created');
    expect(out).toContain('service/listed created');
    const multi = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: multi-a}\ndata: {a: "1"}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: multi-sa}\n`;
    const out2 = await k.ok(['apply', '-f', '-'], multi);
    expect(out2).toContain('configmap/multi-a created');
    expect(out2).toContain('serviceaccount/multi-sa created');
  });

  it('reports a bad field in a List item as kubectl does against a real server', async () => {
    const bad = await k.run(['apply', '-f', '-'], list([cm('listed-b', { datta: { b: '2' } })]));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/error validating data: .*unknown field "datta"/);
    expect(bad.stderr).toContain('--validate=false');
    // and a wrong type
    const typed = await k.run(['apply', '-f', '-'], list([cm('listed-c', { immutable: 'yes' })]));
    expect(typed.stderr).toMatch(/invalid type for .*immutable/);
  });
});
