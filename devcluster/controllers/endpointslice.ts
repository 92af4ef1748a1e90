// The EndpointSlice controller as kube-controller-manager runs it (pkg/controller/endpointslice):
// a Service with a selector gets discovery.k8s.io/v1 EndpointSlices of the pods it selects,
// labelled kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by, owned by the
// Service. Endpoints carry ready/serving/terminating from pod readiness and deletion; target
// ports named by a string resolve per pod from its container ports (pods resolving differently
// land in different slices); at most 100 endpoints per slice.
import {
  Action,
  isNotFound,
  type Controller,
  type KubeObject,
  type Manager,
} from '../../controllers/framework/index.js';
import {
  canonical,
  controllerRef,
  ENDPOINTSLICES,
  isPodReady,
  isTerminal,
  matchesSelector,
  PODS,
  SERVICES,
  type Pod,
} from './objects.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';
export const MAX_ENDPOINTS_PER_SLICE = 100;

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  targetPort?: number | string;
  appProtocol?: string;
}

export type Service = KubeObject & {
  spec?: { selector?: Record<string, string>; ports?: ServicePort[]; publishNotReadyAddresses?: boolean };
};

interface SlicePort {
  name: string;
  port: number;
  protocol: string;
  appProtocol?: string;
}

interface Endpoint {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
  nodeName?: string;
  targetRef: { kind: 'Pod'; namespace: string; name: string; uid: string };
}

type Slice = KubeObject & { addressType?: string; endpoints?: Endpoint[]; ports?: SlicePort[] };

/** The service ports as this pod serves them; a named target port the pod lacks is left out. */
export function resolvePorts(svc: Service, pod: Pod): SlicePort[] {
  const out: SlicePort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const protocol = sp.protocol ?? 'TCP';
    let port: number | undefined;
    const tp = sp.targetPort ?? sp.port;
    if (typeof tp === 'number' || /^\d+$/.test(tp)) port = Number(tp);
    else
      for (const c of pod.spec?.containers ?? [])
        for (const cp of c.ports ?? [])
          if (cp.name === tp && (cp.protocol ?? 'TCP') === protocol) port = cp.containerPort;
    if (port === undefined) continue;
    out.push({ name: sp.name ?? '', port, protocol, ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
  }
  return out;
}

/** The slices a service should have: endpoints grouped by resolved ports, chunked by 100. */
export function desiredSlices(svc: Service, pods: Pod[]): { ports: SlicePort[]; endpoints: Endpoint[] }[] {
  const groups = new Map<string, { ports: SlicePort[]; endpoints: Endpoint[] }>();
  const ns = svc.metadata?.namespace ?? 'default';
  const sorted = [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const p of sorted) {
    if (!p.status?.podIP || isTerminal(p) || !matchesSelector({ matchLabels: svc.spec?.selector }, p.metadata?.labels))
      continue;
    const ports = resolvePorts(svc, p);
    const key = canonical(ports);
    const g = groups.get(key) ?? { ports, endpoints: [] };
    groups.set(key, g);
    const ready = isPodReady(p);
    const terminating = !!p.metadata?.deletionTimestamp;
    g.endpoints.push({
      addresses: [p.status.podIP],
      conditions: {
        ready: svc.spec?.publishNotReadyAddresses ? true : ready && !terminating,
        serving: ready,
        terminating,
      },
      ...(p.spec?.nodeName ? { nodeName: p.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: ns, name: p.metadata?.name ?? '', uid: p.metadata?.uid ?? '' },
    });
  }
  const out: { ports: SlicePort[]; endpoints: Endpoint[] }[] = [];
  for (const g of groups.values())
    for (let i = 0; i < g.endpoints.length; i += MAX_ENDPOINTS_PER_SLICE)
      out.push({ ports: g.ports, endpoints: g.endpoints.slice(i, i + MAX_ENDPOINTS_PER_SLICE) });
  // kube keeps one empty placeholder slice for a service selecting nothing
  if (!out.length) out.push({ ports: [], endpoints: [] });
  return out;
}

export class EndpointSliceController {
  register(manager: Manager): void {
    const controller: Controller<Service> = manager.add<Service>({
      name: 'endpointslice-controller',
      resource: SERVICES,
      secondary: [
        {
          resource: PODS,
          // every service of the pod's namespace with a selector: one the pod stopped matching
          // (its labels changed) must drop it too
          mapper: (pod: Pod): string[] =>
            controller.store
              .list()
              .filter((s) => s.metadata?.namespace === pod.metadata?.namespace && s.spec?.selector)
              .map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
        },
        {
          resource: ENDPOINTSLICES,
          mapper: (s: Slice) => {
            const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
            return svc && s.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
              ? [`${s.metadata?.namespace}/${svc}`]
              : [];
          },
        },
      ],
      concurrency: 2,
      reconcile: async (key, ctx) => {
        const svc = ctx.object;
        const [ns = 'default', name = ''] = key.split('/');
        const existing = (
          await ctx.client.list<Slice>(ENDPOINTSLICES, {
            namespace: ns,
            labelSelector: `${SERVICE_NAME_LABEL}=${name},${MANAGED_BY_LABEL}=${MANAGED_BY}`,
          })
        ).items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
        const del = (s: Slice): Promise<unknown> =>
          ctx.client.delete(ENDPOINTSLICES, s.metadata!.name!, ns).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
        if (!svc?.spec?.selector || svc.metadata?.deletionTimestamp) {
          await Promise.all(existing.map(del));
          return Action.awaitChange();
        }
        const pods = (await ctx.client.list<Pod>(PODS, { namespace: ns })).items;
        const want = desiredSlices(svc, pods);
        const labels = {
          ...(svc.metadata?.labels ?? {}),
          [SERVICE_NAME_LABEL]: name,
          [MANAGED_BY_LABEL]: MANAGED_BY,
        };
        const owner = controllerRef(svc, 'v1', 'Service');
        const free = [...existing];
        for (const w of want) {
          // reuse a slice with the same ports first, then any
          const i = Math.max(
            free.findIndex((s) => canonical(s.ports ?? []) === canonical(w.ports)),
            free.length ? 0 : -1,
          );
          const body: Slice = {
            apiVersion: 'discovery.k8s.io/v1',
            kind: 'EndpointSlice',
            metadata: { labels, ownerReferences: [owner] },
            addressType: 'IPv4',
            endpoints: w.endpoints,
            ports: w.ports,
          };
          if (i >= 0) {
            const s = free.splice(i, 1)[0] as Slice;
            const same =
              canonical(s.endpoints ?? []) === canonical(w.endpoints) &&
              canonical(s.ports ?? []) === canonical(w.ports) &&
              canonical(s.metadata?.labels ?? {}) === canonical(labels);
            if (!same)
              await ctx.client.replace(ENDPOINTSLICES, {
                ...body,
                metadata: { ...s.metadata, ...body.metadata, name: s.metadata?.name, namespace: ns },
              });
          } else {
            await ctx.client.create(ENDPOINTSLICES, {
              ...body,
              metadata: { ...body.metadata, generateName: `${name}-`, namespace: ns },
            });
          }
        }
        await Promise.all(free.map(del));
        return Action.awaitChange();
      },
    });
  }
}
