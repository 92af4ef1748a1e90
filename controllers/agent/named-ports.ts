// The cluster named-port feed: the named ports of every pod in the cluster, from the
// CiliumEndpoints, fed to the policy engine when they change (upstream resolves an egress named
// port against all endpoints that name it, local or remote).
import type { PolicyEvent, ProtoName } from '../../policy/index.js';
import type { Store } from '../framework/index.js';
import type { PolicyHub } from './policy-hub.js';
import type { CepObject } from './resources.js';

/** Container ports are TCP, UDP or SCTP; anything else cannot be a policy port. */
const POLICY_PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

export class NamedPortsFeed {
  private timer?: NodeJS.Immediate;
  /** The table last fed to the engine, as text (to feed only changes). */
  private fed = '';

  constructor(
    private readonly ceps: Store<CepObject>,
    private readonly hub: PolicyHub,
  ) {}

  /** Feeds the engine on the next event-loop turn (CEP changes come in bursts). */
  schedule(): void {
    if (this.timer) return;
    this.timer = setImmediate(() => {
      this.timer = undefined;
      const event = this.event();
      if (event) this.hub.apply([event]);
    });
  }

  /** The event for the current table when it differs from the one last fed, else undefined. */
  event(): PolicyEvent | undefined {
    const table = new Map<string, Map<string, { port: number; protocol: ProtoName }>>();
    for (const cep of this.ceps.list()) {
      for (const np of cep.status?.['named-ports'] ?? []) {
        const protocol = (np.protocol ?? 'TCP').toUpperCase() as ProtoName;
        if (!np.name || !POLICY_PROTOCOLS.includes(protocol)) continue;
        let ports = table.get(np.name);
        if (!ports) table.set(np.name, (ports = new Map()));
        ports.set(`${np.port}/${protocol}`, { port: np.port, protocol });
      }
    }
    const ports = Object.fromEntries(
      [...table]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, m]) => [
          name,
          [...m.values()].sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1)),
        ]),
    );
    const text = JSON.stringify(ports);
    if (text === this.fed) return undefined;
    this.fed = text;
    return { type: 'cluster-named-ports', ports };
  }

  stop(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }
}
