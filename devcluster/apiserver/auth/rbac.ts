// The RBAC authorizer (plugin/pkg/auth/authorizer/rbac/rbac.go, rbac/v1 evaluation_helpers.go):
// allow when any rule of any role bound to the user, one of its groups or its ServiceAccount
// matches; there are no deny rules, so a miss is "no opinion" and the request is forbidden.
// ClusterRoleBindings apply everywhere, RoleBindings in their namespace (and may point at a
// ClusterRole). Aggregated ClusterRoles (aggregationRule) are the union of the ClusterRoles their
// selectors match, as the clusterrole-aggregation controller would write them. Roles and bindings
// come from the watch cache, so a change applies with the next request.
import type { KubeObject } from '../store.js';
import type { CacheEvent, WatchCache } from '../watchcache.js';
import type { Attributes } from './attributes.js';
import type { UserInfo } from './user.js';

export interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: 'User' | 'Group' | 'ServiceAccount' | string;
  name: string;
  namespace?: string;
}

interface RoleRef {
  kind: 'Role' | 'ClusterRole' | string;
  name: string;
}

interface Binding {
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  name: string;
  namespace: string;
  roleRef: RoleRef;
  subjects: Subject[];
}

interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

interface ClusterRole {
  labels: Record<string, string>;
  rules: PolicyRule[];
  aggregationSelectors?: LabelSelector[];
}

export type Decision = { allowed: true; reason: string } | { allowed: false; reason: string };

// ---- rule matching (evaluation_helpers.go) ----------------------------------------------------

const has = (list: string[] | undefined, v: string): boolean => !!list && (list.includes('*') || list.includes(v));

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    // `*/status` matches the status of every resource; `pods/*` is literal.
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** Whether one rule allows the request. */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.isResourceRequest) return nonResourceURLMatches(rule, a.path);
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(a.name);
}

/** Whether a binding's subject is this user (rbac.go appliesToUser). */
export function subjectMatches(user: UserInfo, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.name === s.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return !!ns && user.name === `system:serviceaccount:${ns}:${s.name}`;
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${JSON.stringify(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${JSON.stringify(s.name)}`;
}

function describeBinding(b: Binding, s: Subject): string {
  const ref = `${b.roleRef.kind} ${JSON.stringify(b.roleRef.name)}`;
  if (b.kind === 'ClusterRoleBinding')
    return `ClusterRoleBinding ${JSON.stringify(b.name)} of ${ref} to ${describeSubject(s, '')}`;
  return `RoleBinding ${JSON.stringify(`${b.name}/${b.namespace}`)} of ${ref} to ${describeSubject(s, b.namespace)}`;
}

export function selectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const v = labels[e.key];
    const vals = e.values ?? [];
    if (e.operator === 'In' && (v === undefined || !vals.includes(v))) return false;
    if (e.operator === 'NotIn' && v !== undefined && vals.includes(v)) return false;
    if (e.operator === 'Exists' && v === undefined) return false;
    if (e.operator === 'DoesNotExist' && v !== undefined) return false;
  }
  return true;
}

// ---- the index --------------------------------------------------------------------------------

const PREFIXES = {
  roles: '/registry/roles/',
  rolebindings: '/registry/rolebindings/',
  clusterroles: '/registry/clusterroles/',
  clusterrolebindings: '/registry/clusterrolebindings/',
} as const;

const rulesOf = (o: KubeObject): PolicyRule[] => (Array.isArray(o.rules) ? (o.rules as PolicyRule[]) : []);

function toBinding(o: KubeObject, kind: Binding['kind']): Binding {
  return {
    kind,
    name: o.metadata.name ?? '',
    namespace: o.metadata.namespace ?? '',
    roleRef: (o.roleRef ?? { kind: '', name: '' }) as RoleRef,
    subjects: Array.isArray(o.subjects) ? (o.subjects as Subject[]) : [],
  };
}

/** The four RBAC kinds as the watch cache shows them, and the decisions over them. */
export class RbacAuthorizer {
  private readonly roles = new Map<string, PolicyRule[]>();
  private readonly clusterRoles = new Map<string, ClusterRole>();
  private readonly roleBindings = new Map<string, Binding>();
  private readonly clusterRoleBindings = new Map<string, Binding>();
  private readonly sub = { prefix: '/registry/', onEvent: (e: CacheEvent) => this.onEvent(e) };

  constructor(private readonly cache?: WatchCache) {}

  /** Seeds from lists taken at revision `rev` and follows the cache from there. */
  start(objects: { key: string; obj: KubeObject }[], rev: number): void {
    for (const o of objects) this.apply(o.key, o.obj, false);
    for (const e of this.cache?.subscribe(this.sub, rev) ?? []) this.onEvent(e);
  }

  stop(): void {
    this.cache?.unsubscribe(this.sub);
  }

  private onEvent(e: CacheEvent): void {
    if (e.key.startsWith('/registry/role') || e.key.startsWith('/registry/clusterrole'))
      this.apply(e.key, e.obj, e.type === 'DELETED');
  }

  /** Adds, replaces or removes one object by its etcd key (also used by unit tests without a cache). */
  apply(key: string, obj: KubeObject, deleted: boolean): void {
    const id = key.slice(key.indexOf('/', '/registry/'.length) + 1);
    if (key.startsWith(PREFIXES.roles)) {
      if (deleted) this.roles.delete(id);
      else this.roles.set(id, rulesOf(obj));
    } else if (key.startsWith(PREFIXES.rolebindings)) {
      if (deleted) this.roleBindings.delete(id);
      else this.roleBindings.set(id, toBinding(obj, 'RoleBinding'));
    } else if (key.startsWith(PREFIXES.clusterroles)) {
      if (deleted) this.clusterRoles.delete(id);
      else {
        const agg = (obj.aggregationRule as { clusterRoleSelectors?: LabelSelector[] } | undefined)
          ?.clusterRoleSelectors;
        this.clusterRoles.set(id, {
          labels: obj.metadata.labels ?? {},
          rules: rulesOf(obj),
          ...(agg ? { aggregationSelectors: agg } : {}),
        });
      }
    } else if (key.startsWith(PREFIXES.clusterrolebindings)) {
      if (deleted) this.clusterRoleBindings.delete(id);
      else this.clusterRoleBindings.set(id, toBinding(obj, 'ClusterRoleBinding'));
    }
  }

  /** A ClusterRole's effective rules: its own, or for an aggregated one the union of those it selects. */
  private clusterRoleRules(name: string, seen = new Set<string>()): PolicyRule[] | undefined {
    const cr = this.clusterRoles.get(name);
    if (!cr) return undefined;
    if (!cr.aggregationSelectors) return cr.rules;
    seen.add(name);
    const out: PolicyRule[] = [];
    for (const [other, o] of this.clusterRoles) {
      if (seen.has(other) || !cr.aggregationSelectors.some((s) => selectorMatches(s, o.labels))) continue;
      // an aggregated role aggregated in turn (edit into admin) contributes what it aggregates
      out.push(...(this.clusterRoleRules(other, seen) ?? []));
    }
    return out;
  }

  private roleRules(b: Binding): { rules?: PolicyRule[]; error?: string } {
    if (b.roleRef.kind === 'ClusterRole') {
      const rules = this.clusterRoleRules(b.roleRef.name);
      return rules
        ? { rules }
        : { error: `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(b.roleRef.name)} not found` };
    }
    const rules = this.roles.get(`${b.namespace}/${b.roleRef.name}`);
    return rules ? { rules } : { error: `role.rbac.authorization.k8s.io ${JSON.stringify(b.roleRef.name)} not found` };
  }

  /**
   * rbac.go Authorize: "RBAC: allowed by <binding>" on a match; otherwise no opinion, with the
   * resolution errors met on the way ("RBAC: [...]") as the reason.
   */
  authorize(a: Attributes): Decision {
    const errors: string[] = [];
    const visit = (b: Binding): string | undefined => {
      const subject = b.subjects.find((s) => subjectMatches(a.user, s, b.namespace));
      if (!subject) return undefined;
      const { rules, error } = this.roleRules(b);
      if (error) errors.push(error);
      if (rules?.some((r) => ruleAllows(a, r))) return `RBAC: allowed by ${describeBinding(b, subject)}`;
      return undefined;
    };
    for (const b of this.clusterRoleBindings.values()) {
      const r = visit(b);
      if (r) return { allowed: true, reason: r };
    }
    if (a.namespace) {
      for (const b of this.roleBindings.values()) {
        if (b.namespace !== a.namespace) continue;
        const r = visit(b);
        if (r) return { allowed: true, reason: r };
      }
    }
    const reason =
      errors.length === 0 ? '' : errors.length === 1 ? `RBAC: ${errors[0]}` : `RBAC: [${errors.join(', ')}]`;
    return { allowed: false, reason };
  }
}
