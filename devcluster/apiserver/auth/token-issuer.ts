// ServiceAccount tokens as kube-apiserver issues them (pkg/serviceaccount/claims.go): JWTs signed
// with the cluster's key, `sub` system:serviceaccount:<ns>:<name>, audiences, expiry and the
// private `kubernetes.io` claim that binds the token to its ServiceAccount (and Pod) by uid.
// Signing and verification are jose's; the key is an EC P-256 pair kept under pki/ so tokens
// survive API server restarts.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';

/** The issuer (and default audience) kube-apiserver uses in a cluster.local cluster. */
export const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** What a token is bound to, besides its ServiceAccount (TokenRequest's boundObjectRef). */
export interface BoundObject {
  kind: 'Pod' | 'Secret' | 'Node';
  name: string;
  uid: string;
}

export interface TokenRequestInput {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  audiences: string[];
  expirationSeconds: number;
  bound?: BoundObject;
}

/** The `kubernetes.io` private claim. */
export interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
  node?: { name: string; uid: string };
}

export interface VerifiedToken {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  bound?: BoundObject;
  audiences: string[];
  expiresAt: number;
}

/** Reads pki/sa.key, or makes it (once) so that restarts keep the tokens already handed out valid. */
export function ensureSigningKey(pkiDir: string): string {
  const path = join(pkiDir, 'sa.key');
  if (!existsSync(path)) {
    mkdirSync(pkiDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return readFileSync(path, 'utf8');
}

export class TokenIssuer {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** kube-apiserver's key id: base64url(sha256(DER of the public key)). */
  readonly keyId: string;

  /** `signingKeyPem` empty: an in-memory key (a server whose tokens need not outlive it). */
  constructor(
    signingKeyPem: string | undefined,
    readonly issuer: string = DEFAULT_ISSUER,
  ) {
    this.privateKey = signingKeyPem
      ? createPrivateKey(signingKeyPem)
      : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    this.publicKey = createPublicKey(this.privateKey);
    this.keyId = createHash('sha256')
      .update(this.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64url');
  }

  /** Signs a token; returns it with its expiry (seconds since the epoch). */
  async issue(t: TokenRequestInput, now = Date.now()): Promise<{ token: string; expiresAt: number }> {
    const iat = Math.floor(now / 1000);
    const exp = iat + t.expirationSeconds;
    const claim: KubernetesClaim = { namespace: t.namespace, serviceaccount: t.serviceAccount };
    if (t.bound) {
      const ref = { name: t.bound.name, uid: t.bound.uid };
      if (t.bound.kind === 'Pod') claim.pod = ref;
      else if (t.bound.kind === 'Secret') claim.secret = ref;
      else claim.node = ref;
    }
    const token = await new SignJWT({ 'kubernetes.io': claim } as unknown as JWTPayload)
      .setProtectedHeader({ alg: 'ES256', kid: this.keyId })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${t.namespace}:${t.serviceAccount.name}`)
      .setAudience(t.audiences)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.privateKey);
    return { token, expiresAt: exp };
  }

  /**
   * Checks signature, issuer, expiry and audience (one of `audiences` must be in the token, as
   * kube-apiserver's --api-audiences). Undefined when the token is not ours or not valid now.
   */
  async verify(token: string, audiences: string[]): Promise<VerifiedToken | undefined> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, {
        issuer: this.issuer,
        audience: audiences,
        algorithms: ['ES256'],
      }));
    } catch {
      return undefined;
    }
    const k = payload['kubernetes.io'] as KubernetesClaim | undefined;
    const sub = payload.sub ?? '';
    if (
      !k?.namespace ||
      !k.serviceaccount?.name ||
      sub !== `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`
    )
      return undefined;
    const out: VerifiedToken = {
      namespace: k.namespace,
      serviceAccount: { name: k.serviceaccount.name, uid: k.serviceaccount.uid },
      audiences: Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [],
      expiresAt: payload.exp ?? 0,
    };
    if (k.pod) out.bound = { kind: 'Pod', ...k.pod };
    else if (k.secret) out.bound = { kind: 'Secret', ...k.secret };
    else if (k.node) out.bound = { kind: 'Node', ...k.node };
    return out;
  }
}
