// The generated CRDs against Kubernetes' own schema, the structural rules and upstream's facts
// (pkg/k8s/apis/cilium.io/client/crds/v2/*.yaml).
import { describe, expect, it } from '@jest/globals';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CRDS, buildCrd, structuralViolations } from '../../crds/index.js';

const crdFile = (plural: string) => new URL(`../../crds/v2/${plural}.yaml`, import.meta.url);
type Crd = {
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns: { name: string; jsonPath: string; type: string; priority?: number }[];
      schema: { openAPIV3Schema: Record<string, unknown> };
    }[];
  };
};

// Upstream's facts, written out independently of crds/definitions.ts.
const UPSTREAM: Record<
  string,
  { scope: string; shortNames: string[]; categories: string[]; columns: [string, string, number?][] }
> = {
  ciliumnetworkpolicies: {
    scope: 'Namespaced',
    shortNames: ['cnp', 'ciliumnp'],
    categories: ['cilium', 'ciliumpolicy'],
    columns: [
      ['Age', '.metadata.creationTimestamp'],
      ['Valid', ".status.conditions[?(@.type=='Valid')].status"],
    ],
  },
  ciliumclusterwidenetworkpolicies: {
    scope: 'Cluster',
    shortNames: ['ccnp'],
    categories: ['cilium', 'ciliumpolicy'],
    columns: [
      ['Age', '.metadata.creationTimestamp'],
      ['Valid', ".status.conditions[?(@.type=='Valid')].status"],
    ],
  },
  ciliumendpoints: {
    scope: 'Namespaced',
    shortNames: ['cep', 'ciliumep'],
    categories: ['cilium'],
    columns: [
      ['Security Identity', '.status.identity.id'],
      ['Ingress Enforcement', '.status.policy.ingress.state', 1],
      ['Egress Enforcement', '.status.policy.egress.state', 1],
      ['Visibility Policy', '.status.visibility-policy-status', 1],
      ['Endpoint State', '.status.state'],
      ['IPv4', '.status.networking.addressing[0].ipv4'],
      ['IPv6', '.status.networking.addressing[0].ipv6'],
    ],
  },
  ciliumnodes: {
    scope: 'Cluster',
    shortNames: ['cn', 'ciliumn'],
    categories: ['cilium'],
    columns: [
      ['CiliumInternalIP', '.spec.addresses[?(@.type=="CiliumInternalIP")].ip'],
      ['InternalIP', '.spec.addresses[?(@.type=="InternalIP")].ip'],
      ['Age', '.metadata.creationTimestamp'],
    ],
  },
  ciliumidentities: {
    scope: 'Cluster',
    shortNames: ['ciliumid'],
    categories: ['cilium'],
    columns: [
      ['Namespace', '.metadata.labels.io\\.kubernetes\\.pod\\.namespace'],
      ['Age', '.metadata.creationTimestamp'],
    ],
  },
};

describe('generated CRDs (crds/v2/*.yaml)', () => {
  it('are exactly the five cilium.io/v2 kinds listed in UPSTREAM', () => {
    expect(CRDS.map((d) => d.plural).sort()).toEqual(Object.keys(UPSTREAM).sort());
  });

  for (const plural of Object.keys(UPSTREAM)) {
    describe(plural, () => {
      const text = readFileSync(crdFile(plural), 'utf8');
      const crd = parse(text) as Crd;
      const version = crd.spec.versions[0]!;

      it('validates against the apiextensions.k8s.io/v1 schema (kubernetes-models)', () => {
        expect(() => new CustomResourceDefinition(crd as never).validate()).not.toThrow();
      });

      it('has a structural schema', () => {
        expect(structuralViolations(version.schema.openAPIV3Schema)).toEqual([]);
      });

      it("matches upstream's names, scope, shortNames, categories and printer columns", () => {
        const want = UPSTREAM[plural]!;
        expect(crd.spec.group).toBe('cilium.io');
        expect(crd.spec.names.plural).toBe(plural);
        expect(crd.spec.scope).toBe(want.scope);
        expect(crd.spec.names.shortNames).toEqual(want.shortNames);
        expect(crd.spec.names.categories).toEqual(want.categories);
        expect(version.name).toBe('v2');
        expect(version.served && version.storage).toBe(true);
        expect(version.subresources?.status).toEqual({});
        expect(
          version.additionalPrinterColumns.map((c) => [c.name, c.jsonPath, ...(c.priority ? [c.priority] : [])]),
        ).toEqual(want.columns.map(([n, p, prio]) => [n, p, ...(prio ? [prio] : [])]));
      });
    });
  }

  it('the structural check catches what Kubernetes refuses', () => {
    const bad = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: { a: { type: 'string' }, m: { patternProperties: { '.*': { type: 'string' } } } },
          oneOf: [{ type: 'object', properties: { b: { type: 'string' } } }],
        },
        list: { type: 'array' },
      },
    };
    const messages = structuralViolations(bad).map((v) => `${v.path}: ${v.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        'openAPIV3Schema.properties[spec].oneOf[0]: type must not be set inside allOf/anyOf/oneOf/not',
        'openAPIV3Schema.properties[spec].oneOf[0].properties[b]: must be specified outside allOf/anyOf/oneOf/not too',
        'openAPIV3Schema.properties[spec].properties[m]: patternProperties is forbidden in CRD schemas',
        'openAPIV3Schema.properties[spec].properties[m]: type must not be empty',
        'openAPIV3Schema.properties[list]: items must be specified for arrays',
      ]),
    );
  });

  it('kubernetes-models refuses a broken CRD (the validation above can fail)', () => {
    const crd = buildCrd(CRDS[0]!) as { spec: { group?: string; names: { plural: unknown } } };
    delete crd.spec.group;
    crd.spec.names.plural = 42;
    expect(() => new CustomResourceDefinition(crd as never).validate()).toThrow(/group|plural/);
  });
});
