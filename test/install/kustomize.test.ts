// deploy/: the generated base renders to dist/install.yaml's objects, and the example overlay
// renders with exactly its documented changes.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type KubeObject, byKey, parseManifests, validateObject } from './kube-schema.js';
import { REPO, runOk } from './tools.js';

const kustomize = (dir: string) => parseManifests(runOk('kubectl', ['kustomize', join(REPO, dir)]));
const dist = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));

describe('kustomize', () => {
  it('the base renders exactly the objects of dist/install.yaml', () => {
    const base = byKey(kustomize('deploy/base'));
    expect([...base.keys()]).toEqual([...byKey(dist).keys()]);
    for (const [k, o] of byKey(dist)) expect({ k, o: base.get(k) }).toEqual({ k, o });
  });

  it('kubectl kustomize deploy/overlays/example renders with the overlay changes only', async () => {
    const overlay = byKey(kustomize('deploy/overlays/example'));
    const base = byKey(dist);
    expect([...overlay.keys()]).toEqual([...base.keys()]);
    for (const o of overlay.values()) {
      await validateObject(o);
      expect({ k: o.kind, label: (o.metadata.labels as Record<string, string> | undefined)?.environment }).toEqual({
        k: o.kind,
        label: 'example',
      });
    }
    const spec = (k: string) =>
      overlay.get(k)!.spec as {
        replicas?: number;
        template: { spec: { containers: { image: string }[]; initContainers?: { image: string }[] } };
      };
    expect(spec('Deployment kube-system/cilium-operator').replicas).toBe(1);
    expect(spec('Deployment kube-system/cilium-operator').template.spec.containers[0]!.image).toBe(
      'ghcr.io/cilium-ts/operator:v0.1.0-example',
    );
    expect(spec('DaemonSet kube-system/cilium').template.spec.initContainers![0]!.image).toBe(
      'ghcr.io/cilium-ts/cilium:v0.1.0-example',
    );
    expect(spec('Deployment kube-system/hubble-relay').template.spec.containers[0]!.image).toBe(
      'ghcr.io/cilium-ts/hubble-relay:v0.1.0-example',
    );
    const data = overlay.get('ConfigMap kube-system/cilium-config')!.data as Record<string, string>;
    const baseData = base.get('ConfigMap kube-system/cilium-config')!.data as Record<string, string>;
    expect({ ...baseData, 'cluster-name': 'example', 'cluster-pool-ipv4-cidr': '10.244.0.0/16' }).toEqual(data);
    // Selectors are untouched: the overlay can be applied over an existing install.
    const selector = (o: KubeObject) => (o.spec as { selector: unknown }).selector;
    expect(selector(overlay.get('DaemonSet kube-system/cilium')!)).toEqual(
      selector(base.get('DaemonSet kube-system/cilium')!),
    );
  });
});
