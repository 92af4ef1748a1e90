// The Hubble adapter of the agent: the Hubble observer's view of the agent's caches (who an
// endpoint, an IP or an identity is; which nodes are peers). It lives in cmd/ because hubble/
// sits above controllers/ in the layering: only the binary may join the two.
import type { Agent } from '../../controllers/agent/agent.js';
import type { EndpointInfo, Resolver } from '../../hubble/resolver.js';
import type { Service } from '../../hubble/types.js';

/** Resolves endpoints, IPs and identities from the agent's endpoint manager and caches. */
export class AgentHubbleResolver implements Resolver {
  constructor(private readonly agent: Agent) {}

  /** A local endpoint by id. */
  endpointById(id: number): EndpointInfo | undefined {
    const ep = this.agent.endpoints.byId.get(id);
    if (!ep || ep.identity === undefined) return undefined;
    return {
      id,
      identity: ep.identity,
      namespace: ep.namespace,
      podName: ep.podName,
      labels: ep.identityLabels ?? [],
      ips: [ep.ipv4],
    };
  }

  /** A pod as the agent knows it: local endpoint or remote CiliumEndpoint. */
  endpointByIp(ip: string): EndpointInfo | undefined {
    const local = this.agent.endpoints.findByIp(ip);
    if (local?.identity !== undefined) return this.endpointById(local.id)!;
    const cep = this.agent.stores.cep.byIndex('ip', ip)[0];
    const id = cep?.status?.identity?.id;
    if (!cep || id === undefined) return undefined;
    return {
      id: 0,
      identity: id,
      namespace: cep.metadata?.namespace ?? '',
      podName: cep.metadata?.name ?? '',
      labels: this.identityLabels(id) ?? [],
      ips: [ip],
    };
  }

  /** The Service of a frontend or backend address:port, from the agent's load-balancer state. */
  serviceAt(ip: string, port: number, proto: 'TCP' | 'UDP'): Service | undefined {
    const key = this.agent.services.serviceAt(ip, port, proto);
    if (!key) return undefined;
    const i = key.indexOf('/');
    return { namespace: key.slice(0, i), name: key.slice(i + 1) };
  }

  /** An identity's labels as `source:key=value`. */
  identityLabels(id: number): string[] | undefined {
    const labels = this.agent.stores.identity.get(String(id))?.['security-labels'];
    return labels ? Object.entries(labels).map(([k, v]) => `${k}=${v}`) : undefined;
  }
}

/** Every node's name and InternalIP, now and on each CiliumNode change. */
export function watchNodes(agent: Agent, fn: (nodes: { name: string; ip: string }[]) => void): void {
  const emit = () =>
    fn(
      agent.stores.cn.list().flatMap((n) => {
        const ip = n.spec?.addresses?.find((a) => a.type === 'InternalIP')?.ip;
        return ip && n.metadata?.name ? [{ name: n.metadata.name, ip }] : [];
      }),
    );
  agent.stores.cn.subscribe(emit);
  emit();
}
