// The cluster named-port feed: the named ports of every pod in the cluster, from the
// CiliumEndpoints, fed to the policy engine when they change (upstream resolves an egress named
// port against all endpoints that name it, local or remote). Kept as reference counts per
// (name, port, protocol), updated per CiliumEndpoint event: a pod event costs its own ports, and the
// engine hears only when the set of distinct named ports changes.
import type { PolicyEvent, ProtoName } from '../../policy/index.js';
import type { Store, StoreChange } from '../framework/index.js';
import type { PolicyHub } from './policy-hub.js';
import type { CepObject } from './resources.js';

/** Container ports are TCP, UDP or SCTP; anything else cannot be a policy port. */
const POLICY_PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

/** `name/port/PROTO` of each policy-usable named port of a CiliumEndpoint, without repeats. */
export function cepNamedPorts(cep: CepObject | undefined): string[] {
  const out = new Set<string>();
  for (const np of cep?.status?.['named-ports'] ?? []) {
    const protocol = (np.protocol ?? 'TCP').toUpperCase();
    if (np.name && POLICY_PROTOCOLS.includes(protocol)) out.add(`${np.name}/${np.port}/${protocol}`);
  }
  return [...out];
}

export class NamedPortsFeed {
  private timer?: NodeJS.Immediate;
  /** The table last fed to the engine, as text (to feed only changes). */
  private fed = '';
  /** `name/port/PROTO` → how many CiliumEndpoints name it */
  private readonly counts = new Map<string, number>();
  /** CiliumEndpoint key → its `name/port/PROTO` entries (only endpoints that have some) */
  private readonly byCep = new Map<string, string[]>();
  private changed = true;
  private readonly unsubscribe: () => void;

  constructor(
    ceps: Store<CepObject>,
    private readonly hub: PolicyHub,
  ) {
    for (const key of ceps.keys()) this.set(key, ceps.get(key));
    this.unsubscribe = ceps.subscribe((c) => this.onCep(c));
  }

  /** Distinct (name, port, protocol) triples in the cluster (a size metric). */
  get size(): number {
    return this.counts.size;
  }

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
    if (!this.changed) return undefined;
    this.changed = false;
    const table = new Map<string, { port: number; protocol: ProtoName }[]>();
    for (const entry of this.counts.keys()) {
      const [name, port, protocol] = entry.split('/') as [string, string, ProtoName];
      let ports = table.get(name);
      if (!ports) table.set(name, (ports = []));
      ports.push({ port: Number(port), protocol });
    }
    const ports = Object.fromEntries(
      [...table]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, list]) => [name, list.sort((a, b) => a.port - b.port || (a.protocol < b.protocol ? -1 : 1))]),
    );
    const text = JSON.stringify(ports);
    if (text === this.fed) return undefined;
    this.fed = text;
    return { type: 'cluster-named-ports', ports };
  }

  stop(): void {
    this.unsubscribe();
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
  }

  private onCep(c: StoreChange<CepObject>): void {
    if (c.type === 'synced') return;
    if (this.set(c.key, c.type === 'deleted' ? undefined : c.object)) this.schedule();
  }

  /** Replaces one CiliumEndpoint's entries; true when the set of distinct entries changed. */
  private set(key: string, cep: CepObject | undefined): boolean {
    const next = cepNamedPorts(cep);
    const prev = this.byCep.get(key) ?? [];
    if (next.length === 0) this.byCep.delete(key);
    else this.byCep.set(key, next);
    let changed = false;
    for (const e of next) {
      const n = this.counts.get(e) ?? 0;
      this.counts.set(e, n + 1);
      if (n === 0) changed = true;
    }
    for (const e of prev) {
      const n = this.counts.get(e)! - 1;
      if (n > 0) this.counts.set(e, n);
      else {
        this.counts.delete(e);
        changed = true;
      }
    }
    if (changed) this.changed = true;
    return changed;
  }
}
