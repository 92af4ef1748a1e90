// Table tests for the engine's parts: labels, ports, translation reports, CIDR identities and
// the datapath lookup contract. Each row names the upstream behaviour (or our contract) it pins.
import { describe, expect, it } from '@jest/globals';
import {
  CIDR_IDENTITY_FIRST,
  compilePortProtocol,
  endpointLabels,
  LabelFilter,
  lookupVerdict,
  PolicyEngine,
  PolicyErrorCode,
  Proto,
  rangeToPrefixes,
  translatePolicy,
  validCondition,
  type MapEntry,
  type PolicyObject,
} from '../../policy/index.js';
import { ccnp, cnp, knp } from './fixture.js';

describe('identity-relevant label filter (upstream pkg/labelsfilter defaults)', () => {
  const f = new LabelFilter();
  it.each([
    ['app', true, 'ordinary pod labels are identity'],
    ['app.kubernetes.io/name', true, 'app.kubernetes.io is included explicitly'],
    ['io.kubernetes.pod.namespace', true, 'the namespace label is included'],
    ['io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name', true, 'namespace labels are included'],
    ['io.cilium.k8s.policy.serviceaccount', true, 'the service account is identity'],
    ['pod-template-hash', false, 'Deployment hashes are excluded'],
    ['controller-revision-hash', false, 'StatefulSet/DaemonSet revisions are excluded'],
    ['pod-template-generation', false, 'DaemonSet generations are excluded'],
    ['statefulset.kubernetes.io/pod-name', false, 'per-pod StatefulSet names are excluded'],
    ['apps.kubernetes.io/pod-index', false, 'per-pod indexes are excluded'],
    ['batch.kubernetes.io/job-completion-index', false, 'job indexes are excluded'],
    ['batch.kubernetes.io/controller-uid', false, 'job uids are excluded (#40617)'],
    ['topology.kubernetes.io/zone', false, 'other kubernetes.io labels are excluded (#43723)'],
    ['beta.kubernetes.io/arch', false, 'beta.kubernetes.io labels are excluded'],
    ['io.kubernetes.container.name', false, 'other io.kubernetes labels are excluded'],
    ['annotation.foo', false, 'annotation labels are excluded'],
    ['etcd_node', false, 'etcd_node is excluded'],
  ])('%s relevant=%s (%s)', (key, want) => {
    expect(f.relevant(key)).toBe(want);
  });
  it('a user include makes the filter exclusive', () => {
    const only = new LabelFilter(['app']);
    expect([only.relevant('app'), only.relevant('team'), only.relevant('io.kubernetes.pod.namespace')]).toEqual([
      true,
      false,
      true,
    ]);
  });
  it('endpoint labels: pod labels, namespace name and labels, service account, cluster name', () => {
    const l = endpointLabels({
      podLabels: { app: 'web', 'pod-template-hash': 'x' },
      namespace: 'prod',
      namespaceLabels: { team: 'a' },
      serviceAccount: 'sa1',
    });
    expect(l.toRecord()).toEqual({
      'k8s:app': 'web',
      'k8s:io.cilium.k8s.namespace.labels.team': 'a',
      'k8s:io.cilium.k8s.policy.cluster': 'default',
      'k8s:io.cilium.k8s.policy.serviceaccount': 'sa1',
      'k8s:io.kubernetes.pod.namespace': 'prod',
    });
  });
});

describe('port ranges as LPM prefixes (upstream policymap: endPort as a partly wildcarded port)', () => {
  it.each([
    [80, 80, ['80/16']],
    [0, 65535, ['0/0']],
    [1024, 2047, ['1024/6']],
    [8000, 8999, ['8000/10', '8064/9', '8192/7', '8704/8', '8960/11', '8992/13']],
    [32000, 32768, ['32000/8', '32256/7', '32768/16']],
    [1, 3, ['1/16', '2/15']],
    [65535, 65535, ['65535/16']],
  ])('%i-%i', (a, b, want) => {
    expect(rangeToPrefixes(a, b).map((p) => `${p.port}/${p.prefixLen}`)).toEqual(want);
  });
  it('random ranges: the prefixes cover exactly the range, without overlap', () => {
    let seed = 5;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 65536;
    for (let i = 0; i < 200; i++) {
      const a = next();
      const b = next();
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      let covered = 0;
      let expectStart = lo;
      for (const p of rangeToPrefixes(lo, hi)) {
        const size = 2 ** (16 - p.prefixLen);
        expect(p.port).toBe(expectStart);
        expect(p.port % size).toBe(0);
        expectStart += size;
        covered += size;
      }
      expect(covered).toBe(hi - lo + 1);
    }
  });
  it.each([
    ['port 80 TCP', { port: '80', protocol: 'TCP' }, ['6:80/16']],
    [
      'ANY with a port expands to TCP, UDP, SCTP',
      { port: '53', protocol: 'ANY' },
      ['6:53/16', '17:53/16', '132:53/16'],
    ],
    ['no protocol = ANY', { port: '53' }, ['6:53/16', '17:53/16', '132:53/16']],
    ['port 0 ANY = protocol 0, every port', { port: '0', protocol: 'ANY' }, ['0:0/0']],
    ['TCP without port = every TCP port', { protocol: 'TCP' }, ['6:0/0']],
    ['endPort below port = the single port', { port: '90', endPort: 80, protocol: 'UDP' }, ['17:90/16']],
    ['a named port stays named', { port: 'http', protocol: 'TCP' }, ['named 6:http']],
  ])('%s', (_n, pp, want) => {
    const specs = compilePortProtocol(pp as never) ?? [];
    expect(
      specs.flatMap((s) =>
        s.kind === 'named'
          ? [`named ${s.proto}:${s.name}`]
          : s.prefixes.map((p) => `${s.proto}:${p.port}/${p.prefixLen}`),
      ),
    ).toEqual(want);
  });
});

describe('accepted but not enforced: listed for the Valid condition, never silently ignored', () => {
  const rows: [string, PolicyObject, string, string][] = [
    [
      'L7 Kafka rules (http and dns are redirected to the proxy: test/policy/table-l7.ts)',
      cnp('prod', 'l7', {
        endpointSelector: {},
        ingress: [{ toPorts: [{ ports: [{ port: '9092', protocol: 'TCP' }], rules: { kafka: [{ topic: 'a' }] } }] }],
      }),
      'l7Rules',
      'spec.ingress[0].toPorts[0].rules',
    ],
    [
      'L7 generic l7proto rules',
      cnp('prod', 'l7proto', {
        endpointSelector: {},
        egress: [{ toPorts: [{ ports: [{ port: '6379', protocol: 'TCP' }], rules: { l7proto: 'redis', l7: [] } }] }],
      }),
      'l7Rules',
      'spec.egress[0].toPorts[0].rules',
    ],
    [
      'toServices',
      cnp('prod', 'svc', {
        endpointSelector: {},
        egress: [{ toServices: [{ k8sService: { serviceName: 'a', namespace: 'b' } }] }],
      }),
      'toServices',
      'spec.egress[0].toServices',
    ],
    [
      'toGroups',
      cnp('prod', 'grp', { endpointSelector: {}, egress: [{ toGroups: [{ aws: { securityGroupsIds: ['sg-1'] } }] }] }),
      'toGroups',
      'spec.egress[0].toGroups',
    ],
    [
      'cidrGroupRef',
      cnp('prod', 'cg', { endpointSelector: {}, ingress: [{ fromCIDRSet: [{ cidrGroupRef: 'office' }] }] }),
      'cidrGroupRef',
      'spec.ingress[0].fromCIDRSet[0].cidrGroupRef',
    ],
    [
      'authentication',
      cnp('prod', 'auth', {
        endpointSelector: {},
        ingress: [{ fromEndpoints: [{}], authentication: { mode: 'required' } }],
      }),
      'authentication',
      'spec.ingress[0].authentication',
    ],
    [
      'listener',
      cnp('prod', 'lis', {
        endpointSelector: {},
        ingress: [{ toPorts: [{ ports: [{ port: '80' }], listener: { envoyConfig: { name: 'x' }, name: 'y' } }] }],
      }),
      'listener',
      'spec.ingress[0].toPorts[0].listener',
    ],
    [
      'fromNodes',
      ccnp('nodes', { endpointSelector: {}, ingress: [{ fromNodes: [{}] }] }),
      'fromNodes',
      'spec.ingress[0].fromNodes',
    ],
    [
      'specs[1] paths',
      cnp('prod', 'two', [
        { endpointSelector: {} },
        { endpointSelector: {}, egress: [{ toGroups: [{ aws: { securityGroupsIds: ['sg-1'] } }] }] },
      ]),
      'toGroups',
      'specs[1].egress[0].toGroups',
    ],
  ];
  it.each(rows)('%s', (_n, pol, feature, field) => {
    const t = translatePolicy(pol);
    expect(t.notEnforced.map((n) => [n.feature, n.field])).toEqual([[feature, field]]);
    expect(t.notEnforced[0]?.message).toMatch(/not enforced/);
    expect(t.problems).toEqual([]);
  });
  it('a toFQDNs rule puts egress in default deny and allows nothing before the DNS proxy learned a name', () => {
    const e = new PolicyEngine();
    const t = translatePolicy(
      cnp('prod', 'fqdn', {
        endpointSelector: {},
        egress: [{ toFQDNs: [{ matchName: 'example.com' }], toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }] }],
      }),
    );
    const out = e.apply([
      { type: 'identity-upserted', id: 300, labels: endpointLabels({ namespace: 'prod' }) },
      { type: 'endpoint-upserted', endpoint: { id: 7, identity: 300 } },
      { type: 'policy-upserted', policy: t },
    ]);
    expect(out.find((o) => o.type === 'policy-status')).toMatchObject({
      key: 'CiliumNetworkPolicy/prod/fqdn',
      notEnforced: [],
    });
    expect(e.endpointEntries(7).filter((x) => x.direction === 'egress')).toEqual([]);
    expect(lookupVerdict(e.endpointEntries(7), 'egress', 2, Proto.TCP, 443)).toBe('drop');
  });
  it('a NetworkPolicy has nothing unenforced', () => {
    expect(
      translatePolicy(knp('prod', 'x', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] }))
        .notEnforced,
    ).toEqual([]);
  });
});

describe('the Valid condition for the policy status', () => {
  it.each([
    ['an enforced policy', cnp('prod', 'a', { endpointSelector: {}, ingress: [{}] }), 'True', 'Enforced'],
    [
      'a policy with toGroups',
      cnp('prod', 'b', { endpointSelector: {}, egress: [{ toGroups: [{ aws: { securityGroupsIds: ['sg-1'] } }] }] }),
      'True',
      'PartiallyEnforced',
    ],
    [
      'a policy with toFQDNs (enforced through the DNS proxy)',
      cnp('prod', 'f', { endpointSelector: {}, egress: [{ toFQDNs: [{ matchName: 'a.b' }] }] }),
      'True',
      'Enforced',
    ],
    [
      'a policy with a bad CIDR',
      cnp('prod', 'c', { endpointSelector: {}, egress: [{ toCIDR: ['300.0.0.0/8'] }] }),
      'False',
      'InvalidFields',
    ],
  ])('%s', (_n, pol, status, reason) => {
    const c = validCondition(translatePolicy(pol));
    expect([c.type, c.status, c.reason]).toEqual(['Valid', status, reason]);
    if (reason === 'PartiallyEnforced') expect(c.message).toContain('spec.egress[0].toGroups');
  });
});

describe('odd input: reported with stable codes, never a crash', () => {
  it.each([
    [
      'a CIDR that does not parse',
      cnp('prod', 'a', { endpointSelector: {}, ingress: [{ fromCIDR: ['10.0.0.0/33'] }] }),
      PolicyErrorCode.BadCidr,
    ],
    [
      'an except outside its cidr',
      cnp('prod', 'b', {
        endpointSelector: {},
        ingress: [{ fromCIDRSet: [{ cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }] }],
      }),
      PolicyErrorCode.BadCidr,
    ],
    [
      'a port out of range',
      cnp('prod', 'c', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '70000' }] }] }] }),
      PolicyErrorCode.BadPort,
    ],
    [
      'an unknown protocol',
      cnp('prod', 'd', { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '1', protocol: 'GRE' }] }] }] }),
      PolicyErrorCode.BadPort,
    ],
    [
      'an unknown ICMP type name',
      cnp('prod', 'e', { endpointSelector: {}, ingress: [{ icmps: [{ fields: [{ type: 'Nope' }] }] }] }),
      PolicyErrorCode.BadIcmp,
    ],
    [
      'a policy without spec or specs',
      { kind: 'CiliumNetworkPolicy', object: { metadata: { name: 'f', namespace: 'prod' } } } as PolicyObject,
      PolicyErrorCode.EmptyPolicy,
    ],
    [
      'a NetworkPolicy ipBlock without cidr',
      knp('prod', 'g', { podSelector: {}, ingress: [{ from: [{ ipBlock: {} }] }] }),
      PolicyErrorCode.BadCidr,
    ],
    [
      'a CNP endpointSelector naming another namespace',
      cnp('prod', 'i', {
        endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'dev' } },
        ingress: [{}],
      }),
      PolicyErrorCode.BadSelector,
    ],
    [
      'a port rule without ports',
      cnp('prod', 'h', { endpointSelector: {}, ingress: [{ toPorts: [{ rules: { http: [{}] } }] }] }),
      PolicyErrorCode.BadPort,
    ],
  ])('%s', (_n, pol, code) => {
    const t = translatePolicy(pol);
    expect(t.problems.map((p) => p.code)).toContain(code);
    expect(t.problems[0]?.message.length).toBeGreaterThan(10);
  });
  it('junk inside lists (null rules, numbers for selectors) is skipped', () => {
    const t = translatePolicy(
      cnp('prod', 'junk', {
        endpointSelector: {},
        ingress: [null, 5, { fromEndpoints: [{ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }] }],
        egress: 'x',
      }),
    );
    const e = new PolicyEngine();
    expect(() =>
      e.apply([
        { type: 'policy-upserted', policy: t },
        { type: 'identity-removed', id: 12345 },
        { type: 'endpoint-removed', id: 9 },
        { type: 'policy-removed', key: 'nope' },
      ]),
    ).not.toThrow();
  });
});

describe('node-local CIDR identities (docs: internals/security-identities: bit 24, from (1<<24)+1)', () => {
  it('one identity per prefix, shared by policies, released with the last one', () => {
    const e = new PolicyEngine();
    const a = translatePolicy(
      cnp('prod', 'a', {
        endpointSelector: {},
        egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }] }],
      }),
    );
    const b = translatePolicy(cnp('prod', 'b', { endpointSelector: {}, egress: [{ toCIDR: ['10.0.0.0/8'] }] }));
    const out1 = e.apply([{ type: 'policy-upserted', policy: a }]);
    expect(out1.filter((o) => o.type === 'cidr-identity-added')).toEqual([
      { type: 'cidr-identity-added', identity: CIDR_IDENTITY_FIRST, prefix: '10.0.0.0/8' },
      { type: 'cidr-identity-added', identity: CIDR_IDENTITY_FIRST + 1, prefix: '10.1.0.0/16' },
    ]);
    expect(e.apply([{ type: 'policy-upserted', policy: b }]).filter((o) => o.type === 'cidr-identity-added')).toEqual(
      [],
    );
    expect(e.apply([{ type: 'policy-removed', key: a.key }]).filter((o) => o.type.startsWith('cidr'))).toEqual([
      { type: 'cidr-identity-removed', identity: CIDR_IDENTITY_FIRST + 1, prefix: '10.1.0.0/16' },
    ]);
    expect(e.cidrIdentities()).toEqual([{ prefix: '10.0.0.0/8', identity: CIDR_IDENTITY_FIRST }]);
    expect(e.identity(CIDR_IDENTITY_FIRST)?.labels.toString()).toBe('cidr:10.0.0.0/8;reserved:world-ipv4');
  });
  it('host bits are cleared: 10.1.2.3/8 is 10.0.0.0/8', () => {
    const e = new PolicyEngine();
    e.apply([
      {
        type: 'policy-upserted',
        policy: translatePolicy(cnp('prod', 'a', { endpointSelector: {}, egress: [{ toCIDR: ['10.1.2.3/8'] }] })),
      },
    ]);
    expect(e.cidrIdentities().map((c) => c.prefix)).toEqual(['10.0.0.0/8']);
  });
});

describe('the datapath lookup contract (LPM with the identity and with 0; deny from either wins)', () => {
  const E = (
    identity: number,
    protocol: number,
    port: number,
    prefixLen: number,
    verdict: 'allow' | 'deny',
  ): MapEntry => ({
    identity,
    direction: 'ingress',
    protocol,
    portPrefix: { port, prefixLen },
    verdict,
  });
  it.each([
    ['no entry: default-deny miss (DROP_POLICY)', [], 5, 6, 80, 'drop'],
    ['L3-only allow (protocol 0)', [E(5, 0, 0, 0, 'allow')], 5, 17, 53, 'allow'],
    ['L4-only allow (identity 0)', [E(0, 6, 80, 16, 'allow')], 5, 6, 80, 'allow'],
    ['L4 allow on another port misses', [E(5, 6, 80, 16, 'allow')], 5, 6, 81, 'drop'],
    ['a longer deny prefix beats a shorter allow', [E(5, 6, 0, 0, 'allow'), E(5, 6, 80, 16, 'deny')], 5, 6, 80, 'deny'],
    ['protocol-specific beats protocol 0', [E(5, 0, 0, 0, 'deny'), E(5, 17, 53, 16, 'allow')], 5, 17, 53, 'allow'],
    [
      'an identity-0 deny beats an identity allow',
      [E(5, 6, 80, 16, 'allow'), E(0, 6, 80, 16, 'deny')],
      5,
      6,
      80,
      'deny',
    ],
    ['an identity deny beats an identity-0 allow', [E(0, 0, 0, 0, 'allow'), E(5, 6, 22, 16, 'deny')], 5, 6, 22, 'deny'],
    ['a range prefix matches inside', [E(5, 6, 1024, 6, 'allow')], 5, 6, 2047, 'allow'],
    ['a range prefix misses outside', [E(5, 6, 1024, 6, 'allow')], 5, 6, 2048, 'drop'],
  ] as [string, MapEntry[], number, number, number, string][])('%s', (_n, entries, id, proto, port, want) => {
    expect(lookupVerdict(entries, 'ingress', id, proto, port)).toBe(want);
  });
});
