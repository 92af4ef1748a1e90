// The policy validators on Cilium's documented examples (valid) and on mistakes users make
// (invalid): every rejection names the field path and says what is wrong.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse, parseAllDocuments } from 'yaml';
import {
  CrdErrorCode,
  CrdValidationException,
  assertValid,
  validateObject,
  type CrdValidationError,
} from '../../crds/index.js';

const valid = parseAllDocuments(readFileSync(new URL('./fixtures/valid-policies.yaml', import.meta.url), 'utf8')).map(
  (d) => d.toJS() as { kind: string; metadata: { name: string } },
);

describe('valid policies (Cilium documentation examples)', () => {
  it('has at least 25 of them, CNP and CCNP', () => {
    expect(valid.length).toBeGreaterThanOrEqual(25);
    expect(new Set(valid.map((p) => p.kind))).toEqual(
      new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy']),
    );
  });
  it.each(valid.map((p) => [p.metadata.name, p] as const))('%s is accepted', (_name, policy) => {
    expect(validateObject(policy.kind, policy)).toEqual([]);
  });
});

interface InvalidCase {
  name: string;
  kind?: string;
  /** The body of a CNP (YAML): spec/specs and anything else under the root. */
  body: string;
  field: string;
  message: string;
  stage: CrdValidationError['stage'];
}

const cnp = (c: InvalidCase) => ({
  apiVersion: 'cilium.io/v2',
  kind: c.kind ?? 'CiliumNetworkPolicy',
  metadata: { name: c.name },
  ...(parse(c.body) as object),
});

const INVALID: InvalidCase[] = [
  {
    name: 'no-spec',
    body: 'description: nothing',
    field: 'description',
    message: 'unknown field "description"',
    stage: 'schema',
  },
  {
    name: 'empty-specs',
    body: 'specs: []',
    field: 'spec',
    message: 'the policy has no rule: set spec or a non-empty specs list',
    stage: 'semantic',
  },
  {
    name: 'no-selector',
    body: 'spec: {ingress: [{fromEntities: [world]}]}',
    field: 'spec.endpointSelector',
    message: 'a rule needs endpointSelector (or nodeSelector in a clusterwide policy)',
    stage: 'semantic',
  },
  {
    name: 'both-selectors',
    kind: 'CiliumClusterwideNetworkPolicy',
    body: 'spec: {endpointSelector: {}, nodeSelector: {}, ingress: [{}]}',
    field: 'spec',
    message: 'endpointSelector and nodeSelector are mutually exclusive',
    stage: 'semantic',
  },
  {
    name: 'node-selector-in-cnp',
    body: 'spec: {nodeSelector: {matchLabels: {a: b}}, ingress: [{}]}',
    field: 'spec.nodeSelector',
    message: 'nodeSelector is only allowed in a CiliumClusterwideNetworkPolicy',
    stage: 'semantic',
  },
  {
    name: 'typo-fromEndpoint',
    body: 'spec: {endpointSelector: {}, ingress: [{fromEndpoint: [{}]}]}',
    field: 'spec.ingress[0].fromEndpoint',
    message: 'unknown field "fromEndpoint"',
    stage: 'schema',
  },
  {
    name: 'bad-protocol',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: "80", protocol: ICMP}]}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].protocol',
    message: 'Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP", "ANY"',
    stage: 'schema',
  },
  {
    name: 'lowercase-protocol',
    body: 'spec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: "53", protocol: udp}]}]}]}',
    field: 'spec.egress[0].toPorts[0].ports[0].protocol',
    message: 'Unsupported value: "udp": supported values: "TCP", "UDP", "SCTP", "ANY"',
    stage: 'schema',
  },
  {
    name: 'port-too-big',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: "65536"}]}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].port',
    message:
      'Invalid value: "65536": must be a port number from 0 to 65535 or a named port (lowercase letters, digits and dashes)',
    stage: 'schema',
  },
  {
    name: 'port-negative',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: "-1"}]}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].port',
    message:
      'Invalid value: "-1": must be a port number from 0 to 65535 or a named port (lowercase letters, digits and dashes)',
    stage: 'schema',
  },
  {
    name: 'port-as-number',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: 80}]}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].port',
    message: 'Invalid value: 80: must be of type string',
    stage: 'schema',
  },
  {
    name: 'named-port-bad-chars',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: "Http_8080"}]}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].port',
    message:
      'Invalid value: "Http_8080": must be a port number from 0 to 65535 or a named port (lowercase letters, digits and dashes)',
    stage: 'schema',
  },
  {
    name: 'endport-below-port',
    body: 'spec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: "443", endPort: 80, protocol: TCP}]}]}]}',
    field: 'spec.egress[0].toPorts[0].ports[0].endPort',
    message: 'endPort 80 must be greater than or equal to port 443',
    stage: 'semantic',
  },
  {
    name: 'endport-too-big',
    body: 'spec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: "443", endPort: 70000}]}]}]}',
    field: 'spec.egress[0].toPorts[0].ports[0].endPort',
    message: 'Invalid value: 70000: must be <= 65535',
    stage: 'schema',
  },
  {
    name: 'endport-with-l7',
    body: 'spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [{port: "80", endPort: 90}], rules: {http: [{path: /}]}}]}]}',
    field: 'spec.ingress[0].toPorts[0].ports[0].endPort',
    message: 'a port range cannot carry L7 rules',
    stage: 'semantic',
  },
  {
    name: 'bad-cidr',
    body: 'spec: {endpointSelector: {}, egress: [{toCIDR: [10.0.0.0/33]}]}',
    field: 'spec.egress[0].toCIDR[0]',
    message: 'Invalid value: "10.0.0.0/33": must be a CIDR such as 10.0.0.0/8 or fd00::/64',
    stage: 'schema',
  },
  {
    name: 'cidr-without-length',
    body: 'spec: {endpointSelector: {}, ingress: [{fromCIDR: [192.168.1.1]}]}',
    field: 'spec.ingress[0].fromCIDR[0]',
    message: 'Invalid value: "192.168.1.1": must be a CIDR such as 10.0.0.0/8 or fd00::/64',
    stage: 'schema',
  },
  {
    name: 'bad-ipv6-cidr',
    body: 'spec: {endpointSelector: {}, ingress: [{fromCIDRSet: [{cidr: "2001:db8:::/32"}]}]}',
    field: 'spec.ingress[0].fromCIDRSet[0].cidr',
    message: 'Invalid value: "2001:db8:::/32": must be a CIDR such as 10.0.0.0/8 or fd00::/64',
    stage: 'schema',
  },
  {
    name: 'except-outside-cidr',
    body: 'spec: {endpointSelector: {}, egress: [{toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16, 11.0.0.0/16]}]}]}',
    field: 'spec.egress[0].toCIDRSet[0].except[1]',
    message: 'except 11.0.0.0/16 is not contained in cidr 10.0.0.0/8',
    stage: 'semantic',
  },
  {
    name: 'except-wider-than-cidr',
    body: 'spec: {endpointSelector: {}, egress: [{toCIDRSet: [{cidr: 10.1.0.0/16, except: [10.0.0.0/8]}]}]}',
    field: 'spec.egress[0].toCIDRSet[0].except[0]',
    message: 'except 10.0.0.0/8 is not contained in cidr 10.1.0.0/16',
    stage: 'semantic',
  },
  {
    name: 'except-other-family',
    body: 'spec: {endpointSelector: {}, ingress: [{fromCIDRSet: [{cidr: "2001:db8::/32", except: [10.0.0.0/8]}]}]}',
    field: 'spec.ingress[0].fromCIDRSet[0].except[0]',
    message: 'except 10.0.0.0/8 is not contained in cidr 2001:db8::/32',
    stage: 'semantic',
  },
  {
    name: 'cidrset-two-sources',
    body: 'spec: {endpointSelector: {}, ingress: [{fromCIDRSet: [{cidr: 10.0.0.0/8, cidrGroupRef: corp}]}]}',
    field: 'spec.ingress[0].fromCIDRSet[0]',
    message: 'a CIDR rule takes only one of cidr, cidrGroupRef, cidrGroupSelector (found cidr, cidrGroupRef)',
    stage: 'semantic',
  },
  {
    name: 'unknown-entity',
    body: 'spec: {endpointSelector: {}, ingress: [{fromEntities: [internet]}]}',
    field: 'spec.ingress[0].fromEntities[0]',
    message:
      'Unsupported value: "internet": supported values: "all", "world", "world-ipv4", "world-ipv6", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none", "kube-apiserver"',
    stage: 'schema',
  },
  {
    name: 'bad-operator',
    body: 'spec: {endpointSelector: {matchExpressions: [{key: app, operator: Equals, values: [a]}]}, ingress: [{}]}',
    field: 'spec.endpointSelector.matchExpressions[0].operator',
    message: 'Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"',
    stage: 'schema',
  },
  {
    name: 'in-without-values',
    body: 'spec: {endpointSelector: {}, ingress: [{fromEndpoints: [{matchExpressions: [{key: app, operator: In}]}]}]}',
    field: 'spec.ingress[0].fromEndpoints[0].matchExpressions[0].values',
    message: 'values must be non-empty when operator is In',
    stage: 'semantic',
  },
  {
    name: 'exists-with-values',
    body: 'spec: {endpointSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}, ingress: [{}]}',
    field: 'spec.endpointSelector.matchExpressions[0].values',
    message: 'values must be empty when operator is Exists',
    stage: 'semantic',
  },
  {
    name: 'expression-without-key',
    body: 'spec: {endpointSelector: {matchExpressions: [{operator: Exists}]}, ingress: [{}]}',
    field: 'spec.endpointSelector.matchExpressions[0].key',
    message: 'Required value',
    stage: 'schema',
  },
  {
    name: 'matchlabels-not-strings',
    body: 'spec: {endpointSelector: {matchLabels: {app: [web]}}, ingress: [{}]}',
    field: 'spec.endpointSelector.matchLabels.app',
    message: 'Invalid value: ["web"]: must be of type string',
    stage: 'schema',
  },
  {
    name: 'combining-l3',
    body: 'spec: {endpointSelector: {}, ingress: [{fromEndpoints: [{}], fromCIDR: [10.0.0.0/8]}]}',
    field: 'spec.ingress[0]',
    message: 'Combining fromEndpoints and fromCIDR is not supported yet',
    stage: 'semantic',
  },
  {
    name: 'icmps-with-toports',
    body: 'spec: {endpointSelector: {}, egress: [{icmps: [{fields: [{type: 8}]}], toPorts: [{ports: [{port: "80"}]}]}]}',
    field: 'spec.egress[0]',
    message: 'icmps and toPorts are mutually exclusive; define a separate rule for each',
    stage: 'semantic',
  },
  {
    name: 'icmp-type-out-of-range',
    body: 'spec: {endpointSelector: {}, egress: [{icmps: [{fields: [{type: 256}]}]}]}',
    field: 'spec.egress[0].icmps[0].fields[0].type',
    message: 'ICMP type 256 is neither a number from 0 to 255 nor a known IPv4 type name',
    stage: 'semantic',
  },
  {
    name: 'icmp-unknown-name',
    body: 'spec: {endpointSelector: {}, egress: [{icmps: [{fields: [{type: PacketTooBig, family: IPv4}]}]}]}',
    field: 'spec.egress[0].icmps[0].fields[0].type',
    message: 'ICMP type "PacketTooBig" is neither a number from 0 to 255 nor a known IPv4 type name',
    stage: 'semantic',
  },
  {
    name: 'icmp-bad-family',
    body: 'spec: {endpointSelector: {}, egress: [{icmps: [{fields: [{type: 8, family: IPv5}]}]}]}',
    field: 'spec.egress[0].icmps[0].fields[0].family',
    message: 'Unsupported value: "IPv5": supported values: "IPv4", "IPv6"',
    stage: 'schema',
  },
  {
    name: 'two-l7-protocols',
    body: 'spec: {endpointSelector: {}, egress: [{toPorts: [{ports: [{port: "80"}], rules: {http: [{}], dns: [{matchName: a.b}]}}]}]}',
    field: 'spec.egress[0].toPorts[0].rules',
    message: 'only one L7 protocol per port rule is allowed (found http, dns)',
    stage: 'semantic',
  },
  {
    name: 'deny-with-l7',
    body: 'spec: {endpointSelector: {}, ingressDeny: [{toPorts: [{ports: [{port: "80"}], rules: {http: [{}]}}]}]}',
    field: 'spec.ingressDeny[0].toPorts[0].rules',
    message: 'unknown field "rules"',
    stage: 'schema',
  },
  {
    name: 'default-deny-not-bool',
    body: 'spec: {endpointSelector: {}, enableDefaultDeny: {ingress: "no"}, ingress: [{}]}',
    field: 'spec.enableDefaultDeny.ingress',
    message: 'Invalid value: "no": must be of type boolean',
    stage: 'schema',
  },
  {
    name: 'ingress-not-a-list',
    body: 'spec: {endpointSelector: {}, ingress: {fromEntities: [world]}}',
    field: 'spec.ingress',
    message: 'Invalid value: {"fromEntities":["world"]}: must be of type array',
    stage: 'schema',
  },
  {
    name: 'error-in-second-spec',
    body: 'specs: [{endpointSelector: {}, ingress: [{}]}, {endpointSelector: {}, egress: [{toEntities: [word]}]}]',
    field: 'specs[1].egress[0].toEntities[0]',
    message: 'Unsupported value: "word"',
    stage: 'schema',
  },
  {
    name: 'too-many-ports',
    body: `spec: {endpointSelector: {}, ingress: [{toPorts: [{ports: [${Array.from({ length: 41 }, (_, i) => `{port: "${i + 1}"}`).join(', ')}]}]}]}`,
    field: 'spec.ingress[0].toPorts[0].ports',
    message: 'Too many: 41: must have at most 40 items',
    stage: 'schema',
  },
];

describe('invalid policies', () => {
  it('has at least 25 of them', () => expect(INVALID.length).toBeGreaterThanOrEqual(25));

  it.each(INVALID.map((c) => [c.name, c] as const))('%s is rejected with its field path and message', (_n, c) => {
    const errors = validateObject(c.kind ?? 'CiliumNetworkPolicy', cnp(c));
    const hit = errors.find((e) => e.field === c.field);
    expect({ field: hit?.field, stage: hit?.stage, all: errors }).toMatchObject({ field: c.field, stage: c.stage });
    expect(hit!.message.slice(0, c.message.length)).toBe(c.message);
  });
});

describe('assertValid', () => {
  it('throws one error naming the object and every invalid field', () => {
    const bad = cnp(INVALID.find((c) => c.name === 'except-outside-cidr')!);
    expect(() => assertValid('CiliumNetworkPolicy', bad)).toThrow(CrdValidationException);
    expect(() => assertValid('CiliumNetworkPolicy', bad)).toThrow(
      expect.objectContaining({ code: CrdErrorCode.InvalidObject }),
    );
    expect(() => assertValid('CiliumNetworkPolicy', bad)).toThrow(
      'CiliumNetworkPolicy "except-outside-cidr" is invalid: spec.egress[0].toCIDRSet[0].except[1]: except 11.0.0.0/16 is not contained in cidr 10.0.0.0/8',
    );
  });

  it('leaves unknown fields alone when asked to (pruning instead of strict validation)', () => {
    const typo = cnp(INVALID.find((c) => c.name === 'typo-fromEndpoint')!);
    expect(validateObject('CiliumNetworkPolicy', typo, { unknownFields: 'ignore' })).toEqual([]);
  });

  it('refuses a kind it does not know, naming the known ones', () => {
    expect(() => validateObject('CiliumFooPolicy', {})).toThrow(
      expect.objectContaining({
        code: CrdErrorCode.UnknownKind,
        message: expect.stringMatching(/^CiliumFooPolicy is not a cilium.io\/v2 kind \(known: CiliumNetworkPolicy, /),
      }),
    );
  });
});

describe('other kinds', () => {
  it('a CiliumIdentity needs security-labels', () => {
    const errors = validateObject('CiliumIdentity', { metadata: { name: '1234' } });
    expect(errors).toEqual([
      { code: 'CRD_ERR_SCHEMA', field: 'security-labels', message: 'Required value', stage: 'schema' },
    ]);
  });
  it('a CiliumEndpoint state must be one of upstream states', () => {
    const errors = validateObject('CiliumEndpoint', { metadata: { name: 'p' }, status: { state: 'happy' } });
    expect(errors[0]?.field).toBe('status.state');
    expect(errors[0]?.message).toMatch(
      /^Unsupported value: "happy": supported values: "creating", "waiting-for-identity"/,
    );
  });
  it('a CiliumNode accepts addresses and podCIDRs', () => {
    const node = {
      metadata: { name: 'n1' },
      spec: { addresses: [{ type: 'InternalIP', ip: '10.0.0.1' }], ipam: { podCIDRs: ['10.0.1.0/24'] } },
    };
    expect(validateObject('CiliumNode', node)).toEqual([]);
  });
});
