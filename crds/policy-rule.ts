// The Cilium policy language (upstream `pkg/policy/api`): one `Rule`, shared by
// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy. Field names are upstream's so that
// existing policy YAML applies unchanged.
import { Type, type Static } from '@sinclair/typebox';
import { EndpointSelector } from './common.js';
import { Cidr, FreeForm, IntOrString, List, StringEnum, StringMap } from './schema-kit.js';

/** The 13 entities upstream knows (`pkg/policy/api/entity.go`). */
export const ENTITIES = [
  'all',
  'world',
  'world-ipv4',
  'world-ipv6',
  'cluster',
  'host',
  'init',
  'ingress',
  'unmanaged',
  'remote-node',
  'health',
  'none',
  'kube-apiserver',
] as const;
export type Entity = (typeof ENTITIES)[number];

export const PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ANY'] as const;
export type L4Protocol = (typeof PROTOCOLS)[number];

/**
 * A port number (0 = every port, as upstream) or an IANA service name (a letter somewhere, single
 * dashes inside) resolved as a named port. RE2-compatible: Kubernetes checks it with Go's regexp.
 */
export const PORT_PATTERN =
  '^((0|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])|(([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*))$';

const Entity = StringEnum(ENTITIES, {
  description: 'An entity: a well-known peer such as world, cluster, host or remote-node.',
  'x-cilium-ts-message': `must be one of the entities ${ENTITIES.join(', ')}`,
});

const SecretRef = Type.Object({ namespace: Type.Optional(Type.String()), name: Type.String() });

export const CidrRule = Type.Object(
  {
    cidr: Type.Optional(Cidr({ description: 'The prefix; exactly one of cidr, cidrGroupRef, cidrGroupSelector.' })),
    cidrGroupRef: Type.Optional(Type.String({ description: 'The name of a CiliumCIDRGroup.' })),
    cidrGroupSelector: Type.Optional(EndpointSelector),
    except: Type.Optional(List(Cidr(), { description: 'Prefixes inside cidr that are not part of the rule.' })),
  },
  { description: 'A CIDR with exceptions (CIDRRule).' },
);
export type CidrRule = Static<typeof CidrRule>;

export const PortProtocol = Type.Object(
  {
    port: Type.Optional(
      Type.String({
        pattern: PORT_PATTERN,
        description: 'A port number (0 means all ports) or a named port of the destination pod.',
        'x-cilium-ts-message':
          'must be a port number from 0 to 65535 or a named port (lowercase letters, digits and dashes)',
      }),
    ),
    endPort: Type.Optional(
      Type.Integer({
        format: 'int32',
        minimum: 0,
        maximum: 65535,
        description: 'The last port of a range starting at port (ignored for named ports).',
      }),
    ),
    protocol: Type.Optional(
      StringEnum(PROTOCOLS, {
        description: 'TCP, UDP, SCTP or ANY (the default).',
        'x-cilium-ts-message': 'must be one of TCP, UDP, SCTP, ANY',
      }),
    ),
  },
  { description: 'A port (or port range) and a protocol.' },
);
export type PortProtocol = Static<typeof PortProtocol>;

const HeaderMatch = Type.Object({
  name: Type.String(),
  value: Type.Optional(Type.String()),
  secret: Type.Optional(SecretRef),
  mismatch: Type.Optional(StringEnum(['LOG', 'ADD', 'DELETE', 'REPLACE'] as const)),
});

export const L7Rules = Type.Object(
  {
    http: Type.Optional(
      List(
        Type.Object({
          path: Type.Optional(Type.String()),
          method: Type.Optional(Type.String()),
          host: Type.Optional(Type.String()),
          headers: Type.Optional(List(Type.String())),
          headerMatches: Type.Optional(List(HeaderMatch)),
        }),
      ),
    ),
    kafka: Type.Optional(
      List(
        Type.Object({
          role: Type.Optional(StringEnum(['produce', 'consume'] as const)),
          apiKey: Type.Optional(Type.String()),
          apiVersion: Type.Optional(Type.String()),
          clientID: Type.Optional(Type.String()),
          topic: Type.Optional(Type.String({ maxLength: 255 })),
        }),
      ),
    ),
    dns: Type.Optional(
      List(Type.Object({ matchName: Type.Optional(Type.String()), matchPattern: Type.Optional(Type.String()) })),
    ),
    l7proto: Type.Optional(Type.String()),
    l7: Type.Optional(List(StringMap())),
  },
  { description: 'Layer 7 rules: only one protocol type per port rule.' },
);

const TlsContext = Type.Object({
  secret: SecretRef,
  trustedCA: Type.Optional(Type.String()),
  certificate: Type.Optional(Type.String()),
  privateKey: Type.Optional(Type.String()),
});

export const PortRule = Type.Object(
  {
    ports: Type.Optional(List(PortProtocol, { maxItems: 40 })),
    terminatingTLS: Type.Optional(TlsContext),
    originatingTLS: Type.Optional(TlsContext),
    serverNames: Type.Optional(List(Type.String())),
    listener: Type.Optional(
      Type.Object({
        envoyConfig: Type.Object({ kind: Type.Optional(Type.String()), name: Type.String() }),
        name: Type.String(),
        priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
      }),
    ),
    rules: Type.Optional(L7Rules),
  },
  { description: 'Ports with optional layer 7 rules.' },
);
export type PortRule = Static<typeof PortRule>;

const PortDenyRule = Type.Object({ ports: Type.Optional(List(PortProtocol, { maxItems: 40 })) });

export const IcmpRule = Type.Object({
  fields: Type.Optional(
    List(
      Type.Object({
        family: Type.Optional(StringEnum(['IPv4', 'IPv6'] as const, { default: 'IPv4' })),
        type: IntOrString({ description: 'An ICMP type number (0–255) or name such as EchoRequest.' }),
      }),
      { maxItems: 40 },
    ),
  ),
});
export type IcmpRule = Static<typeof IcmpRule>;

const Authentication = Type.Object({ mode: StringEnum(['disabled', 'required', 'test-always-fail'] as const) });

const Groups = Type.Object({
  aws: Type.Optional(
    Type.Object({
      labels: Type.Optional(StringMap()),
      securityGroupsIds: Type.Optional(List(Type.String())),
      securityGroupsNames: Type.Optional(List(Type.String())),
      region: Type.Optional(Type.String()),
    }),
  ),
});

const Service = Type.Object({
  k8sService: Type.Optional(
    Type.Object({ serviceName: Type.Optional(Type.String()), namespace: Type.Optional(Type.String()) }),
  ),
  k8sServiceSelector: Type.Optional(
    Type.Object({ selector: EndpointSelector, namespace: Type.Optional(Type.String()) }),
  ),
});

const FqdnSelector = Type.Object({
  matchName: Type.Optional(Type.String({ maxLength: 255 })),
  matchPattern: Type.Optional(Type.String({ maxLength: 255 })),
});

const ingressPeers = {
  fromEndpoints: Type.Optional(List(EndpointSelector)),
  fromRequires: Type.Optional(List(EndpointSelector)),
  fromCIDR: Type.Optional(List(Cidr())),
  fromCIDRSet: Type.Optional(List(CidrRule)),
  fromEntities: Type.Optional(List(Entity)),
  fromGroups: Type.Optional(List(Groups)),
  fromNodes: Type.Optional(List(EndpointSelector)),
  icmps: Type.Optional(List(IcmpRule)),
};

const egressPeers = {
  toEndpoints: Type.Optional(List(EndpointSelector)),
  toRequires: Type.Optional(List(EndpointSelector)),
  toCIDR: Type.Optional(List(Cidr())),
  toCIDRSet: Type.Optional(List(CidrRule)),
  toEntities: Type.Optional(List(Entity)),
  toServices: Type.Optional(List(Service)),
  toGroups: Type.Optional(List(Groups)),
  toNodes: Type.Optional(List(EndpointSelector)),
  icmps: Type.Optional(List(IcmpRule)),
};

export const IngressRule = Type.Object(
  { ...ingressPeers, toPorts: Type.Optional(List(PortRule)), authentication: Type.Optional(Authentication) },
  { description: 'Traffic allowed into the selected endpoints.' },
);
export type IngressRule = Static<typeof IngressRule>;

export const IngressDenyRule = Type.Object(
  { ...ingressPeers, toPorts: Type.Optional(List(PortDenyRule)) },
  { description: 'Traffic denied into the selected endpoints, whatever the allow rules say.' },
);
export type IngressDenyRule = Static<typeof IngressDenyRule>;

export const EgressRule = Type.Object(
  {
    ...egressPeers,
    toPorts: Type.Optional(List(PortRule)),
    toFQDNs: Type.Optional(List(FqdnSelector)),
    authentication: Type.Optional(Authentication),
  },
  { description: 'Traffic allowed out of the selected endpoints.' },
);
export type EgressRule = Static<typeof EgressRule>;

export const EgressDenyRule = Type.Object(
  { ...egressPeers, toPorts: Type.Optional(List(PortDenyRule)) },
  { description: 'Traffic denied out of the selected endpoints, whatever the allow rules say.' },
);
export type EgressDenyRule = Static<typeof EgressDenyRule>;

/** One policy rule (upstream `api.Rule`). */
export const Rule = Type.Object(
  {
    endpointSelector: Type.Optional(EndpointSelector),
    nodeSelector: Type.Optional(EndpointSelector),
    ingress: Type.Optional(List(IngressRule)),
    ingressDeny: Type.Optional(List(IngressDenyRule)),
    egress: Type.Optional(List(EgressRule)),
    egressDeny: Type.Optional(List(EgressDenyRule)),
    labels: Type.Optional(
      List(
        Type.Object({ key: Type.String(), value: Type.Optional(Type.String()), source: Type.Optional(Type.String()) }),
      ),
    ),
    description: Type.Optional(Type.String()),
    enableDefaultDeny: Type.Optional(
      Type.Object({ ingress: Type.Optional(Type.Boolean()), egress: Type.Optional(Type.Boolean()) }),
    ),
    log: Type.Optional(Type.Object({ value: Type.Optional(Type.String()) })),
  },
  { description: 'A policy rule: which endpoints it selects and the traffic it allows or denies.' },
);
export type Rule = Static<typeof Rule>;

/** Free-form fields kept for policies we do not interpret (derivative policies' status). */
export const DerivativePolicyStatus = FreeForm();
