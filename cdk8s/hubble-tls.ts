// Hubble's TLS Secrets as the install makes them (upstream: cilium-cli's Hubble keys and the Helm
// chart's `hubble.tls.auto.method=helm`): a CA in `cilium-ca`, the agents' server certificate in
// `hubble-server-certs` (one wildcard for every node: `*.<cluster>.hubble-grpc.cilium.io`) and
// relay's client certificate in `hubble-relay-client-certs`. `cilium install` and the devcluster
// generate them at install time; the chart generates them at render time with Helm's genCA and
// genSignedCert (HUBBLE_TLS_HELM_TEMPLATE). They are never part of dist/ or deploy/: a key
// committed to a repository would be everyone's.
//
// RSA 2048 and SHA-256 as Helm's genCA/genSignedCert; node-forge lays out the certificates,
// node:crypto makes the keys and the signatures (native: fast).
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import type { Values } from './values.js';

export const CA_SECRET = 'cilium-ca';
export const SERVER_SECRET = 'hubble-server-certs';
export const RELAY_CLIENT_SECRET = 'hubble-relay-client-certs';
/** The CA's common name (upstream's `cilium.ca.setup`). */
export const CA_COMMON_NAME = 'Cilium CA';
/** Relay's client certificate name (upstream: `*.hubble-relay.cilium.io`). */
export const RELAY_CLIENT_NAME = '*.hubble-relay.cilium.io';

/** The server certificate's name: one wildcard for every node of the cluster (dots → dashes). */
export function hubbleServerWildcard(cluster: string): string {
  return `*.${cluster.replace(/\./g, '-')}.hubble-grpc.cilium.io`;
}

/** A certificate and its key, PEM. */
export interface KeyPair {
  cert: string;
  key: string;
}

const DAY_MS = 86_400_000;

interface Key {
  /** PKCS#1 PEM, for node:crypto and the Secret */
  pem: string;
  publicKey: forge.pki.rsa.PublicKey;
}

function newKey(): Key {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { pem: privateKey, publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey };
}

/** A positive 128-bit serial (RFC 5280 asks for at most 20 octets, positive). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  return b.toString('hex');
}

function certificate(
  subjectCn: string,
  key: Key,
  validityDays: number,
  extensions: object[],
  issuer?: { cert: forge.pki.Certificate; keyPem: string },
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = key.publicKey;
  c.serialNumber = serial();
  // a minute back: clocks of the nodes that check it may lag the one that made it
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + validityDays * DAY_MS);
  c.setSubject([{ name: 'commonName', value: subjectCn }]);
  c.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: subjectCn }]);
  c.setExtensions(extensions);
  // forge lays out the certificate; node:crypto signs it (forge's own RSA is pure JS: ~10x slower)
  const oid = forge.pki.oids.sha256WithRSAEncryption!;
  c.signatureOid = oid;
  (c as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = oid;
  const tbs = (
    forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
  ).getTBSCertificate(c);
  (c as unknown as { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  c.signature = sign('sha256', der, issuer?.keyPem ?? key.pem).toString('binary');
  return c;
}

/** A self-signed CA valid for `validityDays`. */
export function generateCa(validityDays: number, commonName = CA_COMMON_NAME): KeyPair {
  const key = newKey();
  const cert = certificate(commonName, key, validityDays, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/**
 * A leaf certificate signed by `ca` for `dnsNames` (the first is also the common name), usable
 * for server and client authentication (as upstream's certgen issues the Hubble server's).
 */
export function issueCertificate(ca: KeyPair, dnsNames: readonly string[], validityDays: number): KeyPair {
  if (dnsNames.length === 0) throw new Error('a certificate needs at least one DNS name');
  const issuerCert = forge.pki.certificateFromPem(ca.cert);
  const key = newKey();
  const cert = certificate(
    dnsNames[0]!,
    key,
    validityDays,
    [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
    ],
    { cert: issuerCert, keyPem: ca.key },
  );
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** Whether `pair` is a CA certificate with its key that can still sign (not expired in a day). */
export function usableCa(pair: KeyPair): boolean {
  try {
    const x = new X509Certificate(pair.cert);
    if (!x.ca || Date.parse(x.validTo) < Date.now() + DAY_MS) return false;
    return x.checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return false;
  }
}

type Secret = {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  type: string;
  data: Record<string, string>;
};

const b64 = (s: string) => Buffer.from(s).toString('base64');
const LABELS = { 'app.kubernetes.io/part-of': 'cilium-ts', 'app.kubernetes.io/component': 'hubble-tls' };

/**
 * The Secrets of Hubble's mTLS for these values: none when Hubble or its TLS is off or the user
 * brings their own (`hubble.tls.auto.enabled=false`). `ca` reuses an existing CA (an upgrade keeps
 * the CA the running relays trust); otherwise a new one is made.
 */
export function hubbleTlsSecrets(v: Values, namespace: string, ca?: KeyPair): Secret[] {
  if (!v.hubble.enabled || !v.hubble.tls.enabled || !v.hubble.tls.auto.enabled) return [];
  const days = v.hubble.tls.auto.certValidityDuration;
  const theCa = ca && usableCa(ca) ? ca : generateCa(days);
  const server = issueCertificate(theCa, [hubbleServerWildcard(v.cluster.name)], days);
  const relay = issueCertificate(theCa, [RELAY_CLIENT_NAME], days);
  const meta = (name: string) => ({ name, namespace, labels: { ...LABELS } });
  const tls = (name: string, pair: KeyPair): Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(name),
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(theCa.cert), 'tls.crt': b64(pair.cert), 'tls.key': b64(pair.key) },
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(CA_SECRET),
      type: 'Opaque',
      data: { 'ca.crt': b64(theCa.cert), 'ca.key': b64(theCa.key) },
    },
    tls(SERVER_SECRET, server),
    tls(RELAY_CLIENT_SECRET, relay),
  ];
}

/** The same Secrets without content (generating keys takes a while): enough to find or delete them. */
export function hubbleTlsSecretNames(v: Values, namespace: string): Omit<Secret, 'data' | 'type'>[] {
  if (!v.hubble.enabled || !v.hubble.tls.enabled || !v.hubble.tls.auto.enabled) return [];
  return [CA_SECRET, SERVER_SECRET, RELAY_CLIENT_SECRET].map((name) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { ...LABELS } },
  }));
}

/**
 * The same three Secrets as a Helm template (upstream templates/hubble/tls-helm/): the CA of an
 * earlier release is looked up and reused, else genCA makes one; genSignedCert issues the others
 * at every install and upgrade.
 */
export const HUBBLE_TLS_HELM_TEMPLATE = `{{- if and .Values.hubble.enabled .Values.hubble.tls.enabled .Values.hubble.tls.auto.enabled (eq .Values.hubble.tls.auto.method "helm") }}
{{- $days := .Values.hubble.tls.auto.certValidityDuration | int }}
{{- $old := lookup "v1" "Secret" .Release.Namespace "${CA_SECRET}" }}
{{- $ca := "" }}
{{- if and $old $old.data (index $old.data "ca.crt") (index $old.data "ca.key") }}
{{- $ca = buildCustomCert (index $old.data "ca.crt") (index $old.data "ca.key") }}
{{- else }}
{{- $ca = genCA "${CA_COMMON_NAME}" $days }}
{{- end }}
{{- $serverName := printf "*.%s.hubble-grpc.cilium.io" (.Values.cluster.name | replace "." "-") }}
{{- $server := genSignedCert $serverName nil (list $serverName) $days $ca }}
{{- $relay := genSignedCert "${RELAY_CLIENT_NAME}" nil (list "${RELAY_CLIENT_NAME}") $days $ca }}
---
apiVersion: v1
kind: Secret
metadata:
  name: ${CA_SECRET}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/part-of: cilium-ts
    app.kubernetes.io/component: hubble-tls
type: Opaque
data:
  ca.crt: {{ $ca.Cert | b64enc }}
  ca.key: {{ $ca.Key | b64enc }}
---
apiVersion: v1
kind: Secret
metadata:
  name: ${SERVER_SECRET}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/part-of: cilium-ts
    app.kubernetes.io/component: hubble-tls
type: kubernetes.io/tls
data:
  ca.crt: {{ $ca.Cert | b64enc }}
  tls.crt: {{ $server.Cert | b64enc }}
  tls.key: {{ $server.Key | b64enc }}
---
apiVersion: v1
kind: Secret
metadata:
  name: ${RELAY_CLIENT_SECRET}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/part-of: cilium-ts
    app.kubernetes.io/component: hubble-tls
type: kubernetes.io/tls
data:
  ca.crt: {{ $ca.Cert | b64enc }}
  tls.crt: {{ $relay.Cert | b64enc }}
  tls.key: {{ $relay.Key | b64enc }}
{{- end }}
`;
