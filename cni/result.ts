// The success result of ADD in the shape of the configuration's cniVersion. 1.0.0 and 1.1.0 share
// interfaces/ips/routes/dns; 1.1.0 adds the interface MTU and route scopes; 0.3.x/0.4.0 carry
// `version` per IP. Index 1 of `interfaces` is always the pod's interface (what ips[].interface names).
import { SUPPORTED_VERSIONS } from './config.js';
import type { LinkInfo } from './link.js';

export interface CniInterface {
  name: string;
  mac: string;
  sandbox?: string;
  mtu?: number;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: '4' | '6';
}

export interface CniRoute {
  dst: string;
  gw?: string;
  scope?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: Record<string, never>;
}

/** The RT_SCOPE_LINK value of rtnetlink (routes in 1.1.0 results carry numeric scopes). */
const SCOPE_LINK = 253;

export function addResult(
  cniVersion: string,
  host: LinkInfo,
  pod: LinkInfo,
  netns: string,
  ip: string,
  gateway: string,
): CniResult {
  const v11 = cniVersion === '1.1.0';
  const legacy = cniVersion.startsWith('0.');
  return {
    cniVersion,
    interfaces: [
      { name: host.ifname, mac: host.address, ...(v11 ? { mtu: host.mtu } : {}) },
      { name: pod.ifname, mac: pod.address, sandbox: netns, ...(v11 ? { mtu: pod.mtu } : {}) },
    ],
    ips: [{ ...(legacy ? { version: '4' as const } : {}), address: `${ip}/32`, gateway, interface: 1 }],
    routes: [...(v11 ? [{ dst: `${gateway}/32`, scope: SCOPE_LINK }] : []), { dst: '0.0.0.0/0', gw: gateway }],
    dns: {},
  };
}

export function versionResult(cniVersion: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}
