// The Service translator, array in and array out: Kubernetes objects as the API server returns
// them, and the frontends with their backends (in slot order) the agent writes to the LB maps.
import { describe, expect, it } from '@jest/globals';
import {
  translateAll,
  translateService,
  type EndpointSliceObject,
  type ServiceObject,
  type TranslateContext,
} from '../../../../controllers/agent/services/translate.js';

const ctx: TranslateContext = {
  nodeName: 'n1',
  nodeAddresses: ['192.168.0.1'],
  nodePortRange: [30000, 32767],
  kubeProxyReplacement: true,
};

const svc = (spec: ServiceObject['spec'], extra: Partial<ServiceObject> = {}): ServiceObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'default', name: 'web', ...(extra.metadata ?? {}) },
  spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ...spec },
  ...(extra.status ? { status: extra.status } : {}),
});

type Ep = NonNullable<EndpointSliceObject['endpoints']>[number];
const ep = (ip: string, node: string, conditions: Ep['conditions'] = { ready: true }): Ep => ({
  addresses: [ip],
  nodeName: node,
  conditions,
});
const slice = (endpoints: Ep[], ports: EndpointSliceObject['ports'], name = 'web-abc'): EndpointSliceObject => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints,
  ports,
});

const http = [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }];
const httpSlicePorts = [{ name: 'http', port: 8080, protocol: 'TCP' }];

/** Compact view: "frontend type -> backend(state)..." */
const view = (r: ReturnType<typeof translateService>) =>
  r.services.map(
    (s) =>
      `${s.frontend.address}:${s.frontend.port}/${s.frontend.proto} ${s.type} -> ${s.backends
        .map((b) => `${b.address}:${b.port}${b.state === 'active' ? '' : `(${b.state})`}`)
        .join(' ')}`,
  );

describe('translateService', () => {
  it.each([
    [
      'ClusterIP with a named targetPort: the slice gives each backend its number, sorted by address',
      svc({ ports: http }),
      [slice([ep('10.0.1.7', 'n1'), ep('10.0.0.5', 'n2')], httpSlicePorts)],
      ['10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080 10.0.1.7:8080'],
    ],
    [
      'TCP and UDP ports of one number are two frontends; backends come from the port of that protocol',
      svc({
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        ],
      }),
      [
        slice(
          [ep('10.0.0.5', 'n1')],
          [
            { name: 'dns', port: 5353, protocol: 'UDP' },
            { name: 'dns-tcp', port: 5354, protocol: 'TCP' },
          ],
        ),
      ],
      ['10.96.0.10:53/UDP ClusterIP -> 10.0.0.5:5353', '10.96.0.10:53/TCP ClusterIP -> 10.0.0.5:5354'],
    ],
    [
      'not ready endpoints are left out; endpoints of several slices are merged',
      svc({ ports: http }),
      [
        slice([ep('10.0.0.5', 'n1'), ep('10.0.0.6', 'n1', { ready: false })], httpSlicePorts),
        slice([ep('10.0.2.9', 'n2', {})], httpSlicePorts, 'web-def'),
      ],
      ['10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080 10.0.2.9:8080'],
    ],
    [
      'terminating endpoints are used only when no ready one is left (serving ones only)',
      svc({ ports: http }),
      [
        slice(
          [
            ep('10.0.0.5', 'n1', { ready: false, serving: true, terminating: true }),
            ep('10.0.0.6', 'n1', { ready: false, serving: false, terminating: true }),
          ],
          httpSlicePorts,
        ),
      ],
      ['10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080(terminating)'],
    ],
    [
      'a ready endpoint next to a terminating one: only the ready one takes new connections',
      svc({ ports: http }),
      [
        slice(
          [ep('10.0.0.5', 'n1', { ready: false, serving: true, terminating: true }), ep('10.0.0.7', 'n2')],
          httpSlicePorts,
        ),
      ],
      ['10.96.0.10:80/TCP ClusterIP -> 10.0.0.7:8080'],
    ],
    [
      'no endpoints: the frontend exists with no backend (connects are refused at once)',
      svc({ ports: http }),
      [],
      ['10.96.0.10:80/TCP ClusterIP -> '],
    ],
    [
      'NodePort: ClusterIP, one frontend per node address and 0.0.0.0',
      svc({ type: 'NodePort', ports: [{ ...http[0]!, nodePort: 30080 }] }),
      [slice([ep('10.0.0.5', 'n2')], httpSlicePorts)],
      [
        '10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080',
        '192.168.0.1:30080/TCP NodePort -> 10.0.0.5:8080',
        '0.0.0.0:30080/TCP NodePort -> 10.0.0.5:8080',
      ],
    ],
    [
      "externalTrafficPolicy Local: external frontends get only this node's backends",
      svc({ type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ ...http[0]!, nodePort: 30080 }] }),
      [slice([ep('10.0.0.5', 'n2'), ep('10.0.1.5', 'n1')], httpSlicePorts)],
      [
        '10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080 10.0.1.5:8080',
        '192.168.0.1:30080/TCP NodePort -> 10.0.1.5:8080',
        '0.0.0.0:30080/TCP NodePort -> 10.0.1.5:8080',
      ],
    ],
    [
      "internalTrafficPolicy Local: the ClusterIP gets only this node's backends",
      svc({ internalTrafficPolicy: 'Local', ports: http }),
      [slice([ep('10.0.0.5', 'n2'), ep('10.0.1.5', 'n1')], httpSlicePorts)],
      ['10.96.0.10:80/TCP ClusterIP -> 10.0.1.5:8080'],
    ],
    [
      'ExternalIPs and LoadBalancer ingress IPs are frontends too',
      svc(
        { type: 'LoadBalancer', externalIPs: ['203.0.113.7'], ports: [{ ...http[0]!, nodePort: 31000 }] },
        { status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } } },
      ),
      [slice([ep('10.0.0.5', 'n2')], httpSlicePorts)],
      [
        '10.96.0.10:80/TCP ClusterIP -> 10.0.0.5:8080',
        '203.0.113.7:80/TCP ExternalIPs -> 10.0.0.5:8080',
        '198.51.100.1:80/TCP LoadBalancer -> 10.0.0.5:8080',
        '192.168.0.1:31000/TCP NodePort -> 10.0.0.5:8080',
        '0.0.0.0:31000/TCP NodePort -> 10.0.0.5:8080',
      ],
    ],
    ['headless Services are left alone', svc({ clusterIP: 'None', clusterIPs: ['None'], ports: http }), [], []],
    [
      'Services of another proxy (service.kubernetes.io/service-proxy-name) are left alone',
      svc({ ports: http }, { metadata: { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } }),
      [slice([ep('10.0.0.5', 'n2')], httpSlicePorts)],
      [],
    ],
  ] as [string, ServiceObject, EndpointSliceObject[], string[]][])('%s', (_title, service, slices, want) => {
    expect(view(translateService(service, slices, ctx))).toEqual(want);
  });

  it('sessionAffinity ClientIP carries its timeout (default 10800 s)', () => {
    const r = (cfg?: number) =>
      translateService(
        svc({
          ports: http,
          sessionAffinity: 'ClientIP',
          ...(cfg ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: cfg } } } : {}),
        }),
        [],
        ctx,
      ).services[0]!.affinityTimeoutSec;
    expect([r(), r(60)]).toEqual([10800, 60]);
  });

  it('events say why something has no frontend and when terminating backends stand in', () => {
    expect(translateService(svc({ clusterIP: 'None', ports: http }), [], ctx).events).toEqual([
      { type: 'ignored', service: 'default/web', reason: 'headless' },
    ]);
    const sctp = translateService(svc({ ports: [{ name: 's', port: 9, protocol: 'SCTP' }] }), [], ctx);
    expect(sctp.events).toEqual([
      { type: 'unsupported-protocol', service: 'default/web', port: 's', protocol: 'SCTP' },
    ]);
    const term = translateService(
      svc({ ports: http }),
      [slice([ep('10.0.0.5', 'n1', { ready: false, serving: true, terminating: true })], httpSlicePorts)],
      ctx,
    );
    expect(term.events).toEqual([{ type: 'terminating-fallback', service: 'default/web', port: 'http', backends: 1 }]);
    const out = translateService(svc({ type: 'NodePort', ports: [{ ...http[0]!, nodePort: 80 }] }), [], ctx);
    expect(out.events).toEqual([
      { type: 'node-port-out-of-range', service: 'default/web', port: 'http', nodePort: 80 },
    ]);
  });

  it('kube-proxy-replacement=false: ClusterIP frontends only', () => {
    const r = translateService(
      svc({ type: 'NodePort', externalIPs: ['203.0.113.7'], ports: [{ ...http[0]!, nodePort: 30080 }] }),
      [],
      { ...ctx, kubeProxyReplacement: false },
    );
    expect(r.services.map((s) => s.type)).toEqual(['ClusterIP']);
  });
});

describe('translateAll', () => {
  it('joins Services with their slices by the service-name label; a frontend claimed twice goes to the first by name', () => {
    const a = svc({ ports: http }, { metadata: { name: 'a' } });
    const b = svc({ ports: http }, { metadata: { name: 'b' } });
    const slices = new Map([
      ['default/a', [slice([ep('10.0.0.1', 'n1')], httpSlicePorts)]],
      ['default/b', [slice([ep('10.0.0.2', 'n1')], httpSlicePorts)]],
    ]);
    const r = translateAll([b, a], slices, ctx);
    expect(r.services.map((s) => [s.name, s.backends.map((x) => x.address)])).toEqual([['default/a', ['10.0.0.1']]]);
  });
});
