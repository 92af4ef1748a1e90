// The configuration contract between the install and the binaries: a process started the way the
// manifests start it (argv, env, cilium-config projected as files) ends up with the options the
// values asked for, and reads no key that neither the ConfigMap nor a documented flag provides.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_KEYS } from '../../cdk8s/cilium-config.js';
import { type ProcessLaunch, processLaunch, writeConfigDir } from '../../cdk8s/process-launch.js';
import { loadConfig } from '../../controllers/framework/config.js';
import { operatorOptions } from '../../controllers/operator/operator.js';
import { agentOptions } from '../../controllers/agent/config.js';

/** Keys the operator may read that are flags or defaults, not cilium-config entries. */
const OPERATOR_FLAG_KEYS = ['config-dir', 'kubeconfig', 'identity', 'k8s-namespace', 'skip-crd-creation', 'leader-election-lease-duration-ms', 'leader-election-renew-deadline-ms', 'leader-election-retry-period-ms'];

/** Keys the agent may read that are flags, defaults or devcluster settings, not cilium-config entries. */
const AGENT_FLAG_KEYS = ['config-dir', 'node-name', 'kubeconfig', 'socket-path', 'state-dir', 'datapath', 'manage-node-network', 'pod-cidr-timeout-ms'];

/** The keys a options function reads from the configuration it is given. */
function keysRead(config: Record<string, string>, read: (c: Record<string, string>) => unknown): string[] {
  const seen = new Set<string>();
  const recording = new Proxy(config, {
    get(target, key) {
      if (typeof key === 'string') seen.add(key);
      return Reflect.get(target, key);
    },
  });
  read(recording);
  return [...seen];
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-contract-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The process's effective configuration, loaded by the framework from a kubelet-like projection. */
function started(l: ProcessLaunch): { config: Record<string, string>; env: NodeJS.ProcessEnv } {
  writeConfigDir(dir, l.config);
  writeFileSync(join(dir, '..data'), 'kubelet bookkeeping'); // the kubelet's atomic-update link; must be ignored
  const argv = l.argv.slice(1).map((a) => (l.configDir && a === `--config-dir=${l.configDir}` ? `--config-dir=${dir}` : a));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(l.env)) {
    if ('value' in v) env[k] = v.value;
    else if ('fieldPath' in v) env[k] = v.fieldPath === 'metadata.namespace' ? 'cilium' : 'node-1';
  }
  return { config: loadConfig(argv), env };
}

describe('cilium-operator started as the manifests start it', () => {
  it('gets the IPAM pools, mask, health address and lease namespace the values give', () => {
    const l = processLaunch('cilium-operator', { ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.10.0.0/16', '10.20.0.0/16'], clusterPoolIPv4MaskSize: 26 } }, operator: { healthPort: 19234 } }, 'cilium');
    const { config, env } = started(l);
    const o = operatorOptions(config, env);
    expect(o.clusterPoolIpv4Cidr).toEqual(['10.10.0.0/16', '10.20.0.0/16']);
    expect(o.clusterPoolIpv4MaskSize).toBe(26);
    expect(o.healthAddr).toEqual({ host: '127.0.0.1', port: 19234 });
    expect(o.namespace).toBe('cilium');
  });

  it('reads only cilium-config keys and documented flags', () => {
    const { config, env } = started(processLaunch('cilium-operator'));
    const read = keysRead(config, (c) => operatorOptions(c, env));
    const known = new Set([...CONFIG_KEYS.map((k) => k.key), ...OPERATOR_FLAG_KEYS]);
    expect(read.filter((k) => !known.has(k))).toEqual([]);
    expect(read).toEqual(expect.arrayContaining(['cluster-pool-ipv4-cidr', 'cluster-pool-ipv4-mask-size', 'operator-api-serve-addr']));
  });
});

describe('cilium-agent started as the manifests start it', () => {
  it('gets the node name from its pod and the options the values give', () => {
    const l = processLaunch('cilium-agent', { cluster: { name: 'east' }, policyEnforcementMode: 'always', healthPort: 19879, bpf: { policyMapMax: 32768, root: '/run/bpffs' }, prometheus: { enabled: false } });
    const { config, env } = started(l);
    const o = agentOptions(config, env);
    expect(o).toMatchObject({ nodeName: 'node-1', clusterName: 'east', enforcement: 'always', healthPort: 19879, policyMapMax: 32768, bpfRoot: '/run/bpffs', prometheusAddr: '', autoDirectNodeRoutes: true });
    expect(agentOptions(started(processLaunch('cilium-agent', { autoDirectNodeRoutes: false })).config, env).autoDirectNodeRoutes).toBe(false);
  });

  it('reads only cilium-config keys and documented flags', () => {
    const { config, env } = started(processLaunch('cilium-agent'));
    const read = keysRead(config, (c) => agentOptions(c, env));
    const known = new Set([...CONFIG_KEYS.map((k) => k.key), ...AGENT_FLAG_KEYS]);
    expect(read.filter((k) => !known.has(k))).toEqual([]);
    expect(read).toEqual(expect.arrayContaining(['cluster-name', 'enable-policy', 'bpf-root', 'agent-health-port', 'prometheus-serve-addr', 'bpf-policy-map-max', 'routing-mode']));
  });
});
