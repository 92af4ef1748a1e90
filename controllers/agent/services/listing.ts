// What `cilium-dbg service list` and `cilium-dbg bpf lb list` show, from the LB maps as the kernel
// holds them (upstream cilium-dbg/cmd/service_list.go and bpf_lb_list.go: the same columns).
import { frontendId, type LbMapRow, type LbServiceType } from '../../../datapath/lb.js';
import { SvcFlag } from '../../../datapath/lb-constants.js';

/** One frontend as `service list` prints it. */
export interface ServiceModel {
  /** the frontend's rev-NAT id (upstream's service ID) */
  id: number;
  frontend: string;
  type: LbServiceType;
  /** "namespace/name" when the agent knows it */
  name?: string;
  backends: { id: number; address: string; state: string }[];
}

export function serviceType(flags: number): LbServiceType {
  if (flags & SvcFlag.nodePort) return 'NodePort';
  if (flags & SvcFlag.externalIp) return 'ExternalIPs';
  if (flags & SvcFlag.loadBalancer) return 'LoadBalancer';
  if (flags & SvcFlag.hostPort) return 'HostPort';
  return 'ClusterIP';
}

const addr = (a: { address: string; port: number; proto: string }) => `${a.address}:${a.port}/${a.proto}`;

/** Frontends with their backends in slot order; `names` maps frontendId() to the Service. */
export function serviceModels(rows: readonly LbMapRow[], names: ReadonlyMap<string, string>): ServiceModel[] {
  const out: ServiceModel[] = [];
  let cur: ServiceModel | undefined;
  for (const r of rows) {
    if (r.slot === 0) {
      const name = names.get(frontendId(r.frontend));
      cur = {
        id: r.revNatIndex,
        frontend: addr(r.frontend),
        type: serviceType(r.flags ?? 0),
        ...(name ? { name } : {}),
        backends: [],
      };
      out.push(cur);
    } else if (cur && cur.id === r.revNatIndex && r.backend) {
      cur.backends.push({ id: r.backendId ?? 0, address: addr(r.backend), state: r.backend.state });
    }
  }
  return out.sort((a, b) => a.id - b.id);
}

/** `service list` rows: ID, Frontend, Service Type, Backend ("1 => addr (state)", one line per backend). */
export function serviceListRows(models: readonly ServiceModel[]): string[][] {
  const rows: string[][] = [];
  for (const m of models) {
    const backends = m.backends.map((b, i) => `${i + 1} => ${b.address} (${b.state})`);
    rows.push([String(m.id), m.frontend, m.type, backends[0] ?? '']);
    for (const b of backends.slice(1)) rows.push(['', '', '', b]);
  }
  return rows;
}

/** The flags upstream prints after a frontend row of `bpf lb list`. */
function flagNames(r: LbMapRow): string {
  const f = r.flags ?? 0;
  const names: string[] = [serviceType(f)];
  if (!(f & SvcFlag.routable)) names.push('non-routable');
  if (f & SvcFlag.affinity) names.push('sessionAffinity');
  if (f & SvcFlag.extLocalScope) names.push('Local');
  return `[${names.join(', ')}]`;
}

/** `bpf lb list` rows: SERVICE ADDRESS, BACKEND ADDRESS (REVNAT_ID) (SLOT). */
export function lbListRows(rows: readonly LbMapRow[]): string[][] {
  return rows.map((r) => [
    `${addr(r.frontend)} (${r.slot})`,
    r.slot === 0
      ? `0.0.0.0:0 (${r.revNatIndex}) (0) ${flagNames(r)}`
      : `${r.backend ? addr(r.backend) : `backend ${r.backendId} (missing)`} (${r.revNatIndex}) (${r.slot})`,
  ]);
}
