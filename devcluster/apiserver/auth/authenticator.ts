// Authentication as kube-apiserver chains it (https://kubernetes.io/docs/reference/access-authn-authz/authentication/):
// an x509 client certificate signed by the cluster CA (CN = user, O = groups), else a bearer token
// (the kubeconfig's static admin token, else a ServiceAccount JWT). A presented credential that
// does not check out is 401 even where anonymous access would do. Without any credential the request
// is system:anonymous only on the public health and version paths (the structured authentication
// configuration's anonymous `conditions`, KEP-4633); anywhere else it is 401.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { PUBLIC_INFO_URLS } from './bootstrap-policy.js';
import type { TokenIssuer, VerifiedToken } from './token-issuer.js';
import {
  ADMIN_USER,
  ALL_AUTHENTICATED,
  anonymous,
  serviceAccountGroups,
  serviceAccountUsername,
  SYSTEM_MASTERS,
  type UserInfo,
} from './user.js';

/** Whether a bound object (or the ServiceAccount) still exists with this uid; looked up in storage. */
export type LiveCheck = (
  kind: 'ServiceAccount' | 'Pod' | 'Secret' | 'Node',
  namespace: string,
  name: string,
) => Promise<string | undefined>;

export interface AuthenticatorOptions {
  /** The static admin token (kube-apiserver's --token-auth-file with one line), in group system:masters. */
  adminToken?: string;
  issuer: TokenIssuer;
  /** Audiences a token must carry one of (--api-audiences); default the issuer. */
  audiences: string[];
  /** Looks up the uid of a ServiceAccount or bound object (undefined: gone). */
  live: LiveCheck;
  /** How long a verified token's liveness lookup is reused (ms). */
  cacheMs?: number;
}

export type AuthResult = { ok: true; user: UserInfo } | { ok: false };

const ANONYMOUS_PATHS = new Set(PUBLIC_INFO_URLS);

export class Authenticator {
  private readonly verified = new Map<string, { user: UserInfo; until: number; exp: number }>();

  constructor(private readonly o: AuthenticatorOptions) {}

  async authenticate(req: IncomingMessage, path: string): Promise<AuthResult> {
    const cert = clientCertificateUser(req);
    if (cert) return { ok: true, user: cert };
    const h = req.headers.authorization;
    if (h !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
      const user = m ? await this.token(m[1] ?? '') : undefined;
      return user ? { ok: true, user } : { ok: false };
    }
    return ANONYMOUS_PATHS.has(path) ? { ok: true, user: anonymous() } : { ok: false };
  }

  /** The user of a bearer token, or undefined (TokenReview uses it too). */
  async token(token: string): Promise<UserInfo | undefined> {
    if (this.o.adminToken && token === this.o.adminToken)
      return { name: ADMIN_USER, groups: [SYSTEM_MASTERS, ALL_AUTHENTICATED] };
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit && hit.until > now && hit.exp * 1000 > now) return hit.user;
    if (hit) this.verified.delete(token);
    const v = await this.o.issuer.verify(token, this.o.audiences);
    if (!v || !(await this.stillBound(v))) return undefined;
    const user = serviceAccountUser(v);
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(token, { user, until: now + (this.o.cacheMs ?? 10_000), exp: v.expiresAt });
    return user;
  }

  /** kube-apiserver rejects a token whose ServiceAccount or bound object was deleted (or recreated). */
  private async stillBound(v: VerifiedToken): Promise<boolean> {
    if ((await this.o.live('ServiceAccount', v.namespace, v.serviceAccount.name)) !== v.serviceAccount.uid)
      return false;
    if (!v.bound) return true;
    const ns = v.bound.kind === 'Node' ? '' : v.namespace;
    return (await this.o.live(v.bound.kind, ns, v.bound.name)) === v.bound.uid;
  }
}

function serviceAccountUser(v: VerifiedToken): UserInfo {
  const user: UserInfo = {
    name: serviceAccountUsername(v.namespace, v.serviceAccount.name),
    uid: v.serviceAccount.uid,
    groups: serviceAccountGroups(v.namespace),
  };
  if (v.bound?.kind === 'Pod')
    user.extra = {
      'authentication.kubernetes.io/pod-name': [v.bound.name],
      'authentication.kubernetes.io/pod-uid': [v.bound.uid],
    };
  return user;
}

/** CN and O of a client certificate the TLS layer verified against the cluster CA. */
export function clientCertificateUser(req: IncomingMessage): UserInfo | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  if (!cn) return undefined;
  const name = Array.isArray(cn) ? (cn[0] ?? '') : cn;
  const o = cert.subject.O;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { name, groups: [...groups, ALL_AUTHENTICATED] };
}
