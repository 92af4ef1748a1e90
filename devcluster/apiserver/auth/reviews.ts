// The review APIs, answered from the request and the authorizer without storing anything:
// SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview (anyone's question, for
// callers allowed to create them) and SelfSubjectReview (`kubectl auth whoami`).
// https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access
import { fieldError, invalid } from '../errors.js';
import type { Attributes } from './attributes.js';
import type { UserInfo } from './user.js';

interface ResourceAttributes {
  namespace?: string;
  verb?: string;
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  name?: string;
}

interface NonResourceAttributes {
  path?: string;
  verb?: string;
}

interface ReviewSpec {
  resourceAttributes?: ResourceAttributes;
  nonResourceAttributes?: NonResourceAttributes;
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export interface ReviewBody {
  spec?: ReviewSpec;
  metadata?: Record<string, unknown>;
}

export type Authorize = (a: Attributes) => { allowed: boolean; reason: string };

/** The attributes a review asks about (authorization/v1 ResourceAttributesFrom / NonResourceAttributesFrom). */
function reviewAttributes(kind: string, user: UserInfo, spec: ReviewSpec): Attributes {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if (!r === !n)
    throw invalid(kind, 'authorization.k8s.io', '', [
      fieldError.invalid(
        'spec.resourceAttributes',
        r ? 'non-null' : 'null',
        'exactly one of nonResourceAttributes or resourceAttributes must be specified',
      ),
    ]);
  if (n)
    return {
      user,
      verb: n.verb ?? '',
      isResourceRequest: false,
      path: n.path ?? '',
      apiGroup: '',
      apiVersion: '',
      resource: '',
      subresource: '',
      namespace: '',
      name: '',
    };
  return {
    user,
    verb: r?.verb ?? '',
    isResourceRequest: true,
    path: '',
    apiGroup: r?.group ?? '',
    apiVersion: r?.version ?? '',
    resource: r?.resource ?? '',
    subresource: r?.subresource ?? '',
    namespace: r?.namespace ?? '',
    name: r?.name ?? '',
  };
}

function answer(kind: string, body: ReviewBody, spec: ReviewSpec, d: { allowed: boolean; reason: string }): unknown {
  const status: Record<string, unknown> = { allowed: d.allowed };
  if (d.reason) status.reason = d.reason;
  return {
    kind,
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { ...(body.metadata ?? {}), creationTimestamp: null },
    spec,
    status,
  };
}

/** POST selfsubjectaccessreviews: may the caller do this? The spec's user fields are ignored, as upstream. */
export function selfSubjectAccessReview(user: UserInfo, body: ReviewBody, authorize: Authorize): unknown {
  const spec = body.spec ?? {};
  const a = reviewAttributes('SelfSubjectAccessReview', user, spec);
  const clean: ReviewSpec = {};
  if (spec.resourceAttributes) clean.resourceAttributes = spec.resourceAttributes;
  if (spec.nonResourceAttributes) clean.nonResourceAttributes = spec.nonResourceAttributes;
  return answer('SelfSubjectAccessReview', body, clean, authorize(a));
}

/** POST subjectaccessreviews: may the named user (and groups) do this? */
export function subjectAccessReview(body: ReviewBody, authorize: Authorize): unknown {
  const spec = body.spec ?? {};
  if (!spec.user && !spec.groups?.length)
    throw invalid('SubjectAccessReview', 'authorization.k8s.io', '', [
      fieldError.invalid('spec.user', spec.user ?? '', 'at least one of user or group must be specified'),
    ]);
  const user: UserInfo = { name: spec.user ?? '', groups: spec.groups ?? [] };
  if (spec.uid) user.uid = spec.uid;
  if (spec.extra) user.extra = spec.extra;
  return answer('SubjectAccessReview', body, spec, authorize(reviewAttributes('SubjectAccessReview', user, spec)));
}

/** POST selfsubjectreviews (authentication.k8s.io/v1): who am I. */
export function selfSubjectReview(user: UserInfo): unknown {
  const userInfo: Record<string, unknown> = { username: user.name, groups: user.groups };
  if (user.uid) userInfo.uid = user.uid;
  if (user.extra) userInfo.extra = user.extra;
  return {
    kind: 'SelfSubjectReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    status: { userInfo },
  };
}
