// The devices of tunnel routing mode. VXLAN: a metadata-mode (`external`, collect_md) device in the
// node's network namespace, named as upstream names it (cilium_vxlan); it carries no addresses and
// resolves no neighbours: the datapath sets every packet's tunnel key (remote node IP, VNI = source
// identity) and the device only adds and strips the UDP header. Geneve: no device at all, the
// datapath frames the packets itself (datapath/bpf/geneve.h) on the underlay device, the node's
// device holding its InternalIP; a cilium_geneve left by an older agent is removed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TunnelProtocol } from '../config.js';
import { AgentError, AgentErrorCode } from '../errors.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args);
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new AgentError(AgentErrorCode.Tunnel, `ip ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

export const TUNNEL_DEVICES: Readonly<Record<TunnelProtocol, string>> = {
  vxlan: 'cilium_vxlan',
  geneve: 'cilium_geneve',
};

/** VXLAN and Geneve (without options) both add 50 bytes: outer Ethernet 14, IPv4 20, UDP 8, header 8. */
export const TUNNEL_OVERHEAD = 50;

interface LinkDetail {
  ifindex: number;
  ifname: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { external?: boolean; collect_metadata?: boolean; port?: number } };
}

async function link(name: string): Promise<LinkDetail | undefined> {
  const { stdout } = await run('ip', ['-d', '-j', 'link', 'show', 'dev', name]).catch(() => ({ stdout: '[]' }));
  return (JSON.parse(stdout) as LinkDetail[])[0];
}

/** Whether `l` is the device we want: the kind, metadata mode and the port. */
function matches(l: LinkDetail, protocol: TunnelProtocol, port: number): boolean {
  const info = l.linkinfo;
  const external = info?.info_data?.external === true || info?.info_data?.collect_metadata === true;
  return info?.info_kind === protocol && external && info.info_data?.port === port;
}

/**
 * Makes the tunnel device exist, up, as configured; returns its ifindex. A device of the same name
 * with another port or not in metadata mode is replaced, and the other protocol's device (a
 * switch from VXLAN to Geneve) removed, so only one tunnel listens. A kernel without the driver
 * (CONFIG_VXLAN / CONFIG_GENEVE) fails here with the reason.
 */
export async function ensureTunnelDevice(protocol: TunnelProtocol, port: number, mtu: number): Promise<number> {
  const name = TUNNEL_DEVICES[protocol];
  for (const [p, other] of Object.entries(TUNNEL_DEVICES))
    if (p !== protocol && (await link(other))) await ip('link', 'del', other);
  const cur = await link(name);
  if (cur && !matches(cur, protocol, port)) await ip('link', 'del', name);
  if (!cur || !matches(cur, protocol, port)) {
    try {
      await ip('link', 'add', name, 'type', protocol, 'external', 'dstport', String(port));
    } catch (e) {
      throw new AgentError(
        AgentErrorCode.Tunnel,
        `creating ${name} (${protocol} on UDP ${port}) failed: ${(e as Error).message}; does the kernel have ${protocol === 'vxlan' ? 'CONFIG_VXLAN' : 'CONFIG_GENEVE'}?`,
      );
    }
  }
  // no ARP: the node's own packets to remote pods are routed here and get their tunnel key in BPF
  await ip('link', 'set', name, 'arp', 'off', 'mtu', String(mtu), 'up');
  const l = await link(name);
  if (!l) throw new AgentError(AgentErrorCode.Tunnel, `${name} disappeared after it was created`);
  return l.ifindex;
}

/** Removes both tunnel devices (native routing mode: nothing may keep listening). */
export async function removeTunnelDevices(): Promise<string[]> {
  const removed: string[] = [];
  for (const name of Object.values(TUNNEL_DEVICES))
    if (await link(name)) {
      await ip('link', 'del', name);
      removed.push(name);
    }
  return removed;
}

/** The device holding `address` (the node's InternalIP): Geneve's underlay. */
export async function deviceHolding(address: string): Promise<{ name: string; mtu: number } | undefined> {
  const links = JSON.parse(await ip('-j', 'addr', 'show')) as {
    ifname: string;
    mtu: number;
    addr_info?: { local?: string }[];
  }[];
  const l = links.find((x) => x.addr_info?.some((a) => a.local === address));
  return l ? { name: l.ifname, mtu: l.mtu } : undefined;
}

/** The next hop towards `address` on `device`: the gateway of its route, or itself when on-link. */
export async function nextHop(address: string, device: string): Promise<string> {
  const [r] = JSON.parse(await ip('-j', 'route', 'get', address, 'oif', device)) as { gateway?: string }[];
  return r?.gateway ?? address;
}

/**
 * Makes the routes to other nodes' pod CIDRs exactly `desired` (CIDR → the rest of `ip route
 * replace CIDR …`, e.g. `dev cilium_vxlan src R`); a route whose spec changed is replaced.
 */
export class TunnelRoutes {
  private readonly installed = new Map<string, string[]>();

  async sync(desired: ReadonlyMap<string, string[]>): Promise<void> {
    for (const [c, spec] of desired) {
      if (this.installed.get(c)?.join(' ') === spec.join(' ')) continue;
      await ip('route', 'replace', c, ...spec);
      this.installed.set(c, spec);
    }
    for (const c of [...this.installed.keys()]) {
      if (desired.has(c)) continue;
      await ip('route', 'del', c).catch(() => undefined);
      this.installed.delete(c);
    }
  }
}
