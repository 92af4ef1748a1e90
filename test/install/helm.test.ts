// The Helm chart: `helm lint` passes, `helm template` with the defaults is dist/install.yaml, and
// non-default values give exactly the manifests the cdk8s constructs build for the same values.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { installManifests } from '../../cdk8s/install-chart.js';
import { type ValuesOverride, valueLeaves } from '../../cdk8s/values.js';
import { type KubeObject, byKey, parseManifests, validateObject } from './kube-schema.js';
import { REPO, run, runOk } from './tools.js';

const CHART = join(REPO, 'charts', 'cilium-ts');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-helm-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const DIGEST = `sha256:${'d'.repeat(64)}`;

let n = 0;
function template(values: ValuesOverride = {}, namespace = 'kube-system'): KubeObject[] {
  const file = join(tmp, `values-${n++}.yaml`);
  writeFileSync(file, stringify(values));
  return parseManifests(
    runOk('helm', ['template', 'cilium-ts', CHART, '--namespace', namespace, '--include-crds', '-f', file]),
  );
}
/** The Secrets Helm generates at render time (genCA/genSignedCert): random, so compared on their own. */
const TLS_SECRETS = ['cilium-ca', 'hubble-relay-client-certs', 'hubble-server-certs'];
const isTlsSecret = (o: KubeObject) => o.kind === 'Secret' && TLS_SECRETS.includes(String(o.metadata?.name));
const withoutTlsSecrets = (objs: KubeObject[]) => objs.filter((o) => !isTlsSecret(o));
const synth = (values: ValuesOverride = {}, namespace = 'kube-system') =>
  installManifests(values, namespace).map((m) => m.object as KubeObject);

/** "Kind ns/name: a.b.c" for every field where two object sets differ, or "Kind ns/name: added|removed". */
function diff(a: KubeObject[], b: KubeObject[]): string[] {
  const ma = byKey(a);
  const mb = byKey(b);
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, prefix: string, path: string) => {
    const bothObjects =
      typeof x === 'object' &&
      x !== null &&
      typeof y === 'object' &&
      y !== null &&
      Array.isArray(x) === Array.isArray(y);
    if (bothObjects) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)]))
        walk((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], prefix, path ? `${path}.${k}` : k);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${prefix}: ${path}`);
  };
  for (const k of [...new Set([...ma.keys(), ...mb.keys()])].sort()) {
    if (!ma.has(k) || !mb.has(k)) out.push(`${k}: ${ma.has(k) ? 'removed' : 'added'}`);
    else walk(ma.get(k), mb.get(k), k, '');
  }
  return out;
}

describe('Helm chart charts/cilium-ts', () => {
  it('helm lint passes', () => {
    const r = run('helm', ['lint', CHART, '--strict']);
    expect({ status: r.status, out: r.stdout.match(/\d+ chart\(s\) failed/)?.[0] }).toEqual({
      status: 0,
      out: '0 chart(s) failed',
    });
  });

  it('helm template with the defaults equals dist/install.yaml', () => {
    const dist = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
    const all = template();
    expect(
      all
        .filter(isTlsSecret)
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(TLS_SECRETS);
    const rendered = withoutTlsSecrets(all);
    expect([...byKey(rendered).keys()]).toEqual([...byKey(dist).keys()]);
    expect(diff(dist, rendered)).toEqual([]);
  });

  it('a few non-default values change exactly the expected fields', () => {
    const values: ValuesOverride = {
      operator: { replicas: 3 },
      image: { tag: 'v9.9.9' },
      hubble: { relay: { enabled: false } },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.100.0.0/16', '10.101.0.0/16'] } },
    };
    const changed = withoutTlsSecrets(template(values));
    // both sides in code-unit order (diff's own order puts "cilium:" before "cilium-l7proxy:")
    expect(diff(withoutTlsSecrets(template()), changed).sort()).toEqual(
      [
        'ConfigMap kube-system/cilium-config: data.cluster-pool-ipv4-cidr',
        // the native-routing CIDR defaults to the pool's first CIDR
        'ConfigMap kube-system/cilium-config: data.ipv4-native-routing-cidr',
        'DaemonSet kube-system/cilium: spec.template.spec.containers.0.image',
        // mount-bpf-fs, mount-cgroup and install-cni all run the agent image
        'DaemonSet kube-system/cilium: spec.template.spec.initContainers.0.image',
        'DaemonSet kube-system/cilium: spec.template.spec.initContainers.1.image',
        'DaemonSet kube-system/cilium: spec.template.spec.initContainers.2.image',
        // the L7 proxies' DaemonSet (externalL7Proxy, on by default) runs the agent image too
        'DaemonSet kube-system/cilium-l7proxy: spec.template.spec.containers.0.image',
        'Deployment kube-system/cilium-operator: spec.replicas',
        'Deployment kube-system/hubble-relay: removed',
        'PodDisruptionBudget kube-system/hubble-relay: removed',
        'Service kube-system/hubble-relay: removed',
        'ServiceAccount kube-system/hubble-relay: removed',
        // hubble-ui reads from relay: it goes with it
        'ClusterRole /hubble-ui: removed',
        'ClusterRoleBinding /hubble-ui: removed',
        'Deployment kube-system/hubble-ui: removed',
        'Service kube-system/hubble-ui: removed',
        'ServiceAccount kube-system/hubble-ui: removed',
      ].sort(),
    );
    expect(diff(synth(values), changed)).toEqual([]);
    const cm = byKey(changed).get('ConfigMap kube-system/cilium-config')!;
    expect((cm.data as Record<string, string>)['cluster-pool-ipv4-cidr']).toBe('10.100.0.0/16 10.101.0.0/16');
  });

  it('every value reaches the manifests the same way through Helm and through cdk8s', () => {
    const values: ValuesOverride = {
      image: {
        repository: 'registry.example/cilium',
        tag: 'dev',
        pullPolicy: 'Always',
        digest: DIGEST,
        useDigest: true,
      },
      imagePullSecrets: [{ name: 'regcred' }, { name: 'mirror' }],
      debug: { enabled: true },
      cluster: { name: 'east', id: 7 },
      identityAllocationMode: 'kvstore',
      policyEnforcementMode: 'always',
      ipv4: { enabled: true },
      ipv6: { enabled: true },
      routingMode: 'tunnel',
      autoDirectNodeRoutes: false,
      tunnelProtocol: 'geneve',
      tunnelPort: 4789,
      enableIPv4Masquerade: false,
      enableCnpStatusUpdates: true,
      l7Proxy: false,
      externalL7Proxy: false,
      ipv4NativeRoutingCIDR: '172.16.0.0/12',
      ipam: {
        mode: 'kubernetes',
        operator: { clusterPoolIPv4PodCIDRList: ['172.20.0.0/14'], clusterPoolIPv4MaskSize: 26 },
      },
      bpf: {
        ctTcpMax: 2000000,
        ctAnyMax: 1000000,
        policyMapMax: 65536,
        monitorAggregation: 'none',
        root: '/run/bpffs',
        lbMapMax: 131072,
        masquerade: false,
      },
      kubeProxyReplacement: false,
      socketLB: { enabled: false },
      loadBalancer: { algorithm: 'maglev' },
      nodePort: { range: [20000, 22767] },
      cgroup: { hostRoot: '/sys/fs/cgroup' },
      cni: { binPath: '/usr/libexec/cni', confPath: '/etc/cni/conf.d', exclusive: false, uninstall: true },
      conntrackGCInterval: '2m',
      dnsProxy: { minTtl: 3600, endpointMaxIpPerHostname: 50 },
      etcd: { enabled: true, endpoints: ['https://etcd.example:2379'], ssl: true },
      identityChangeGracePeriod: '10s',
      healthPort: 19879,
      k8sServiceHost: '172.18.0.2',
      k8sServicePort: '6443',
      prometheus: { enabled: false, port: 19962 },
      resources: { requests: { cpu: '250m', memory: '1Gi' }, limits: { memory: '2Gi' } },
      updateStrategy: { rollingUpdate: { maxUnavailable: 5 } },
      operator: {
        image: {
          repository: 'registry.example/operator',
          tag: 'dev',
          pullPolicy: 'Never',
          digest: DIGEST,
          useDigest: true,
        },
        replicas: 1,
        healthPort: 19234,
        prometheus: { enabled: false, port: 19963 },
        identityGCInterval: '1h',
        identityHeartbeatTimeout: '2h',
        endpointGCInterval: '10m',
        identityGCRateLimit: 100,
        identityGCRateInterval: '30s',
        nodeGCInterval: '1h',
        resources: { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      },
      hubble: {
        enabled: true,
        listenAddress: ':14244',
        socketPath: '/run/hubble.sock',
        eventBufferCapacity: 65535,
        metrics: { enabled: ['dns', 'drop', 'flow'], port: 19965 },
        peerService: { servicePort: 80, targetPort: 14244 },
        tls: { enabled: false, auto: { enabled: true, method: 'helm', certValidityDuration: 30 } },
        relay: {
          enabled: true,
          image: {
            repository: 'registry.example/relay',
            tag: 'dev',
            pullPolicy: 'Always',
            digest: DIGEST,
            useDigest: true,
          },
          replicas: 2,
          listenPort: 14245,
          servicePort: 80,
          resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
        },
        ui: {
          enabled: true,
          image: {
            repository: 'registry.example/ui',
            tag: 'dev',
            pullPolicy: 'Always',
            digest: DIGEST,
            useDigest: false,
          },
          replicas: 2,
          baseUrl: '/hubble/',
          service: { type: 'NodePort' },
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
        },
      },
    };
    const leaves = (o: object, prefix = ''): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        typeof v === 'object' && v !== null && !Array.isArray(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    expect(leaves(values).sort()).toEqual(
      valueLeaves()
        .map((l) => l.path)
        .sort(),
    );
    const rendered = template(values, 'cilium');
    expect(diff(synth(values, 'cilium'), rendered)).toEqual([]);
    // and it really changed things: the large counts stay integers, the metrics Services are gone.
    const cm = byKey(rendered).get('ConfigMap cilium/cilium-config')!.data as Record<string, string>;
    expect([
      cm['bpf-ct-global-tcp-max'],
      cm['prometheus-serve-addr'],
      cm['hubble-metrics'],
      cm['hubble-metrics-server'],
      cm['hubble-disable-tls'],
    ]).toEqual(['2000000', '', 'dns drop flow', ':19965', 'true']);
    expect(rendered.filter(isTlsSecret)).toEqual([]);
    expect(byKey(rendered).has('Service cilium/cilium-agent')).toBe(false);
    expect(byKey(rendered).has('Service cilium/hubble-peer')).toBe(true);
    expect(byKey(rendered).has('Service cilium/hubble-metrics')).toBe(true);
    expect(byKey(template()).has('Service kube-system/hubble-metrics')).toBe(false);
  });

  it('with hubble disabled there is no hubble-peer Service and no relay, whatever relay.enabled says', () => {
    const keys = [...byKey(template({ hubble: { enabled: false, relay: { enabled: true } } })).keys()];
    expect(keys.filter((k) => /hubble/.test(k))).toEqual([]);
  });

  it('hubble.tls.auto (method helm) renders a CA and certificates the agents and relay accept', () => {
    const secrets = new Map(
      template({ cluster: { name: 'east' }, hubble: { tls: { auto: { certValidityDuration: 30 } } } })
        .filter(isTlsSecret)
        .map((o) => [o.metadata!.name!, o as KubeObject & { type: string; data: Record<string, string> }]),
    );
    const pem = (name: string, key: string) => Buffer.from(secrets.get(name)!.data[key]!, 'base64').toString();
    const ca = new X509Certificate(pem('cilium-ca', 'ca.crt'));
    expect([ca.ca, ca.subject, createPrivateKey(pem('cilium-ca', 'ca.key')).asymmetricKeyType]).toEqual([
      true,
      'CN=Cilium CA',
      'rsa',
    ]);
    expect([secrets.get('hubble-server-certs')!.type, secrets.get('hubble-relay-client-certs')!.type]).toEqual([
      'kubernetes.io/tls',
      'kubernetes.io/tls',
    ]);
    const server = new X509Certificate(pem('hubble-server-certs', 'tls.crt'));
    const relay = new X509Certificate(pem('hubble-relay-client-certs', 'tls.crt'));
    expect({
      signedByCa: [server.verify(ca.publicKey), relay.verify(ca.publicKey)],
      sameCa: [pem('hubble-server-certs', 'ca.crt'), pem('hubble-relay-client-certs', 'ca.crt')].every(
        (c) => c === pem('cilium-ca', 'ca.crt'),
      ),
      serverNames: server.subjectAltName,
      nodeName: server.checkHost('node-1.east.hubble-grpc.cilium.io'),
      otherCluster: server.checkHost('node-1.default.hubble-grpc.cilium.io'),
      relayNames: relay.subjectAltName,
      keyMatches: server.checkPrivateKey(createPrivateKey(pem('hubble-server-certs', 'tls.key'))),
      validityDays: Math.round((Date.parse(server.validTo) - Date.parse(server.validFrom)) / 86_400_000),
    }).toEqual({
      signedByCa: [true, true],
      sameCa: true,
      serverNames: 'DNS:*.east.hubble-grpc.cilium.io',
      // checkHost answers with the name that matched: the wildcard
      nodeName: '*.east.hubble-grpc.cilium.io',
      otherCluster: undefined,
      relayNames: 'DNS:*.hubble-relay.cilium.io',
      keyMatches: true,
      validityDays: 30,
    });
    // TLS off: no Secrets, and the agents and relay are told so through cilium-config
    const off = template({ hubble: { tls: { enabled: false } } });
    expect(off.filter(isTlsSecret)).toEqual([]);
    const cm = byKey(off).get('ConfigMap kube-system/cilium-config')!.data as Record<string, string>;
    expect(cm['hubble-disable-tls']).toBe('true');
  });

  it('rendered manifests validate against the Kubernetes schemas', async () => {
    for (const o of template({ hubble: { metrics: { enabled: ['dns'] } }, operator: { replicas: 1 } }))
      await validateObject(o);
  });

  it('values.schema.json refuses a bad value before rendering', () => {
    const r = run('helm', ['template', 'cilium-ts', CHART, '--set', 'operator.replicas=0']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/operator\.replicas|operator\/replicas/);
    const typo = run('helm', ['template', 'cilium-ts', CHART, '--set', 'hubble.relay.enable=true']);
    expect(typo.status).not.toBe(0);
    expect(typo.stderr).toMatch(/enable/);
  });
});
