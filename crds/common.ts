// Schemas shared by several kinds: label selectors, conditions, object metadata.
import { Type, type Static } from '@sinclair/typebox';
import { List, StringEnum, StringMap } from './schema-kit.js';

export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** One `matchExpressions` entry of a Kubernetes LabelSelector. */
export const LabelSelectorRequirement = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 317, description: 'The label key that the selector applies to.' }),
    operator: StringEnum(SELECTOR_OPERATORS, {
      description: "The key's relationship to the values: In, NotIn, Exists or DoesNotExist.",
      'x-cilium-ts-message': 'must be one of In, NotIn, Exists, DoesNotExist',
    }),
    values: Type.Optional(
      List(Type.String(), {
        description: 'Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.',
      }),
    ),
  },
  { description: 'A selector requirement: a key, an operator and values.' },
);
export type LabelSelectorRequirement = Static<typeof LabelSelectorRequirement>;

/**
 * A Kubernetes LabelSelector. In Cilium policies the keys may carry a label source prefix
 * (`k8s:app`, `any:app`, `reserved:host`); an empty selector selects everything in scope.
 */
export const EndpointSelector = Type.Object(
  {
    matchLabels: Type.Optional(StringMap({ description: 'Labels that must all match (key: value).' })),
    matchExpressions: Type.Optional(
      List(LabelSelectorRequirement, { description: 'Requirements that must all hold.' }),
    ),
  },
  { description: 'A label selector: matchLabels and matchExpressions, ANDed. Empty selects all.' },
);
export type EndpointSelector = Static<typeof EndpointSelector>;

/** A status condition (metav1.Condition shape). */
export const Condition = Type.Object({
  type: Type.String({ description: 'Condition type, e.g. Valid.' }),
  status: StringEnum(['True', 'False', 'Unknown'] as const),
  lastTransitionTime: Type.Optional(Type.String({ format: 'date-time' })),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  observedGeneration: Type.Optional(Type.Integer({ format: 'int64', minimum: 0 })),
});
export type Condition = Static<typeof Condition>;

/** Object metadata as CRD schemas state it: the API server owns its validation. */
export const ObjectMeta = Type.Unsafe<{
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  [key: string]: unknown;
}>({ type: 'object' });
