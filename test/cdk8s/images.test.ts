// Image references and pull secrets as upstream's chart has them: `repository:tag`, plus `@digest`
// when `useDigest` is on and a digest is set, on every container of every workload (init
// containers too), and the `imagePullSecrets` list on every workload's pod template — from
// cdk8s values and from `cilium install --set` (Helm's `imagePullSecrets[0].name=…` form). The
// chart renders the same (test/install/helm.test.ts compares every value through Helm).
import { describe, expect, it } from '@jest/globals';
import { valuesFromFlags } from '../../cmd/cilium/set-values.js';
import { installManifests } from '../../cdk8s/install-chart.js';
import { DEFAULT_VALUES, resolveValues, type ValuesOverride } from '../../cdk8s/values.js';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

interface PodSpec {
  containers: { name: string; image: string }[];
  initContainers?: { name: string; image: string }[];
  imagePullSecrets?: { name: string }[];
}

/** kind/name → its pod template spec, for every workload of the install. */
function workloads(values: ValuesOverride): Map<string, PodSpec> {
  const out = new Map<string, PodSpec>();
  for (const m of installManifests(values)) {
    const o = m.object as { kind: string; metadata: { name: string }; spec?: { template?: { spec: PodSpec } } };
    if (o.spec?.template) out.set(`${o.kind}/${o.metadata.name}`, o.spec.template.spec);
  }
  return out;
}

/** container name → image, init containers included. */
const images = (spec: PodSpec) =>
  Object.fromEntries([...(spec.initContainers ?? []), ...spec.containers].map((c) => [c.name, c.image]));

// cilium-l7proxy: externalL7Proxy is on by default (decision 34)
const WORKLOADS = [
  'DaemonSet/cilium',
  'DaemonSet/cilium-l7proxy',
  'Deployment/cilium-operator',
  'Deployment/hubble-relay',
  'Deployment/hubble-ui',
];

describe('image references', () => {
  it('default: repository:tag, no digest, an empty pull secret list on all five workloads', () => {
    expect(DEFAULT_VALUES.image).toEqual({
      repository: 'ghcr.io/cilium-ts/cilium',
      tag: 'v0.1.0',
      pullPolicy: 'IfNotPresent',
      digest: '',
      useDigest: false,
    });
    const w = workloads({});
    expect([...w.keys()].sort()).toEqual(WORKLOADS);
    expect(images(w.get('DaemonSet/cilium')!)).toEqual({
      'mount-bpf-fs': 'ghcr.io/cilium-ts/cilium:v0.1.0',
      'mount-cgroup': 'ghcr.io/cilium-ts/cilium:v0.1.0',
      'install-cni': 'ghcr.io/cilium-ts/cilium:v0.1.0',
      'cilium-agent': 'ghcr.io/cilium-ts/cilium:v0.1.0',
    });
    expect(images(w.get('DaemonSet/cilium-l7proxy')!)).toEqual({ 'cilium-l7proxy': 'ghcr.io/cilium-ts/cilium:v0.1.0' });
    for (const name of WORKLOADS)
      expect({ name, secrets: w.get(name)!.imagePullSecrets }).toEqual({ name, secrets: [] });
  });

  it('useDigest pins each image by digest, per image', () => {
    const w = workloads({
      image: { digest: DIGEST, useDigest: true },
      operator: { image: { repository: 'reg.example/op', tag: 'v2', digest: DIGEST, useDigest: true } },
      // a digest without useDigest, and useDigest without a digest: both stay repository:tag
      hubble: { relay: { image: { digest: DIGEST } }, ui: { image: { useDigest: true } } },
    });
    expect(new Set(Object.values(images(w.get('DaemonSet/cilium')!)))).toEqual(
      new Set([`ghcr.io/cilium-ts/cilium:v0.1.0@${DIGEST}`]),
    );
    expect(images(w.get('Deployment/cilium-operator')!)).toEqual({ 'cilium-operator': `reg.example/op:v2@${DIGEST}` });
    expect(Object.values(images(w.get('Deployment/hubble-relay')!))).toEqual(['ghcr.io/cilium-ts/hubble-relay:v0.1.0']);
    expect(Object.values(images(w.get('Deployment/hubble-ui')!))).toEqual(['ghcr.io/cilium-ts/hubble-ui:v0.1.0']);
  });

  it('imagePullSecrets reach every workload', () => {
    const secrets = [{ name: 'regcred' }, { name: 'mirror' }];
    const w = workloads({ imagePullSecrets: secrets });
    for (const name of WORKLOADS) expect({ name, secrets: w.get(name)!.imagePullSecrets }).toEqual({ name, secrets });
  });

  it('the schema refuses a digest that is not sha256:<64 hex> and a pull secret without a name', () => {
    expect(() => resolveValues({ image: { digest: 'latest' } })).toThrow(/digest/);
    expect(() => resolveValues({ image: { digest: `sha256:${'0'.repeat(63)}` } })).toThrow(/digest/);
    expect(() => resolveValues({ imagePullSecrets: [{ name: '' }] } as ValuesOverride)).toThrow(/imagePullSecrets/);
    expect(() => resolveValues({ imagePullSecrets: [{ secret: 'x' }] } as unknown as ValuesOverride)).toThrow(
      /imagePullSecrets/,
    );
  });
});

describe('cilium install --set', () => {
  it('digest values and Helm’s list-of-objects form for imagePullSecrets', () => {
    const values = valuesFromFlags(
      [],
      [
        `image.digest=${DIGEST}`,
        'image.useDigest=true',
        'imagePullSecrets[0].name=regcred',
        'imagePullSecrets[1].name=mirror',
      ],
    );
    expect(values).toEqual({
      image: { digest: DIGEST, useDigest: true },
      imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror' }],
    });
    const w = workloads(values);
    expect(w.get('Deployment/hubble-ui')!.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
    expect(images(w.get('DaemonSet/cilium')!)['cilium-agent']).toBe(`ghcr.io/cilium-ts/cilium:v0.1.0@${DIGEST}`);
  });

  it('refuses a gap in the list, an index on a value that is not a list of objects, and a bad digest', () => {
    expect(() => valuesFromFlags([], ['imagePullSecrets[1].name=x'])).toThrow(
      '--set imagePullSecrets[1].name: set imagePullSecrets[0] first (no gaps in a list)',
    );
    expect(() => valuesFromFlags([], ['image[0].tag=x'])).toThrow('--set image[0].tag: image is not a list of objects');
    expect(() => valuesFromFlags([], ['image.useDigest=yes'])).toThrow('true or false is expected');
    expect(() => valuesFromFlags([], ['image.digest=sha256:abc'])).toThrow(/digest/);
  });
});
