// The TokenRequest API: POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token
// (https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-request-v1/):
// a signed token for the ServiceAccount, with the audiences and lifetime asked for, optionally bound
// to a Pod, Secret or Node whose uid must still match (pkg/registry/core/serviceaccount/storage/token.go).
import { ApiError, ApiServerErrorCode, badRequest, fieldError, invalid, notFound } from '../errors.js';
import type { Objects } from '../objects.js';
import type { Registry, ResourceInfo } from '../resources.js';
import type { TokenIssuer, BoundObject } from './token-issuer.js';

export interface TokenRequestBody {
  apiVersion?: string;
  kind?: string;
  metadata?: Record<string, unknown>;
  spec?: {
    audiences?: string[];
    expirationSeconds?: number;
    boundObjectRef?: { kind?: string; apiVersion?: string; name?: string; uid?: string };
  };
}

export interface TokenRequestLimits {
  /** Shortest lifetime accepted (kube-apiserver: 600 s). */
  minSeconds: number;
  /** Longest lifetime handed out; longer requests are cut to it (--service-account-max-token-expiration). */
  maxSeconds: number;
  /** Audiences when the request names none (--api-audiences). */
  audiences: string[];
}

const BOUND_KINDS: Record<string, { plural: string; namespaced: boolean }> = {
  Pod: { plural: 'pods', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  Node: { plural: 'nodes', namespaced: false },
};

/** Serves one TokenRequest; returns the TokenRequest object with status {token, expirationTimestamp}. */
export async function createToken(
  deps: { objects: Objects; registry: Registry; issuer: TokenIssuer; limits: TokenRequestLimits },
  namespace: string,
  name: string,
  body: TokenRequestBody | undefined,
): Promise<Record<string, unknown>> {
  if (!body || typeof body !== 'object') throw badRequest('the request body must be a TokenRequest');
  const spec = body.spec ?? {};
  const causes = [];
  const expirationSeconds = spec.expirationSeconds ?? 3600;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < deps.limits.minSeconds)
    causes.push(
      fieldError.invalid(
        'spec.expirationSeconds',
        expirationSeconds,
        `may not specify a duration less than ${deps.limits.minSeconds === 600 ? '10 minutes' : `${deps.limits.minSeconds} seconds`}`,
      ),
    );
  if (expirationSeconds > 2 ** 32)
    causes.push(
      fieldError.invalid(
        'spec.expirationSeconds',
        expirationSeconds,
        'may not specify a duration larger than 2^32 seconds',
      ),
    );
  const ref = spec.boundObjectRef;
  if (ref && !(ref.kind && ref.kind in BOUND_KINDS))
    causes.push(fieldError.notSupported('spec.boundObjectRef.kind', ref.kind ?? '', Object.keys(BOUND_KINDS)));
  if (causes.length) throw invalid('TokenRequest', 'authentication.k8s.io', name, causes);

  const sa = await deps.objects.get(deps.registry.get('', 'v1', 'serviceaccounts') as ResourceInfo, namespace, name);
  let bound: BoundObject | undefined;
  if (ref?.kind && ref.name) {
    const k = BOUND_KINDS[ref.kind] as { plural: string; namespaced: boolean };
    const obj = await deps.objects.get(
      deps.registry.get('', 'v1', k.plural) as ResourceInfo,
      k.namespaced ? namespace : undefined,
      ref.name,
    );
    const uid = obj.metadata.uid ?? '';
    if (ref.uid && ref.uid !== uid)
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${k.plural} "${ref.name}": the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        ApiServerErrorCode.Conflict,
        { name: ref.name, kind: k.plural },
      );
    bound = { kind: ref.kind as BoundObject['kind'], name: ref.name, uid };
  } else if (ref) throw notFound(BOUND_KINDS[ref.kind ?? '']?.plural ?? '', '', '');

  const audiences = spec.audiences?.length ? spec.audiences : deps.limits.audiences;
  const seconds = Math.min(expirationSeconds, deps.limits.maxSeconds);
  const { token, expiresAt } = await deps.issuer.issue({
    namespace,
    serviceAccount: { name, uid: sa.metadata.uid ?? '' },
    audiences,
    expirationSeconds: seconds,
    ...(bound ? { bound } : {}),
  });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: null },
    spec: {
      audiences,
      expirationSeconds: seconds,
      boundObjectRef: bound ? { kind: bound.kind, apiVersion: 'v1', name: bound.name, uid: bound.uid } : null,
    },
    status: { token, expirationTimestamp: new Date(expiresAt * 1000).toISOString().replace(/\.\d+Z$/, 'Z') },
  };
}
