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
