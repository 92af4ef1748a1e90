// The proposed change: policies to apply (as `kubectl apply -f` would send them) and policies to
// delete. Objects are checked as the API server and the agents would check them — the CRD schema
// with kubectl's strict unknown-field check, then upstream's semantic checks — and refused with
// every field path, so nothing is simulated from a policy the cluster would not take.
import { validateObject } from '../crds/validate.js';
import { CrdErrorCode, type CrdValidationError } from '../crds/errors.js';
import { policyKey, translatePolicy, type PolicyObject } from '../policy/index.js';
import { WhatIfError, WhatIfErrorCode } from './errors.js';

export type PolicyKind = PolicyObject['kind'];

/** A policy to delete: kind, namespace (not for CCNP) and name. */
export interface PolicyRef {
  readonly kind: PolicyKind;
  readonly namespace?: string;
  readonly name: string;
}

export interface ProposedChanges {
  readonly apply?: readonly PolicyObject[];
  readonly delete?: readonly PolicyRef[];
}

/** One refused object, with kubectl's wording. */
export interface InvalidObject {
  readonly kind: string;
  readonly name: string;
  /** Where it came from (a file name), when known. */
  readonly origin?: string;
  readonly errors: readonly CrdValidationError[];
}

const GROUP: Record<PolicyKind, string> = {
  CiliumNetworkPolicy: 'cilium.io',
  CiliumClusterwideNetworkPolicy: 'cilium.io',
  NetworkPolicy: 'networking.k8s.io',
};

/** kubectl's resource names and short names → kind. */
const KIND_ALIASES: Record<string, PolicyKind> = {
  cnp: 'CiliumNetworkPolicy',
  ciliumnetworkpolicy: 'CiliumNetworkPolicy',
  ciliumnetworkpolicies: 'CiliumNetworkPolicy',
  ccnp: 'CiliumClusterwideNetworkPolicy',
  ciliumclusterwidenetworkpolicy: 'CiliumClusterwideNetworkPolicy',
  ciliumclusterwidenetworkpolicies: 'CiliumClusterwideNetworkPolicy',
  netpol: 'NetworkPolicy',
  networkpolicy: 'NetworkPolicy',
  networkpolicies: 'NetworkPolicy',
};

/** "The CiliumNetworkPolicy "x" is invalid: …", as kubectl prints a 422 (one line per cause). */
export function formatInvalid(o: InvalidObject): string {
  const kind = `${o.kind}${GROUP[o.kind as PolicyKind] ? `.${GROUP[o.kind as PolicyKind]}` : ''}`;
  const head = `${o.origin ? `error when applying "${o.origin}": ` : ''}${kind} "${o.name}" is invalid`;
  const causes = o.errors.map(
    (e) => `${e.field || '<root>'}: ${e.message}${e.stage === 'semantic' ? ' (refused by the agents)' : ''}`,
  );
  return causes.length === 1 ? `${head}: ${causes[0]}` : `${head}:\n${causes.map((c) => `* ${c}`).join('\n')}`;
}

function networkPolicyErrors(p: PolicyObject): CrdValidationError[] {
  // NetworkPolicy is built in: the API server checks peers and ports; translation finds the same faults.
  return translatePolicy(p).problems.map((pr) => ({
    code: CrdErrorCode.Schema,
    field: pr.field,
    message: pr.message,
    stage: 'schema',
  }));
}

/**
 * Checks proposed objects (parsed YAML/JSON documents, `List`s unpacked); `defaultNamespace` fills a
 * namespaced object without one, as kubectl does. Returns the policies, or throws a WhatIfError
 * listing every invalid object.
 */
export function checkProposed(
  docs: readonly { readonly object: unknown; readonly origin?: string }[],
  defaultNamespace = 'default',
): PolicyObject[] {
  const out: PolicyObject[] = [];
  const invalid: InvalidObject[] = [];
  const foreign: string[] = [];
  const expand = (d: { object: unknown; origin?: string }): { object: unknown; origin?: string }[] => {
    const o = d.object as { kind?: string; items?: unknown[] } | null;
    return o?.kind === 'List' && Array.isArray(o.items) ? o.items.map((object) => ({ object, origin: d.origin })) : [d];
  };
  for (const { object, origin } of docs.flatMap(expand)) {
    if (object === null || object === undefined) continue;
    const o = object as { kind?: string; metadata?: { name?: string; namespace?: string } };
    const kind = o.kind as PolicyKind;
    if (!GROUP[kind]) {
      foreign.push(`${origin ? `${origin}: ` : ''}${o.kind ?? '(no kind)'} ${o.metadata?.name ?? ''}`.trim());
      continue;
    }
    const obj = JSON.parse(JSON.stringify(object)) as { metadata?: { name?: string; namespace?: string } };
    obj.metadata ??= {};
    if (kind !== 'CiliumClusterwideNetworkPolicy') obj.metadata.namespace ??= defaultNamespace;
    const p = { kind, object: obj } as PolicyObject;
    const errors: CrdValidationError[] = [];
    if (!obj.metadata.name)
      errors.push({ code: CrdErrorCode.Schema, field: 'metadata.name', message: 'Required value', stage: 'schema' });
    errors.push(...(kind === 'NetworkPolicy' ? networkPolicyErrors(p) : validateObject(kind, obj)));
    if (errors.length) invalid.push({ kind, name: obj.metadata.name ?? '', origin, errors });
    else out.push(p);
  }
  if (foreign.length)
    throw new WhatIfError(
      WhatIfErrorCode.BadInput,
      `what-if takes CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and NetworkPolicy only; found ${foreign.join(', ')}`,
    );
  if (invalid.length)
    throw Object.assign(new WhatIfError(WhatIfErrorCode.InvalidPolicy, invalid.map(formatInvalid).join('\n')), {
      invalid,
    });
  return out;
}

/** The engine's key of a policy object or reference. */
export function keyOf(p: PolicyObject | PolicyRef): string {
  if ('object' in p) return policyKey(p.kind, p.object.metadata?.namespace, p.object.metadata?.name ?? '');
  return policyKey(p.kind, p.namespace, p.name);
}

/**
 * Resolves a `--delete` argument, `[KIND/][NAMESPACE/]NAME` (KIND as kubectl spells it: cnp, ccnp,
 * netpol, …), against the cluster's policies. Without a kind, the name must match exactly one.
 */
export function resolveDelete(arg: string, policies: readonly PolicyObject[], defaultNamespace = 'default'): PolicyRef {
  const parts = arg.split('/');
  const kind = parts.length > 1 ? KIND_ALIASES[parts[0]!.toLowerCase()] : undefined;
  if (kind) parts.shift();
  if (parts.length > 2 || parts.some((p) => !p))
    throw new WhatIfError(WhatIfErrorCode.BadInput, `--delete ${arg}: want [KIND/][NAMESPACE/]NAME`);
  const name = parts.pop()!;
  const namespace = parts[0] ?? defaultNamespace;
  const hits = policies.filter(
    (p) =>
      (!kind || p.kind === kind) &&
      p.object.metadata?.name === name &&
      (p.kind === 'CiliumClusterwideNetworkPolicy' || p.object.metadata?.namespace === namespace),
  );
  if (hits.length === 0)
    throw new WhatIfError(
      WhatIfErrorCode.NotFound,
      `--delete ${arg}: no ${kind ?? 'policy'} "${name}"${kind === 'CiliumClusterwideNetworkPolicy' ? '' : ` in namespace "${namespace}"`}`,
    );
  if (hits.length > 1)
    throw new WhatIfError(
      WhatIfErrorCode.NotFound,
      `--delete ${arg}: several policies are named "${name}" (${hits.map((h) => h.kind).join(', ')}); name the kind, e.g. cnp/${name}`,
    );
  const hit = hits[0]!;
  return {
    kind: hit.kind,
    name,
    ...(hit.kind === 'CiliumClusterwideNetworkPolicy' ? {} : { namespace: hit.object.metadata?.namespace }),
  };
}
