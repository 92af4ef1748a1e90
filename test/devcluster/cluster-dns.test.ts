// The cluster DNS against the devcluster's API server (admin credentials; the pod's own RBAC is
// exercised by the e2e): A for a Service's ClusterIP and for a headless Service's ready endpoints,
// SRV for named ports, NXDOMAIN with the zone's SOA, NODATA for other types of an existing name,
// REFUSED outside the zone, the same over TCP; the extra records of the coredns-custom ConfigMap
// (added, changed and removed while serving, with their TTL); and pods' resolv.conf by dnsPolicy.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { KubeClient, testing, type KubeObject, type ResourceRef } from '../../controllers/framework/index.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { ClusterDns } from '../../devcluster/dns/cluster-dns.js';
import { HOSTS_DEFAULTS, hostsConfigMapPatch } from '../../devcluster/dns/hosts.js';
import { podResolvConf } from '../../devcluster/nodes/resolv-conf.js';
import { startDevcluster } from '../e2e/harness.js';

const SERVICES: ResourceRef = { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true };
const SLICES: ResourceRef = {
  group: 'discovery.k8s.io',
  version: 'v1',
  plural: 'endpointslices',
  kind: 'EndpointSlice',
  namespaced: true,
};
const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
const NS: ResourceRef = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false };

let cluster: Devcluster;
let client: KubeClient;
let dns: ClusterDns;
let port: number;

beforeAll(async () => {
  cluster = await startDevcluster('cluster-dns');
  client = KubeClient.fromFile(cluster.kubeconfig);
  await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app' } });
  await client.create(SERVICES, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'app' },
    spec: {
      clusterIP: '10.96.7.7',
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    },
  } as KubeObject);
  await client.create(SERVICES, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'db', namespace: 'app' },
    spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] },
  } as KubeObject);
  await client.create(SLICES, {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'db-abc', namespace: 'app', labels: { 'kubernetes.io/service-name': 'db' } },
    addressType: 'IPv4',
    endpoints: [
      { addresses: ['10.200.0.5'], conditions: { ready: true } },
      { addresses: ['10.200.1.6'], conditions: { ready: true } },
      { addresses: ['10.200.1.9'], conditions: { ready: false } },
    ],
    ports: [{ name: 'pg', port: 5432 }],
  } as KubeObject);
  dns = new ClusterDns({ client, host: '127.0.0.1', port: 0 });
  port = await dns.start();
}, 60_000);

afterAll(async () => {
  await dns?.stop();
  client?.close();
  await cluster?.stop();
});

function udpQuery(name: string, type: dnsPacket.RecordType): Promise<dnsPacket.Packet> {
  const sock = createSocket('udp4');
  return new Promise((resolve, reject) => {
    sock.on('message', (m) => {
      sock.close();
      resolve(dnsPacket.decode(m));
    });
    sock.on('error', reject);
    sock.send(
      dnsPacket.encode({
        type: 'query',
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name, class: 'IN' }],
      }),
      port,
      '127.0.0.1',
    );
  });
}

const rcode = (p: dnsPacket.Packet) => (p as { rcode?: string }).rcode;
const data = (p: dnsPacket.Packet) => (p.answers ?? []).map((a) => (a as { data: unknown }).data);

describe('cluster DNS', () => {
  it.each([
    ['web.app.svc.cluster.local', 'A', 'NOERROR', ['10.96.7.7']],
    ['WEB.App.svc.cluster.local.', 'A', 'NOERROR', ['10.96.7.7']],
    ['web.app.svc.cluster.local', 'AAAA', 'NOERROR', []],
    ['web.app.svc.cluster.local.app.svc.cluster.local', 'A', 'NXDOMAIN', []],
    ['nope.app.svc.cluster.local', 'A', 'NXDOMAIN', []],
    ['app.svc.cluster.local', 'A', 'NOERROR', []],
    ['nons.svc.cluster.local', 'A', 'NXDOMAIN', []],
    ['10-200-0-5.app.pod.cluster.local', 'A', 'NOERROR', ['10.200.0.5']],
    ['example.com', 'A', 'REFUSED', []],
  ])('%s %s → %s %j', async (name, type, code, answers) => {
    const r = await udpQuery(name, type as dnsPacket.RecordType);
    expect(r.id).toBe(7);
    expect(rcode(r)).toBe(code);
    expect(data(r)).toEqual(answers);
    if (code === 'NXDOMAIN') expect(r.authorities?.[0]?.type).toBe('SOA');
  });

  it('a headless Service resolves to its ready endpoints; SRV names the port and the target', async () => {
    const db = await udpQuery('db.app.svc.cluster.local', 'A');
    expect((data(db) as string[]).sort()).toEqual(['10.200.0.5', '10.200.1.6']);
    const srv = await udpQuery('_http._tcp.web.app.svc.cluster.local', 'SRV');
    expect(data(srv)).toEqual([{ priority: 0, weight: 100, port: 80, target: 'web.app.svc.cluster.local' }]);
    expect(srv.additionals?.map((a) => [a.name, (a as { data: unknown }).data])).toEqual([
      ['web.app.svc.cluster.local', '10.96.7.7'],
    ]);
    expect(rcode(await udpQuery('_dns._udp.web.app.svc.cluster.local', 'SRV'))).toBe('NOERROR');
    expect(rcode(await udpQuery('_dns._tcp.web.app.svc.cluster.local', 'SRV'))).toBe('NXDOMAIN');
  });

  it('follows changes: a new Service answers without a restart, a deleted one is NXDOMAIN', async () => {
    await client.create(SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'late', namespace: 'app' },
      spec: { ports: [{ port: 8080 }] },
    } as KubeObject);
    const ip = (await client.get<KubeObject & { spec: { clusterIP: string } }>(SERVICES, 'late', 'app')).spec.clusterIP;
    await testing.waitFor(async () => data(await udpQuery('late.app.svc.cluster.local', 'A'))[0] === ip, {
      what: 'the new Service to resolve',
    });
    await client.delete(SERVICES, 'late', 'app');
    await testing.waitFor(async () => rcode(await udpQuery('late.app.svc.cluster.local', 'A')) === 'NXDOMAIN', {
      what: 'the deleted Service to be gone',
    });
  });

  it('answers over TCP with the two-byte length prefix', async () => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const q = dnsPacket.streamEncode({
      type: 'query',
      id: 9,
      questions: [{ type: 'A', name: 'web.app.svc.cluster.local', class: 'IN' }],
    });
    sock.write(q);
    const reply = await new Promise<dnsPacket.Packet>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        chunks.push(d);
        const all = Buffer.concat(chunks);
        if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) resolve(dnsPacket.streamDecode(all));
      });
      sock.on('error', reject);
    });
    sock.destroy();
    expect(reply.id).toBe(9);
    expect(data(reply)).toEqual(['10.96.7.7']);
  });
});

describe('extra records from the coredns-custom ConfigMap', () => {
  const { configMapNamespace: cmNs, configMapName: cmName } = HOSTS_DEFAULTS;
  const ttls = (p: dnsPacket.Packet) => (p.answers ?? []).map((a) => (a as { ttl?: number }).ttl);

  it('serves A/AAAA with the TTL, NXDOMAIN beside them; edits apply within two seconds; deletion removes them', async () => {
    expect(rcode(await udpQuery('api.example.test', 'A'))).toBe('REFUSED');
    await client.create(NS, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: cmNs } }).catch(() => undefined);
    await client.create(CONFIGMAPS, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: cmName, namespace: cmNs },
      ...hostsConfigMapPatch(
        { 'api.example.test': '192.0.2.10', 'other.example.test': ['192.0.2.11', '2001:db8::11'] },
        { ttlSeconds: 7 },
      ),
    } as KubeObject);
    await testing.waitFor(async () => rcode(await udpQuery('api.example.test', 'A')) === 'NOERROR', {
      what: 'the hosts records to be served',
    });
    const api = await udpQuery('API.example.test.', 'A');
    expect([data(api), ttls(api), api.flags! & dnsPacket.AUTHORITATIVE_ANSWER]).toEqual([
      ['192.0.2.10'],
      [7],
      dnsPacket.AUTHORITATIVE_ANSWER,
    ]);
    expect(data(await udpQuery('other.example.test', 'A'))).toEqual(['192.0.2.11']);
    expect(data(await udpQuery('other.example.test', 'AAAA'))).toEqual(['2001:db8::11']);
    const nodata = await udpQuery('api.example.test', 'AAAA');
    expect([rcode(nodata), data(nodata), nodata.authorities?.[0]?.name]).toEqual(['NOERROR', [], 'example.test']);
    const missing = await udpQuery('missing.example.test', 'A');
    expect([
      rcode(missing),
      missing.authorities?.[0]?.type,
      (missing.authorities?.[0] as { ttl?: number } | undefined)?.ttl,
    ]).toEqual(['NXDOMAIN', 'SOA', 7]);
    expect(rcode(await udpQuery('example.org', 'A'))).toBe('REFUSED');
    // the cluster zone is unaffected
    expect(data(await udpQuery('web.app.svc.cluster.local', 'A'))).toEqual(['10.96.7.7']);

    // a changed record, and the default TTL once the key is gone
    const changedAt = Date.now();
    await client.patch(CONFIGMAPS, cmName, cmNs, hostsConfigMapPatch({ 'api.example.test': '192.0.2.20' }), 'merge');
    await testing.waitFor(async () => data(await udpQuery('api.example.test', 'A'))[0] === '192.0.2.20', {
      what: 'the changed record',
      timeoutMs: 2_000,
    });
    expect(Date.now() - changedAt).toBeLessThan(2_000);
    expect(ttls(await udpQuery('api.example.test', 'A'))).toEqual([HOSTS_DEFAULTS.ttlSeconds]);
    expect(rcode(await udpQuery('other.example.test', 'A'))).toBe('NXDOMAIN');

    await client.delete(CONFIGMAPS, cmName, cmNs);
    await testing.waitFor(async () => rcode(await udpQuery('api.example.test', 'A')) === 'REFUSED', {
      what: 'the records to be gone with the ConfigMap',
      timeoutMs: 2_000,
    });
  });
});

describe("a pod's resolv.conf", () => {
  const dns = { ip: '10.96.0.10', domain: 'cluster.local' };
  it.each([
    [
      'ClusterFirst (default)',
      {},
      'search app.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    ],
    ['ClusterFirst on the host network: the node file', { hostNetwork: true }, undefined],
    [
      'ClusterFirstWithHostNet',
      { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' },
      'search app.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    ],
    ['Default: the node file', { dnsPolicy: 'Default' }, undefined],
    [
      'None with dnsConfig',
      {
        dnsPolicy: 'None',
        dnsConfig: {
          nameservers: ['1.1.1.1'],
          searches: ['corp'],
          options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
        },
      },
      'search corp\nnameserver 1.1.1.1\noptions ndots:2 edns0\n',
    ],
    [
      'ClusterFirst with dnsConfig merged',
      { dnsConfig: { searches: ['corp'], options: [{ name: 'ndots', value: '2' }] } },
      'search app.svc.cluster.local svc.cluster.local cluster.local corp\nnameserver 10.96.0.10\noptions ndots:2\n',
    ],
  ])('%s', (_what, spec, expected) => {
    expect(podResolvConf({ namespace: 'app', ...spec }, dns)).toBe(expected);
  });
});
