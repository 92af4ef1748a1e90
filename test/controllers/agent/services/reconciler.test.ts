// The Service reconciler over the sim load balancer: nothing is written before start, a change
// writes only what changed, a deleted slice refreshes its Service, and a second reconciler over
// the same maps (an agent restart) writes nothing.
import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { Registry } from 'prom-client';
import { SimLoadBalancer } from '../../../../datapath/lb-sim.js';
import { Store } from '../../../../controllers/framework/index.js';
import { ServiceLoadBalancer, sliceIndexers } from '../../../../controllers/agent/services/reconciler.js';
import {
  translateAll,
  type EndpointSliceObject,
  type ServiceObject,
} from '../../../../controllers/agent/services/translate.js';

const service = (name: string, ip: string): ServiceObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name },
  spec: { clusterIP: ip, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
});
const slice = (svc: string, ips: string[]): EndpointSliceObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name: `${svc}-x`, labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4',
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});

function setup(lb = new SimLoadBalancer()) {
  const services = new Store<ServiceObject>();
  const slices = new Store<EndpointSliceObject>({ indexers: sliceIndexers });
  const r = new ServiceLoadBalancer({
    lb,
    services,
    slices,
    log: pino({ level: 'silent' }),
    registry: new Registry(),
    context: () => ({ nodeName: 'n1', nodeAddresses: [], nodePortRange: [30000, 32767], kubeProxyReplacement: true }),
  });
  const init = <T extends ServiceObject | EndpointSliceObject>(s: Store<T>, objs: T[]) => {
    s.apply({ type: 'Init' });
    for (const o of objs) s.apply({ type: 'InitApply', object: o });
    s.apply({ type: 'InitDone', resourceVersion: '1' });
  };
  return { lb, services, slices, r, init };
}

const groupBySvc = (all: EndpointSliceObject[]) => {
  const m = new Map<string, EndpointSliceObject[]>();
  for (const x of all) {
    const k = `default/${x.metadata!.labels!['kubernetes.io/service-name']}`;
    m.set(k, [...(m.get(k) ?? []), x]);
  }
  return m;
};

const backendsOf = (lb: SimLoadBalancer, vip: string) =>
  lb
    .dump()
    .filter((row) => row.frontend.address === vip && row.slot > 0)
    .map((row) => row.backend?.address);

describe('ServiceLoadBalancer', () => {
  it('writes nothing before start; start writes the synced state; changes write only the difference', async () => {
    const { lb, services, slices, r, init } = setup();
    init(services, [service('a', '10.96.0.1'), service('b', '10.96.0.2')]);
    init(slices, [slice('a', ['10.0.0.1', '10.0.0.2']), slice('b', ['10.0.0.3'])]);
    r.onService('default/a');
    await new Promise((res) => setImmediate(res));
    expect(lb.dump()).toEqual([]);

    const first = r.start()!;
    expect(first.services.upserts).toBe(5); // 2 frontends + 3 slots
    expect(backendsOf(lb, '10.96.0.1')).toEqual(['10.0.0.1', '10.0.0.2']);

    slices.apply({ type: 'Apply', object: slice('a', ['10.0.0.2']) });
    r.onSlice('default/a-x');
    const second = r.sync()!;
    expect(second.services).toEqual({ upserts: 2, deletes: 1, unchanged: 2 }); // frontend count + slot 1; slot 2 gone
    expect(backendsOf(lb, '10.96.0.1')).toEqual(['10.0.0.2']);

    slices.apply({ type: 'Delete', object: slice('b', []) });
    r.onSlice('default/b-x');
    r.sync();
    expect(lb.dump().filter((row) => row.frontend.address === '10.96.0.2')).toMatchObject([{ slot: 0, count: 0 }]);

    services.apply({ type: 'Delete', object: service('b', '10.96.0.2') });
    r.onService('default/b');
    r.sync();
    expect(lb.dump().filter((row) => row.frontend.address === '10.96.0.2')).toEqual([]);
    r.stop();
  });

  it('a restarted reconciler over the same maps writes nothing', () => {
    const a = setup();
    a.init(a.services, [service('a', '10.96.0.1')]);
    a.init(a.slices, [slice('a', ['10.0.0.1', '10.0.0.2'])]);
    a.r.start();
    a.r.stop();
    const b = setup(a.lb);
    b.init(b.services, [service('a', '10.96.0.1')]);
    b.init(b.slices, [slice('a', ['10.0.0.1', '10.0.0.2'])]);
    const res = b.r.start()!;
    expect(res.services.upserts + res.backends.upserts + res.revNat.upserts).toBe(0);
    expect(res.services.deletes + res.backends.deletes + res.revNat.deletes).toBe(0);
  });
  it('a frontend two Services claim belongs to the first by key, and passes to the other when it goes', () => {
    const { lb, services, slices, r, init } = setup();
    init(services, [service('a', '10.96.0.9'), service('b', '10.96.0.9')]);
    init(slices, [slice('a', ['10.0.0.1']), slice('b', ['10.0.0.2'])]);
    r.start();
    expect(backendsOf(lb, '10.96.0.9')).toEqual(['10.0.0.1']);
    services.apply({ type: 'Delete', object: service('a', '10.96.0.9') });
    r.onService('default/a');
    r.sync();
    expect(backendsOf(lb, '10.96.0.9')).toEqual(['10.0.0.2']);
    expect(r.names().get('10.96.0.9:80/TCP')).toBe('default/b');
    services.apply({ type: 'Apply', object: service('a', '10.96.0.9') });
    r.onService('default/a');
    r.sync();
    expect(backendsOf(lb, '10.96.0.9')).toEqual(['10.0.0.1']);
    r.stop();
  });

  it('names the Service of a frontend and of a backend taking its connections, and forgets both when they go', () => {
    const { services, slices, r, init } = setup();
    init(services, [service('a', '10.96.0.1')]);
    init(slices, [slice('a', ['10.0.0.1'])]);
    r.start();
    expect(r.serviceAt('10.96.0.1', 80, 'TCP')).toBe('default/a');
    expect(r.serviceAt('10.0.0.1', 8080, 'TCP')).toBe('default/a');
    expect(r.serviceAt('10.0.0.1', 8080, 'UDP')).toBeUndefined();
    expect(r.serviceAt('10.0.0.1', 80, 'TCP')).toBeUndefined();
    slices.apply({ type: 'Apply', object: slice('a', ['10.0.0.2']) });
    r.onSlice('default/a-x');
    r.sync();
    expect(r.serviceAt('10.0.0.1', 8080, 'TCP')).toBeUndefined();
    expect(r.serviceAt('10.0.0.2', 8080, 'TCP')).toBe('default/a');
    services.apply({ type: 'Delete', object: service('a', '10.96.0.1') });
    r.onService('default/a');
    r.sync();
    expect(r.serviceAt('10.96.0.1', 80, 'TCP')).toBeUndefined();
    expect(r.serviceAt('10.0.0.2', 8080, 'TCP')).toBeUndefined();
    r.stop();
  });

  it('after random changes written one Service at a time, the maps equal a full translation written at once', () => {
    const { lb, services, slices, r, init } = setup();
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const ips = (n: number) => Array.from({ length: n }, () => `10.0.${rand(4)}.${rand(20) + 1}`);
    init(services, []);
    init(slices, []);
    r.start();
    for (let step = 0; step < 300; step++) {
      const i = rand(12);
      const name = `s${i}`;
      const what = rand(5);
      // a few Services share ClusterIPs so that ownership changes hands too
      if (what === 0) services.apply({ type: 'Delete', object: service(name, `10.96.1.${i % 8}`) });
      else if (what === 1) slices.apply({ type: 'Delete', object: slice(name, []) });
      else if (what === 2) services.apply({ type: 'Apply', object: service(name, `10.96.1.${i % 8}`) });
      else slices.apply({ type: 'Apply', object: slice(name, ips(rand(4))) });
      if (what === 0 || what === 2) r.onService(`default/${name}`);
      else r.onSlice(`default/${name}-x`);
      if (rand(3) === 0) r.sync();
    }
    r.sync();
    const fresh = new SimLoadBalancer();
    fresh.syncServices(
      translateAll(services.list(), groupBySvc(slices.list()), {
        nodeName: 'n1',
        nodeAddresses: [],
        nodePortRange: [30000, 32767],
        kubeProxyReplacement: true,
      }).services,
    );
    const view = (l: SimLoadBalancer) =>
      l
        .dump()
        .map((row) => `${row.frontend.address}:${row.slot} ${row.backend?.address ?? ''} ${row.slot ? '' : row.count}`)
        .sort();
    expect(view(lb)).toEqual(view(fresh));
    r.stop();
  });
});
