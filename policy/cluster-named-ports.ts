// The named-port table egress named ports resolve against (upstream: every known endpoint): the
// ports the agent feeds (remote pods, from CiliumEndpoints) united with those of local endpoints.
import type { ClusterNamedPorts, ContainerPort, NamedPorts } from './ports.js';

export class ClusterNamedPortsTable {
  /** Named ports fed by the agent (remote pods, from CiliumEndpoints). */
  private fed: ClusterNamedPorts = {};
  /** Named ports of local endpoints: name → `port/protocol` → how many endpoints have it. */
  private readonly local = new Map<string, Map<string, number>>();
  /** Fed ∪ local, as of the last recompute(). */
  private current: ClusterNamedPorts = {};

  get table(): ClusterNamedPorts {
    return this.current;
  }

  setFed(ports: ClusterNamedPorts): void {
    this.fed = ports;
  }

  /** Counts an endpoint's named ports in or out; true when the cluster table changes. */
  count(ports: NamedPorts | undefined, sign: 1 | -1): boolean {
    let changed = false;
    for (const [name, cp] of Object.entries(ports ?? {})) {
      const k = `${cp.port}/${cp.protocol ?? 'TCP'}`;
      let m = this.local.get(name);
      if (!m) this.local.set(name, (m = new Map()));
      const n = (m.get(k) ?? 0) + sign;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
      if (n === 0 || (n === 1 && sign === 1)) changed = true;
      if (m.size === 0) this.local.delete(name);
    }
    return changed;
  }

  recompute(): void {
    const table: Record<string, ContainerPort[]> = {};
    for (const [name, list] of Object.entries(this.fed)) table[name] = [...list];
    for (const [name, m] of this.local) {
      const have = (table[name] ??= []);
      for (const k of m.keys()) {
        const [port, protocol] = k.split('/');
        if (!have.some((c) => `${c.port}/${c.protocol ?? 'TCP'}` === k))
          have.push({ port: Number(port), protocol: protocol as ContainerPort['protocol'] });
      }
    }
    this.current = table;
  }
}
