// CiliumIdentity: name = the numeric identity; `security-labels` = the authoritative label set.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from './common.js';
import { FreeForm, StringMap } from './schema-kit.js';

export const CiliumIdentity = Type.Object(
  {
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: Type.Optional(ObjectMeta),
    'security-labels': StringMap({
      description: 'The labels of the identity, with their source prefix (k8s:app: web).',
    }),
    status: Type.Optional(FreeForm()),
  },
  { description: 'CiliumIdentity: a numeric security identity and the labels it stands for.' },
);
export type CiliumIdentity = Static<typeof CiliumIdentity>;
