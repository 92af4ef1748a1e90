// The five cilium.io/v2 CRDs: names, scope, short names, categories and printer columns as
// upstream ships them (pkg/k8s/apis/cilium.io/client/crds/v2/*.yaml), built from the TypeScript schemas.
import type { TSchema } from '@sinclair/typebox';
import { CiliumEndpoint } from './endpoint.js';
import { CiliumIdentity } from './identity.js';
import { CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy } from './network-policy.js';
import { CiliumNode } from './node.js';
import { CrdError, CrdErrorCode } from './errors.js';
import { toOpenApi } from './schema-kit.js';

export const GROUP = 'cilium.io';
export const VERSION = 'v2';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface PrinterColumn {
  name: string;
  type: 'integer' | 'number' | 'string' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
  scope: 'Namespaced' | 'Cluster';
  schema: TSchema;
  printerColumns: PrinterColumn[];
  /** Fields the object must carry besides metadata. */
  required?: string[];
}

const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};
const valid: PrinterColumn = {
  name: 'Valid',
  type: 'string',
  jsonPath: ".status.conditions[?(@.type=='Valid')].status",
  description: 'Whether the agents accepted the policy.',
};

export const CRDS: readonly CrdDefinition[] = [
  {
    kind: 'CiliumNetworkPolicy',
    plural: 'ciliumnetworkpolicies',
    singular: 'ciliumnetworkpolicy',
    listKind: 'CiliumNetworkPolicyList',
    shortNames: ['cnp', 'ciliumnp'],
    categories: ['cilium', 'ciliumpolicy'],
    scope: 'Namespaced',
    schema: CiliumNetworkPolicy,
    printerColumns: [age, valid],
  },
  {
    kind: 'CiliumClusterwideNetworkPolicy',
    plural: 'ciliumclusterwidenetworkpolicies',
    singular: 'ciliumclusterwidenetworkpolicy',
    listKind: 'CiliumClusterwideNetworkPolicyList',
    shortNames: ['ccnp'],
    categories: ['cilium', 'ciliumpolicy'],
    scope: 'Cluster',
    schema: CiliumClusterwideNetworkPolicy,
    printerColumns: [age, valid],
  },
  {
    kind: 'CiliumEndpoint',
    plural: 'ciliumendpoints',
    singular: 'ciliumendpoint',
    listKind: 'CiliumEndpointList',
    shortNames: ['cep', 'ciliumep'],
    categories: ['cilium'],
    scope: 'Namespaced',
    schema: CiliumEndpoint,
    printerColumns: [
      {
        name: 'Security Identity',
        type: 'integer',
        jsonPath: '.status.identity.id',
        description: 'Security identity of the endpoint.',
      },
      {
        name: 'Ingress Enforcement',
        type: 'string',
        jsonPath: '.status.policy.ingress.state',
        description: 'Ingress policy enforcement.',
        priority: 1,
      },
      {
        name: 'Egress Enforcement',
        type: 'string',
        jsonPath: '.status.policy.egress.state',
        description: 'Egress policy enforcement.',
        priority: 1,
      },
      {
        name: 'Visibility Policy',
        type: 'string',
        jsonPath: '.status.visibility-policy-status',
        description: 'Status of visibility policy.',
        priority: 1,
      },
      { name: 'Endpoint State', type: 'string', jsonPath: '.status.state', description: 'Endpoint current state.' },
      {
        name: 'IPv4',
        type: 'string',
        jsonPath: '.status.networking.addressing[0].ipv4',
        description: 'Endpoint IPv4 address.',
      },
      {
        name: 'IPv6',
        type: 'string',
        jsonPath: '.status.networking.addressing[0].ipv6',
        description: 'Endpoint IPv6 address.',
      },
    ],
  },
  {
    kind: 'CiliumNode',
    plural: 'ciliumnodes',
    singular: 'ciliumnode',
    listKind: 'CiliumNodeList',
    shortNames: ['cn', 'ciliumn'],
    categories: ['cilium'],
    scope: 'Cluster',
    schema: CiliumNode,
    required: ['spec'],
    printerColumns: [
      {
        name: 'CiliumInternalIP',
        type: 'string',
        jsonPath: '.spec.addresses[?(@.type=="CiliumInternalIP")].ip',
        description: 'Cilium internal IP for this node.',
      },
      {
        name: 'InternalIP',
        type: 'string',
        jsonPath: '.spec.addresses[?(@.type=="InternalIP")].ip',
        description: 'IP of the node.',
      },
      age,
    ],
  },
  {
    kind: 'CiliumIdentity',
    plural: 'ciliumidentities',
    singular: 'ciliumidentity',
    listKind: 'CiliumIdentityList',
    shortNames: ['ciliumid'],
    categories: ['cilium'],
    scope: 'Cluster',
    schema: CiliumIdentity,
    required: ['security-labels'],
    printerColumns: [
      {
        name: 'Namespace',
        type: 'string',
        jsonPath: '.metadata.labels.io\\.kubernetes\\.pod\\.namespace',
        description: 'The namespace of the entity.',
      },
      age,
    ],
  },
];

export function crdDefinition(kind: string): CrdDefinition {
  const def = CRDS.find((d) => d.kind === kind);
  if (!def) throw new CrdError(CrdErrorCode.UnknownKind, `unknown cilium.io/v2 kind ${kind}`);
  return def;
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition object for one definition. */
export function buildCrd(def: CrdDefinition): Record<string, unknown> {
  const openApi = toOpenApi(def.schema);
  if (def.required?.length) openApi.required = [...def.required];
  const hasStatus = Boolean((openApi.properties as Record<string, unknown> | undefined)?.status);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'cilium-ts', 'io.cilium.k8s.crd.schema.version': '1.0.0' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: def.listKind,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [...def.categories],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
          schema: { openAPIV3Schema: openApi },
          ...(hasStatus ? { subresources: { status: {} } } : {}),
        },
      ],
    },
  };
}
