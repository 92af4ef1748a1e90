// Hubble's TLS Secrets as `cilium install` and the devcluster make them (cdk8s/hubble-tls.ts):
// upstream's names and key layout, a wildcard server certificate per cluster that every node name
// matches, a relay client certificate, both signed by the CA; an earlier CA reused; none when TLS
// is off or the user brings their own; and the agent and relay pods mount them where the
// cilium-config keys and relay's flags point.
import { describe, expect, it } from '@jest/globals';
import { X509Certificate } from 'node:crypto';
import { generateCa, hubbleTlsSecrets, issueCertificate, usableCa } from '../../cdk8s/hubble-tls.js';
import { installObjects } from '../../cdk8s/process-launch.js';
import { resolveValues } from '../../cdk8s/values.js';

const decode = (s: { data: Record<string, string> }, key: string) => Buffer.from(s.data[key]!, 'base64').toString();

describe('Hubble TLS Secrets', () => {
  const secrets = hubbleTlsSecrets(resolveValues({ cluster: { name: 'east' } }), 'cilium');

  it("have upstream's names, types and keys", () => {
    expect(secrets.map((s) => [s.metadata.namespace, s.metadata.name, s.type, Object.keys(s.data).sort()])).toEqual([
      ['cilium', 'cilium-ca', 'Opaque', ['ca.crt', 'ca.key']],
      ['cilium', 'hubble-server-certs', 'kubernetes.io/tls', ['ca.crt', 'tls.crt', 'tls.key']],
      ['cilium', 'hubble-relay-client-certs', 'kubernetes.io/tls', ['ca.crt', 'tls.crt', 'tls.key']],
    ]);
  });

  it("the server certificate names every node of the cluster and no other cluster's; the CA signed both", () => {
    const [caSecret, server, relay] = secrets.map((s) => s);
    const ca = new X509Certificate(decode(caSecret!, 'ca.crt'));
    const s = new X509Certificate(decode(server!, 'tls.crt'));
    const r = new X509Certificate(decode(relay!, 'tls.crt'));
    expect({
      ca: [ca.ca, ca.subject],
      server: [
        s.subjectAltName,
        s.checkHost('node-1.east.hubble-grpc.cilium.io'),
        s.checkHost('x.west.hubble-grpc.cilium.io'),
      ],
      relay: r.subjectAltName,
      signed: [s.verify(ca.publicKey), r.verify(ca.publicKey), s.checkIssued(ca)],
      validDays: Math.round((Date.parse(s.validTo) - Date.now()) / 86_400_000),
    }).toEqual({
      ca: [true, 'CN=Cilium CA'],
      // checkHost answers with the name that matched (the wildcard), undefined for none
      server: ['DNS:*.east.hubble-grpc.cilium.io', '*.east.hubble-grpc.cilium.io', undefined],
      relay: 'DNS:*.hubble-relay.cilium.io',
      signed: [true, true, true],
      validDays: 365,
    });
  });

  it('reuse a usable CA, replace an unusable one', () => {
    const ca = generateCa(10);
    const again = hubbleTlsSecrets(resolveValues(), 'kube-system', ca);
    expect(decode(again[0]!, 'ca.crt')).toBe(ca.cert);
    expect(new X509Certificate(decode(again[1]!, 'tls.crt')).verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    const other = generateCa(10);
    const mismatched = { cert: ca.cert, key: other.key };
    expect([usableCa(ca), usableCa(mismatched), usableCa(issueCertificate(ca, ['x.example'], 1))]).toEqual([
      true,
      false,
      false,
    ]);
    expect(decode(hubbleTlsSecrets(resolveValues(), 'kube-system', mismatched)[0]!, 'ca.crt')).not.toBe(ca.cert);
  });

  it('none when Hubble or its TLS is off or the certificates are the user’s own', () => {
    expect(hubbleTlsSecrets(resolveValues({ hubble: { tls: { enabled: false } } }), 'kube-system')).toEqual([]);
    expect(hubbleTlsSecrets(resolveValues({ hubble: { enabled: false } }), 'kube-system')).toEqual([]);
    expect(hubbleTlsSecrets(resolveValues({ hubble: { tls: { auto: { enabled: false } } } }), 'kube-system')).toEqual(
      [],
    );
  });

  it('installObjects puts them right after the CRDs, before any pod that mounts them', () => {
    const kinds = installObjects().map((o) => `${o.kind}/${o.metadata.name}`);
    const firstSecret = kinds.indexOf('Secret/cilium-ca');
    expect(kinds.slice(firstSecret, firstSecret + 3)).toEqual([
      'Secret/cilium-ca',
      'Secret/hubble-server-certs',
      'Secret/hubble-relay-client-certs',
    ]);
    expect(kinds.slice(0, firstSecret).every((k) => k.startsWith('CustomResourceDefinition/'))).toBe(true);
  });

  it('the agent and relay pods mount them where cilium-config and relay flags point', () => {
    const objects = installObjects();
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'cilium-config')!.data as Record<
      string,
      string
    >;
    type Pod = {
      containers: { name: string; args?: string[]; volumeMounts?: { name: string; mountPath: string }[] }[];
      volumes: {
        name: string;
        projected?: { sources: { secret?: { name: string; items: { key: string; path: string }[] } }[] };
      }[];
    };
    const pod = (kind: string, name: string) =>
      (objects.find((o) => o.kind === kind && o.metadata.name === name)!.spec as { template: { spec: Pod } }).template
        .spec;
    const mounted = (p: Pod, container: string) => {
      const m = p.containers.find((c) => c.name === container)!.volumeMounts!;
      return p.volumes.flatMap((v) =>
        (v.projected?.sources ?? []).flatMap((src) =>
          (src.secret?.items ?? []).map(
            (i) => `${m.find((x) => x.name === v.name)!.mountPath}/${i.path} <- ${src.secret!.name}:${i.key}`,
          ),
        ),
      );
    };
    expect(mounted(pod('DaemonSet', 'cilium'), 'cilium-agent')).toEqual([
      `${cm['hubble-tls-cert-file']} <- hubble-server-certs:tls.crt`,
      `${cm['hubble-tls-key-file']} <- hubble-server-certs:tls.key`,
      `${cm['hubble-tls-client-ca-files']} <- hubble-server-certs:ca.crt`,
    ]);
    expect(cm['hubble-disable-tls']).toBe('false');
    const relay = pod('Deployment', 'hubble-relay');
    const args = relay.containers[0]!.args!;
    const flag = (f: string) => args.find((a) => a.startsWith(`--${f}=`))!.split('=')[1];
    expect(mounted(relay, 'hubble-relay')).toEqual([
      `${flag('tls-hubble-client-cert-file')} <- hubble-relay-client-certs:tls.crt`,
      `${flag('tls-hubble-client-key-file')} <- hubble-relay-client-certs:tls.key`,
      `${flag('tls-hubble-server-ca-files')} <- hubble-relay-client-certs:ca.crt`,
    ]);
  });
});
