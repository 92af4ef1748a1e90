// CiliumEndpoint: status only, written by the agent that owns the pod.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from './common.js';
import { List, StringEnum } from './schema-kit.js';

export const ENDPOINT_STATES = [
  'creating',
  'waiting-for-identity',
  'not-ready',
  'waiting-to-regenerate',
  'regenerating',
  'restoring',
  'ready',
  'disconnecting',
  'disconnected',
  'invalid',
] as const;
export type EndpointState = (typeof ENDPOINT_STATES)[number];

const PolicyRule = Type.Object({
  identity: Type.Optional(Type.Integer({ format: 'int64' })),
  'identity-labels': Type.Optional(
    Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' } }),
  ),
  'dest-port': Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  protocol: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
});

const PolicyDirection = Type.Object({
  enforcing: Type.Boolean(),
  state: Type.Optional(StringEnum(['enforcing', 'non-enforcing', 'disabled'] as const)),
  allowed: Type.Optional(List(PolicyRule)),
  denied: Type.Optional(List(PolicyRule)),
  adding: Type.Optional(List(PolicyRule)),
  removing: Type.Optional(List(PolicyRule)),
});

const ControllerStatus = Type.Object({
  name: Type.Optional(Type.String()),
  uuid: Type.Optional(Type.String()),
  configuration: Type.Optional(
    Type.Object({
      'error-retry': Type.Optional(Type.Boolean()),
      'error-retry-base': Type.Optional(Type.String()),
      interval: Type.Optional(Type.String()),
    }),
  ),
  status: Type.Optional(
    Type.Object({
      'consecutive-failure-count': Type.Optional(Type.Integer()),
      'failure-count': Type.Optional(Type.Integer()),
      'last-failure-msg': Type.Optional(Type.String()),
      'last-failure-timestamp': Type.Optional(Type.String()),
      'last-success-timestamp': Type.Optional(Type.String()),
      'success-count': Type.Optional(Type.Integer()),
    }),
  ),
});

export const EndpointStatus = Type.Object({
  id: Type.Optional(Type.Integer({ format: 'int64', description: 'The agent-local endpoint ID.' })),
  controllers: Type.Optional(List(ControllerStatus)),
  'external-identifiers': Type.Optional(
    Type.Object({
      'container-id': Type.Optional(Type.String()),
      'container-name': Type.Optional(Type.String()),
      'docker-endpoint-id': Type.Optional(Type.String()),
      'docker-network-id': Type.Optional(Type.String()),
      'k8s-namespace': Type.Optional(Type.String()),
      'k8s-pod-name': Type.Optional(Type.String()),
      'pod-name': Type.Optional(Type.String()),
      'cni-attachment-id': Type.Optional(Type.String()),
    }),
  ),
  health: Type.Optional(
    Type.Object({
      bpf: Type.Optional(Type.String()),
      connected: Type.Optional(Type.Boolean()),
      overallHealth: Type.Optional(Type.String()),
      policy: Type.Optional(Type.String()),
    }),
  ),
  identity: Type.Optional(
    Type.Object({
      id: Type.Optional(Type.Integer({ format: 'int64' })),
      labels: Type.Optional(List(Type.String())),
    }),
  ),
  log: Type.Optional(
    List(
      Type.Object({
        code: Type.Optional(StringEnum(['OK', 'Failure'] as const)),
        message: Type.Optional(Type.String()),
        state: Type.Optional(Type.String()),
        timestamp: Type.Optional(Type.String()),
      }),
    ),
  ),
  networking: Type.Optional(
    Type.Object({
      addressing: List(Type.Object({ ipv4: Type.Optional(Type.String()), ipv6: Type.Optional(Type.String()) })),
      node: Type.Optional(Type.String()),
    }),
  ),
  encryption: Type.Optional(Type.Object({ key: Type.Optional(Type.Integer()) })),
  policy: Type.Optional(
    Type.Object({ ingress: Type.Optional(PolicyDirection), egress: Type.Optional(PolicyDirection) }),
  ),
  'visibility-policy-status': Type.Optional(Type.String()),
  state: Type.Optional(StringEnum(ENDPOINT_STATES)),
  'named-ports': Type.Optional(
    List(
      Type.Object({
        name: Type.Optional(Type.String()),
        port: Type.Integer({ minimum: 0, maximum: 65535 }),
        protocol: Type.Optional(StringEnum(['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPV6', 'ANY'] as const)),
      }),
    ),
  ),
});
export type EndpointStatus = Static<typeof EndpointStatus>;

export const CiliumEndpoint = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(ObjectMeta),
    status: Type.Optional(EndpointStatus),
  },
  { description: 'CiliumEndpoint: the state of one pod endpoint as its agent sees it.' },
);
export type CiliumEndpoint = Static<typeof CiliumEndpoint>;
