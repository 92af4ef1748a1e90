// CiliumNode: one per node, written by its agent (addresses) and the operator (IPAM podCIDRs).
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from './common.js';
import { List, StringEnum } from './schema-kit.js';

export const NODE_ADDRESS_TYPES = ['InternalIP', 'ExternalIP', 'CiliumInternalIP', 'Hostname'] as const;

const AllocationIp = Type.Object({ owner: Type.Optional(Type.String()), resource: Type.Optional(Type.String()) });
const IpMap = Type.Unsafe<Record<string, { owner?: string; resource?: string }>>({
  type: 'object',
  additionalProperties: AllocationIp,
});

export const IpamSpec = Type.Object({
  pool: Type.Optional(IpMap),
  podCIDRs: Type.Optional(List(Type.String(), { description: 'Pod CIDRs allocated to this node by the operator.' })),
  'min-allocate': Type.Optional(Type.Integer({ minimum: 0 })),
  'max-allocate': Type.Optional(Type.Integer({ minimum: 0 })),
  'pre-allocate': Type.Optional(Type.Integer({ minimum: 0 })),
  'max-above-watermark': Type.Optional(Type.Integer({ minimum: 0 })),
  pools: Type.Optional(
    Type.Object({
      requested: Type.Optional(
        List(
          Type.Object({
            pool: Type.String(),
            needed: Type.Optional(
              Type.Object({ 'ipv4-addrs': Type.Optional(Type.Integer()), 'ipv6-addrs': Type.Optional(Type.Integer()) }),
            ),
          }),
        ),
      ),
      allocated: Type.Optional(List(Type.Object({ pool: Type.String(), cidrs: Type.Optional(List(Type.String())) }))),
    }),
  ),
});

export const CiliumNodeSpec = Type.Object({
  'instance-id': Type.Optional(Type.String()),
  addresses: Type.Optional(
    List(Type.Object({ type: Type.Optional(StringEnum(NODE_ADDRESS_TYPES)), ip: Type.Optional(Type.String()) })),
  ),
  health: Type.Optional(Type.Object({ ipv4: Type.Optional(Type.String()), ipv6: Type.Optional(Type.String()) })),
  ingress: Type.Optional(Type.Object({ ipv4: Type.Optional(Type.String()), ipv6: Type.Optional(Type.String()) })),
  encryption: Type.Optional(Type.Object({ key: Type.Optional(Type.Integer()) })),
  ipam: Type.Optional(IpamSpec),
  nodeidentity: Type.Optional(Type.Integer({ format: 'int64' })),
  bootid: Type.Optional(Type.String()),
});
export type CiliumNodeSpec = Static<typeof CiliumNodeSpec>;

export const CiliumNodeStatus = Type.Object({
  ipam: Type.Optional(
    Type.Object({
      used: Type.Optional(IpMap),
      'operator-status': Type.Optional(Type.Object({ error: Type.Optional(Type.String()) })),
      'release-ips': Type.Optional(
        Type.Unsafe<Record<string, string>>({
          type: 'object',
          additionalProperties: {
            type: 'string',
            enum: ['marked-for-release', 'ready-for-release', 'do-not-release', 'released'],
          },
        }),
      ),
      'pod-cidrs': Type.Optional(
        Type.Unsafe<Record<string, { status?: string }>>({
          type: 'object',
          additionalProperties: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['in-use', 'depleted', 'released'] } },
          },
        }),
      ),
    }),
  ),
});

export const CiliumNode = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(ObjectMeta),
    spec: CiliumNodeSpec,
    status: Type.Optional(CiliumNodeStatus),
  },
  { description: 'CiliumNode: a node as Cilium sees it (addresses, IPAM).' },
);
export type CiliumNode = Static<typeof CiliumNode>;
