// Property: on random small clusters, the datapath's lookup in the generated maps and the
// rule-level trace agree on every packet (deny precedence, LPM port prefixes, identity 0,
// default deny, named ports, CIDR identities). Fixed seeds: deterministic.
import { describe, expect, it } from '@jest/globals';
import {
  lookupVerdict,
  PolicyEngine,
  Proto,
  ReservedIdentity,
  tracePolicy,
  translatePolicy,
  type PolicyEvent,
} from '../../policy/index.js';
import { makeWorkload, rng } from '../../hack/bench/policy-workload.js';

const SIZE = { namespaces: 4, appsPerNamespace: 4, versions: 3, endpoints: 30, policies: 60 };
const PROTOS = [Proto.TCP, Proto.UDP, Proto.SCTP, Proto.ICMP];

describe.each([3, 5, 8, 13])('seed %i', (seed) => {
  it('map lookups at both ends equal the trace, per direction, for 3,000 random packets', () => {
    const w = makeWorkload(seed, SIZE);
    const engine = new PolicyEngine();
    // Plus clusterwide denies over the same peers and overlapping ports, so that denies cover
    // allows of the same identity (the case where the LPM must not see the narrower allow).
    const d = rng(seed * 31);
    const portSpec = (): Record<string, unknown> => {
      const k = Math.floor(d() * 4);
      const p = 1 + Math.floor(d() * 9000);
      if (k === 0) return { protocol: 'TCP' };
      if (k === 1) return { port: String(p), endPort: p + Math.floor(d() * 3000), protocol: 'TCP' };
      if (k === 2) return { port: String(p), protocol: 'ANY' };
      return { port: String(p), protocol: 'UDP' };
    };
    const denyPolicies = Array.from({ length: 6 }, (_, i) =>
      translatePolicy({
        kind: 'CiliumClusterwideNetworkPolicy',
        object: {
          metadata: { name: `deny-${i}` },
          spec: {
            endpointSelector: { matchLabels: { app: `app-${Math.floor(d() * SIZE.appsPerNamespace)}` } },
            ingressDeny: [{ fromEntities: ['cluster'], toPorts: [{ ports: [portSpec()] }] }],
            egressDeny: [{ toEndpoints: [{}], toPorts: [{ ports: [portSpec()] }] }],
            enableDefaultDeny: { ingress: false, egress: false },
          } as never,
        },
      }),
    );
    const policies = [...w.policies.map((p) => translatePolicy(p)), ...denyPolicies];
    engine.apply([
      ...w.identities.map((i): PolicyEvent => ({ type: 'identity-upserted', id: i.id, labels: i.labels })),
      ...policies.map((policy): PolicyEvent => ({ type: 'policy-upserted', policy })),
      ...w.endpoints.map((endpoint): PolicyEvent => ({ type: 'endpoint-upserted', endpoint })),
      { type: 'endpoint-upserted', endpoint: { id: 1, identity: ReservedIdentity.host } },
    ]);
    // Ports the policies name (and their neighbours), so that ranges and prefixes are hit at
    // their edges; plus a few random ones.
    const named = new Set<number>([0, 1, 53, 8080, 65535]);
    for (const p of policies)
      for (const r of p.rules)
        for (const pr of r.peerRules)
          for (const s of pr.ports)
            if (s.kind === 'numeric')
              for (const x of s.prefixes) {
                const size = 2 ** (16 - x.prefixLen);
                for (const q of [x.port - 1, x.port, x.port + size - 1, x.port + size])
                  if (q >= 0 && q <= 65535) named.add(q);
              }
    const ports = [...named];
    const eps = [...w.endpoints, { id: 1, identity: ReservedIdentity.host, namedPorts: undefined }];
    const outside = [
      ReservedIdentity.world,
      ReservedIdentity['remote-node'],
      ReservedIdentity['kube-apiserver'],
      ...engine.cidrIdentities().map((c) => c.identity),
    ];
    const r = rng(seed);
    const pick = <T>(l: readonly T[]): T => l[Math.floor(r() * l.length)] as T;
    let allows = 0;
    let denies = 0;
    let drops = 0;
    for (let i = 0; i < 3000; i++) {
      const src = r() < 0.75 ? pick(eps) : undefined;
      const dst = r() < 0.75 || !src ? pick(eps) : undefined;
      const srcId = src?.identity ?? pick(outside);
      const dstId = dst?.identity ?? pick(outside);
      const proto = pick(PROTOS);
      const port = r() < 0.9 ? pick(ports) : Math.floor(r() * 65536);
      const t = tracePolicy(engine, {
        source: { identity: srcId },
        destination: { identity: dstId },
        protocol: proto,
        port,
        destinationNamedPorts: dst?.namedPorts,
      });
      const egress = src ? lookupVerdict(engine.endpointEntries(src.id), 'egress', dstId, proto, port) : 'allow';
      const ingress = dst ? lookupVerdict(engine.endpointEntries(dst.id), 'ingress', srcId, proto, port) : 'allow';
      const packet = { src: src?.id ?? srcId, dst: dst?.id ?? dstId, proto, port };
      expect({ packet, egress, ingress }).toEqual({ packet, egress: t.egress.verdict, ingress: t.ingress.verdict });
      for (const v of [egress, ingress]) {
        if (v === 'allow') allows++;
        else if (v === 'deny') denies++;
        else drops++;
      }
    }
    // The packets exercised every outcome (the comparison is not vacuous).
    expect(Math.min(allows, denies, drops)).toBeGreaterThan(0);
  });
});
