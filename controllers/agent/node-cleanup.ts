// Removes what the agent and the CNI installer put on a node, once the agent is gone for good
// (upstream's `cilium-dbg post-uninstall-cleanup`, run here by `cilium uninstall` through a
// short-lived DaemonSet). Never part of an agent's shutdown: a restart or an upgrade must find its
// pins, filters and routes where it left them.
//
// What is ours, and so removed:
// - tc filters running one of our programs (every BPF program of ours is named `cil_…`), on any
//   link: the endpoints' lxc veths and the node device;
// - the pins under `<bpf-root>/tc/globals` (maps, and the socket-LB's cgroup links: a BPF link whose
//   last reference is its pin is detached when the pin goes);
// - `cilium_host` / `cilium_net` and any other `cilium_*` link;
// - routes through a gateway into the pod CIDR pools (the other nodes' pod CIDRs);
// - the conflist and the plugin (`cilium-cni`, `cilium-cni.d`), and the CNI configurations
//   `cni-exclusive` renamed to `*.cilium_bak` are put back.
// What stays: a running pod's lxc veth (deleting it would take the pod's only interface for good;
// it goes with the pod's network namespace) and its /32 route, and the endpoint state in
// `state-dir`, so that a reinstall restores those endpoints.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeCniConf } from './cni-config.js';
import { CILIUM_CONFLIST } from './cni-exclusive.js';

const run = promisify(execFile);

export interface NodeCleanupOptions {
  /** `bpf-root`: the bpffs mount; our pins are under `<bpfRoot>/tc/globals`. */
  bpfRoot: string;
  /** The CNI configuration directory as mounted (the agent pod's `/host/etc/cni/net.d`). */
  cniConfDir: string;
  /** The CNI plugin directory as mounted (the agent pod's `/host/opt/cni/bin`). */
  cniBinDir: string;
  /**
   * `cluster-pool-ipv4-cidr`: a route through a gateway into one of these is one the agent made to
   * another node's pod CIDR. Empty: no route is removed.
   */
  podPools: string[];
  /** Run `ip`/`tc` in this named network namespace (tests); default: the process's own. */
  netns?: string;
}

/** What was removed or put back, for the log and the CLI. */
export interface NodeCleanupReport {
  /** `<link> <ingress|egress> <program>` */
  filters: string[];
  links: string[];
  routes: string[];
  pins: string[];
  cni: { removed: string[]; restored: string[] };
}

/** The file names install-cni puts in the plugin directory. */
export const CNI_PLUGIN_FILES = ['cilium-cni', 'cilium-cni.d'];
/** Every BPF program of ours carries this prefix (datapath/constants.ts, lb-constants.ts). */
const OUR_PROGRAM = /^cil_/;

interface Link {
  ifname: string;
}
interface TcFilter {
  kind?: string;
  pref?: number;
  options?: { handle?: string; prog?: { name?: string } };
}
interface Route {
  dst?: string;
  gateway?: string;
  dev?: string;
}

const ipToInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;

/** Whether `inner` (a CIDR or an address) lies inside `outer` (a CIDR). */
export function cidrWithin(inner: string, outer: string): boolean {
  const [oa, ol] = outer.split('/');
  const [ia, il] = inner.split('/');
  const olen = Number(ol);
  const ilen = il === undefined ? 32 : Number(il);
  if (!oa || !ia || !(ilen >= olen)) return false;
  const mask = olen === 0 ? 0 : (0xffffffff << (32 - olen)) >>> 0;
  return (ipToInt(ia) & mask) >>> 0 === (ipToInt(oa) & mask) >>> 0;
}

export class NodeCleanup {
  constructor(private readonly o: NodeCleanupOptions) {}

  private async cmd(tool: 'ip' | 'tc', ...args: string[]): Promise<string> {
    const { stdout } = await run(tool, this.o.netns ? ['-n', this.o.netns, ...args] : args);
    return stdout;
  }

  private async json<T>(tool: 'ip' | 'tc', ...args: string[]): Promise<T[]> {
    const out = (await this.cmd(tool, '-j', ...args)).trim();
    return out ? (JSON.parse(out) as T[]) : [];
  }

  /** Runs every step; a step that fails does not stop the others (the first error is thrown at the end). */
  async run(): Promise<NodeCleanupReport> {
    const report: NodeCleanupReport = {
      filters: [],
      links: [],
      routes: [],
      pins: [],
      cni: { removed: [], restored: [] },
    };
    const errors: Error[] = [];
    const step = async (f: () => Promise<void> | void) => {
      try {
        await f();
      } catch (e) {
        errors.push(e as Error);
      }
    };
    await step(async () => void report.filters.push(...(await this.removeFilters())));
    await step(async () => void report.routes.push(...(await this.removeRoutes())));
    await step(async () => void report.links.push(...(await this.removeLinks())));
    await step(() => void report.pins.push(...this.removePins()));
    await step(() => void (report.cni = this.removeCni()));
    if (errors.length) throw errors[0]!;
    return report;
  }

  /** Deletes every tc filter that runs one of our programs, on every link. */
  async removeFilters(): Promise<string[]> {
    const removed: string[] = [];
    for (const { ifname } of await this.json<Link>('ip', 'link', 'show')) {
      for (const dir of ['ingress', 'egress'] as const) {
        // a link without a clsact qdisc has no such hook: tc fails, and there is nothing to remove
        const filters = await this.json<TcFilter>('tc', 'filter', 'show', 'dev', ifname, dir).catch(() => []);
        for (const f of filters) {
          const name = f.options?.prog?.name;
          if (f.kind !== 'bpf' || !name || !OUR_PROGRAM.test(name) || f.pref === undefined || !f.options?.handle)
            continue;
          await this.cmd(
            'tc',
            'filter',
            'del',
            'dev',
            ifname,
            dir,
            'pref',
            String(f.pref),
            'handle',
            f.options.handle,
            'bpf',
          );
          removed.push(`${ifname} ${dir} ${name}`);
        }
      }
    }
    return removed;
  }

  /** Deletes the routes through a gateway into the pod pools (to the other nodes' pod CIDRs). */
  async removeRoutes(): Promise<string[]> {
    const removed: string[] = [];
    if (!this.o.podPools.length) return removed;
    for (const r of await this.json<Route>('ip', 'route', 'show')) {
      if (!r.dst || !r.gateway || r.dst === 'default') continue;
      if (!this.o.podPools.some((pool) => cidrWithin(r.dst!, pool))) continue;
      await this.cmd('ip', 'route', 'del', r.dst, 'via', r.gateway);
      removed.push(`${r.dst} via ${r.gateway}`);
    }
    return removed;
  }

  /** Deletes cilium_host, cilium_net and any other cilium_* link; returns every name that went. */
  async removeLinks(): Promise<string[]> {
    const ours = (await this.json<Link>('ip', 'link', 'show'))
      .map((l) => l.ifname)
      .filter((n) => n.startsWith('cilium_'));
    for (const name of ours) {
      // deleting one end of a veth pair (cilium_host) takes the other with it
      const still = (await this.json<Link>('ip', 'link', 'show')).some((l) => l.ifname === name);
      if (still) await this.cmd('ip', 'link', 'del', name);
    }
    return ours.sort();
  }

  /** Removes `<bpfRoot>/tc/globals` (and `tc` when nothing else is in it); returns the pin names. */
  removePins(): string[] {
    const tc = join(this.o.bpfRoot, 'tc');
    const globals = join(tc, 'globals');
    if (!existsSync(globals)) return [];
    const pins = readdirSync(globals);
    rmSync(globals, { recursive: true, force: true });
    if (readdirSync(tc).length === 0) rmSync(tc, { recursive: true, force: true });
    return pins;
  }

  /** Removes the conflist and the plugin, and restores the configurations moved aside. */
  removeCni(): { removed: string[]; restored: string[] } {
    const removed: string[] = [];
    const conflist = join(this.o.cniConfDir, CILIUM_CONFLIST);
    for (const f of [conflist, join(this.o.cniConfDir, `.${CILIUM_CONFLIST}.tmp`)]) if (existsSync(f)) removed.push(f);
    const restored = removeCniConf(conflist);
    rmSync(join(this.o.cniConfDir, `.${CILIUM_CONFLIST}.tmp`), { force: true });
    for (const name of CNI_PLUGIN_FILES) {
      const f = join(this.o.cniBinDir, name);
      if (!existsSync(f)) continue;
      rmSync(f, { recursive: true, force: true });
      removed.push(f);
    }
    return { removed, restored };
  }
}
