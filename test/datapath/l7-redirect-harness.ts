// Two pods on veth pairs with the kernel datapath and one CiliumNetworkPolicy, as the L7 redirect
// tests need them: the node routes the proxy's mark locally (upstream's ip rule fwmark 0x200/0xf00
// → table 2004 with `local 0.0.0.0/0 dev lo`; tcp_early_demux off so a redirected connection's
// packets reach the proxy's socket, not an early-demuxed one), the policy engine compiles the
// policy into both pods' maps, and the programs are attached to both host veths.
import { execFileSync } from 'node:child_process';
import { defaultConfig } from '../../datapath/datapath.js';
import { KernelDatapath } from '../../datapath/kernel.js';
import { endpointLabels, PolicyEngine, translatePolicy } from '../../policy/index.js';
import { removePins } from './harness.js';
import type { Topology } from './netns.js';

export interface L7Pod {
  id: number;
  identity: number;
  /** the pod's `app` label (namespace `prod`) */
  app: string;
}

export interface L7Redirect {
  dp: KernelDatapath;
  engine: PolicyEngine;
  /** IP → identity as the datapath's ipcache has it (the node's addresses are the host) */
  ipcache: Record<string, number>;
  /** the local endpoint with this IP */
  endpointByIp: (ip: string) => { id: number; identity: number } | undefined;
}

/** Sets up `topo` (already created) for pods a and b under the CNP `name` with `spec`. */
export function l7Redirect(topo: Topology, pins: string, a: L7Pod, b: L7Pod, name: string, spec: object): L7Redirect {
  execFileSync('ip', ['-n', topo.node, 'rule', 'add', 'fwmark', '0x200/0xf00', 'lookup', '2004', 'pref', '9']);
  execFileSync('ip', ['-n', topo.node, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '2004']);
  execFileSync('ip', ['netns', 'exec', topo.node, 'sysctl', '-qw', 'net.ipv4.tcp_early_demux=0']);
  const engine = new PolicyEngine();
  const labels = (app: string) => endpointLabels({ podLabels: { app }, namespace: 'prod', namespaceLabels: {} });
  engine.apply([
    { type: 'identity-upserted', id: a.identity, labels: labels(a.app) },
    { type: 'identity-upserted', id: b.identity, labels: labels(b.app) },
    { type: 'endpoint-upserted', endpoint: { id: a.id, identity: a.identity } },
    { type: 'endpoint-upserted', endpoint: { id: b.id, identity: b.identity } },
    {
      type: 'policy-upserted',
      policy: translatePolicy({
        kind: 'CiliumNetworkPolicy',
        object: { metadata: { name, namespace: 'prod' }, spec: spec as never },
      }),
    },
  ]);
  const dp = new KernelDatapath({ pinRoot: pins, config: { ...defaultConfig } });
  // with their MACs: pod to pod takes local delivery
  dp.syncEndpoints([topo.endpoint(topo.a, a, true), topo.endpoint(topo.b, b, true)]);
  const ipcache: Record<string, number> = {
    [topo.a.ip]: a.identity,
    [topo.b.ip]: b.identity,
    [topo.a.gw]: 1,
    [topo.b.gw]: 1,
  };
  dp.syncIpcache(Object.entries(ipcache).map(([prefix, identity]) => ({ prefix, identity })));
  dp.writePolicy(
    new Map([
      [a.id, { mode: 'swap', entries: engine.endpointEntries(a.id) }],
      [b.id, { mode: 'swap', entries: engine.endpointEntries(b.id) }],
    ]),
  );
  dp.attach(topo.ifindex(topo.a), topo.nodePath);
  dp.attach(topo.ifindex(topo.b), topo.nodePath);
  const eps = new Map([
    [topo.a.ip, { id: a.id, identity: a.identity }],
    [topo.b.ip, { id: b.id, identity: b.identity }],
  ]);
  return { dp, engine, ipcache, endpointByIp: (ip) => eps.get(ip) };
}

/** Closes what `l7Redirect` made and removes the namespaces and pins, each even when one before failed. */
export function l7Teardown(r: L7Redirect | undefined, topo: Topology, pins: string): void {
  try {
    r?.dp.close();
  } finally {
    topo.destroy();
    removePins(pins);
  }
}
