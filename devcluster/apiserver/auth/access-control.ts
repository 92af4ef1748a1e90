// The API server's gate: who is asking (authenticator.ts), may they (privileged groups, then
// RBAC), and what was decided (use-recorder.ts). It also owns the TokenIssuer and the bootstrap
// policy it writes at start. With enforcement off, every request runs as the admin and is allowed
// (the benchmark's baseline, and how the devcluster behaved before RBAC).
import type { IncomingMessage } from 'node:http';
import { ApiError, forbiddenRequest, unauthorized } from '../errors.js';
import type { Objects } from '../objects.js';
import { Registry, type ResourceInfo } from '../resources.js';
import type { WatchCache } from '../watchcache.js';
import { requestAttributes, type Attributes } from './attributes.js';
import { Authenticator, type LiveCheck } from './authenticator.js';
import { bootstrapPolicy } from './bootstrap-policy.js';
import { RbacAuthorizer } from './rbac.js';
import { TokenIssuer } from './token-issuer.js';
import { UseRecorder } from './use-recorder.js';
import { ADMIN_USER, ALL_AUTHENTICATED, SYSTEM_MASTERS, type UserInfo } from './user.js';

export interface AccessControlOptions {
  enforce: boolean;
  adminToken?: string;
  signingKey?: string;
  audiences?: string[];
  recordUseFile?: string;
}

const RBAC_KINDS = ['clusterroles', 'clusterrolebindings', 'roles', 'rolebindings'];

export class AccessControl {
  readonly issuer: TokenIssuer;
  readonly audiences: string[];
  readonly rbac: RbacAuthorizer;
  private readonly authn: Authenticator;
  private readonly recorder?: UseRecorder;

  constructor(
    private readonly o: AccessControlOptions,
    private readonly objects: Objects,
    private readonly registry: Registry,
    cache: WatchCache,
  ) {
    this.issuer = new TokenIssuer(o.signingKey);
    this.audiences = o.audiences?.length ? o.audiences : [this.issuer.issuer];
    this.rbac = new RbacAuthorizer(cache);
    const live: LiveCheck = async (kind, ns, name) => {
      const plural = { ServiceAccount: 'serviceaccounts', Pod: 'pods', Secret: 'secrets', Node: 'nodes' }[kind];
      const r = registry.get('', 'v1', plural) as ResourceInfo;
      const kv = await objects.store.get(Registry.key(r, ns || undefined, name));
      return kv && !kv.obj.metadata.deletionTimestamp ? kv.obj.metadata.uid : undefined;
    };
    this.authn = new Authenticator({
      ...(o.adminToken ? { adminToken: o.adminToken } : {}),
      issuer: this.issuer,
      audiences: this.audiences,
      live,
    });
    if (o.recordUseFile) this.recorder = new UseRecorder(o.recordUseFile);
  }

  /** Loads the RBAC objects, then creates the default roles and bindings that are missing. */
  async start(): Promise<void> {
    const items: { key: string; obj: Parameters<RbacAuthorizer['apply']>[1] }[] = [];
    let rev = 0;
    for (const plural of RBAC_KINDS) {
      const r = this.registry.get('rbac.authorization.k8s.io', 'v1', plural) as ResourceInfo;
      const list = await this.objects.list(r, undefined, { selector: { labels: [], fields: [] } });
      rev = Math.max(rev, Number(list.resourceVersion));
      for (const obj of list.items)
        items.push({ key: Registry.key(r, obj.metadata.namespace, obj.metadata.name ?? ''), obj });
    }
    // Lists at different revisions: replaying from the lowest is harmless (apply is idempotent).
    this.rbac.start(items, rev);
    for (const obj of bootstrapPolicy()) {
      const plural = obj.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      const r = this.registry.get('rbac.authorization.k8s.io', 'v1', plural) as ResourceInfo;
      try {
        await this.objects.create(r, undefined, structuredClone(obj));
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409)) throw e;
      }
    }
  }

  stop(): void {
    this.rbac.stop();
  }

  /** Authenticates and authorizes a request; throws the 401 or 403 to send. */
  async admit(req: IncomingMessage, path: string, q: URLSearchParams): Promise<{ user: UserInfo; attrs: Attributes }> {
    if (!this.o.enforce) {
      const user: UserInfo = { name: ADMIN_USER, groups: [SYSTEM_MASTERS, ALL_AUTHENTICATED] };
      return { user, attrs: requestAttributes(user, req.method ?? 'GET', path, q) };
    }
    const who = await this.authn.authenticate(req, path);
    if (!who.ok) throw unauthorized();
    const attrs = requestAttributes(who.user, req.method ?? 'GET', path, q);
    const d = this.authorize(attrs);
    this.recorder?.record(attrs, d.allowed);
    if (!d.allowed) throw forbiddenRequest(attrs, d.reason);
    return { user: who.user, attrs };
  }

  /** kube-apiserver's chain: system:masters first (no reason given), then RBAC. */
  authorize(a: Attributes): { allowed: boolean; reason: string } {
    if (!this.o.enforce || a.user.groups.includes(SYSTEM_MASTERS)) return { allowed: true, reason: '' };
    return this.rbac.authorize(a);
  }
}
