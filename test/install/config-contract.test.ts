// The configuration contract between the install and the binaries: a process started the way the
// manifests start it (argv, env, cilium-config projected as files) ends up with the options the
// values asked for; it reads exactly the cilium-config keys config/cilium-config.ts lists for it
// (nothing in the ConfigMap is silently ignored) plus documented flags; a value it cannot act on
// stops it at start-up with the key named; a key nobody knows is reported.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_KEYS, configKeysOf } from '../../config/cilium-config.js';
import { type ProcessLaunch, processLaunch, writeConfigDir } from '../../cdk8s/process-launch.js';
import { loadConfig } from '../../controllers/framework/config.js';
import { ConfigReader } from '../../controllers/framework/config-reader.js';
import { ConfigError } from '../../controllers/framework/errors.js';
import { OPERATOR_CONFIG_ERROR, operatorOptions } from '../../controllers/operator/config.js';
import { AGENT_CONFIG_ERROR, agentOptions } from '../../controllers/agent/config.js';
import { hubbleConfig } from '../../hubble/options.js';
import { REPO } from './tools.js';

/** Keys the operator may read that are flags or defaults, not cilium-config entries. */
const OPERATOR_FLAG_KEYS = [
  'kubeconfig',
  'identity',
  'k8s-namespace',
  'skip-crd-creation',
  'validate-network-policy',
  'leader-election-lease-duration-ms',
  'leader-election-renew-deadline-ms',
  'leader-election-retry-period-ms',
  'operator-k8s-client-qps',
  'operator-k8s-client-burst',
  'kvstore-lease-ttl',
  'kvstore-heartbeat-timeout',
  'kvstore-heartbeat-interval',
];

/** Keys the agent may read that are flags, defaults or devcluster settings, not cilium-config entries. */
const AGENT_FLAG_KEYS = [
  'node-name',
  'kubeconfig',
  'socket-path',
  'state-dir',
  'datapath',
  'manage-node-network',
  'pod-cidr-timeout-ms',
  'cni-conf-dir',
  'kvstore-lease-ttl',
  'kvstore-heartbeat-timeout',
  'kvstore-heartbeat-interval',
];

const ALL_KEYS: string[] = CONFIG_KEYS.map((k) => k.key);

/** A process's cilium-config keys, each at the default the contract gives it. */
function contractDefaults(process: 'agent' | 'operator'): Record<string, string> {
  const keys = configKeysOf(process);
  return Object.fromEntries(CONFIG_KEYS.filter((k) => keys.includes(k.key)).map((k) => [k.key, k.default]));
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-contract-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The process's effective configuration, loaded by the framework from a kubelet-like projection. */
function started(
  l: ProcessLaunch,
  extra: Record<string, string> = {},
): { config: Record<string, string>; env: NodeJS.ProcessEnv } {
  writeConfigDir(dir, { ...l.config, ...extra });
  writeFileSync(join(dir, '..data'), 'kubelet bookkeeping'); // the kubelet's atomic-update link; must be ignored
  const argv = l.argv
    .slice(1)
    .map((a) => (l.configDir && a === `--config-dir=${l.configDir}` ? `--config-dir=${dir}` : a));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(l.env)) {
    if ('value' in v) env[k] = v.value;
    else if ('fieldPath' in v) env[k] = v.fieldPath === 'metadata.namespace' ? 'cilium' : 'node-1';
  }
  return { config: loadConfig(argv), env };
}

/** What cmd/cilium-agent.ts parses: the agent's options and Hubble's, from one recording reader. */
function parseAgent(config: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const reader = new ConfigReader(config, AGENT_CONFIG_ERROR);
  return { options: agentOptions(reader, env), hubble: hubbleConfig(reader.view), reader };
}

/** What cmd/cilium-operator.ts parses. */
function parseOperator(config: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const reader = new ConfigReader(config, OPERATOR_CONFIG_ERROR);
  return { options: operatorOptions(reader, env), reader };
}

/** The ConfigError a parse throws (fails the test when it does not throw one). */
function refusal(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('the configuration was accepted');
}

/** Splits the keys a parser read into cilium-config keys and the rest. */
const split = (read: string[]) => ({
  configMap: read.filter((k) => ALL_KEYS.includes(k)).sort(),
  other: read.filter((k) => !ALL_KEYS.includes(k)),
});

describe('cilium-operator started as the manifests start it', () => {
  it('gets the IPAM pools, mask, health and metrics addresses, lease namespace and log level the values give', () => {
    const l = processLaunch(
      'cilium-operator',
      {
        debug: { enabled: true },
        ipam: {
          operator: { clusterPoolIPv4PodCIDRList: ['10.10.0.0/16', '10.20.0.0/16'], clusterPoolIPv4MaskSize: 26 },
        },
        operator: { healthPort: 19234, nodeGCInterval: '2m' },
      },
      'cilium',
    );
    const { config, env } = started(l);
    const o = parseOperator(config, env).options;
    expect(o.clusterPoolIpv4Cidr).toEqual(['10.10.0.0/16', '10.20.0.0/16']);
    expect(o.clusterPoolIpv4MaskSize).toBe(26);
    expect(o.healthAddr).toEqual({ host: '127.0.0.1', port: 19234 });
    expect(o.metricsAddr).toEqual({ host: '', port: 9963 });
    expect(o.namespace).toBe('cilium');
    expect(o.debug).toBe(true);
    expect(o.gc.nodeGcIntervalMs).toBe(120_000);
    expect(
      parseOperator(started(processLaunch('cilium-operator', { operator: { prometheus: { enabled: false } } })).config)
        .options.metricsAddr,
    ).toBeUndefined();
  });

  it('reads exactly the cilium-config keys listed for it, plus documented flags', () => {
    const { config, env } = started(processLaunch('cilium-operator'));
    const { configMap, other } = split(parseOperator(config, env).reader.keysRead());
    expect(configMap).toEqual(configKeysOf('operator').sort());
    expect(other.filter((k) => !OPERATOR_FLAG_KEYS.includes(k))).toEqual([]);
  });

  it('takes the default the contract gives each of its keys when the key is absent', () => {
    const env = { K8S_NODE_NAME: 'node-1' };
    expect(parseOperator(contractDefaults('operator'), env).options).toEqual(parseOperator({}, env).options);
  });

  it("reports a key nobody knows, not the agent's keys of the shared ConfigMap", () => {
    const { config, env } = started(processLaunch('cilium-operator'), { 'enable-bgp-control-plane': 'true' });
    const { reader } = parseOperator(config, env);
    expect(reader.unknownKeys(ALL_KEYS)).toEqual(['enable-bgp-control-plane']);
  });
});

describe('cilium-agent started as the manifests start it', () => {
  it('gets the node name from its pod and the options the values give', () => {
    const l = processLaunch('cilium-agent', {
      cluster: { name: 'east', id: 7 },
      debug: { enabled: true },
      policyEnforcementMode: 'always',
      healthPort: 19879,
      bpf: { policyMapMax: 32768, root: '/run/bpffs', ctTcpMax: 100_000, ctAnyMax: 50_000 },
      prometheus: { enabled: false },
      cni: { exclusive: false },
      conntrackGCInterval: '2m',
      identityChangeGracePeriod: '10s',
      dnsProxy: { minTtl: 3600, endpointMaxIpPerHostname: 50 },
    });
    const { config, env } = started(l);
    const o = parseAgent(config, env).options;
    expect(o).toMatchObject({
      nodeName: 'node-1',
      clusterName: 'east',
      clusterId: 7,
      debug: true,
      enforcement: 'always',
      healthPort: 19879,
      policyMapMax: 32768,
      bpfRoot: '/run/bpffs',
      ctMapSize: 150_000,
      autoDirectNodeRoutes: true,
      cniExclusive: false,
      conntrackGcIntervalMs: 120_000,
      identityChangeGracePeriodMs: 10_000,
      fqdn: { minTtlSeconds: 3600, maxIpsPerHostname: 50 },
    });
    expect(o.prometheusAddr).toBeUndefined();
    expect(
      parseAgent(started(processLaunch('cilium-agent', { autoDirectNodeRoutes: false })).config, env).options
        .autoDirectNodeRoutes,
    ).toBe(false);
  });

  it('the defaults: metrics on :9962, the conntrack table tcp-max + any-max, adaptive GC, a 5 s grace period, cni-exclusive', () => {
    const { config, env } = started(processLaunch('cilium-agent'));
    expect(parseAgent(config, env).options).toMatchObject({
      prometheusAddr: { host: '', port: 9962 },
      ctMapSize: 524288 + 262144,
      conntrackGcIntervalMs: 0,
      identityChangeGracePeriodMs: 5000,
      fqdn: { minTtlSeconds: 0, maxIpsPerHostname: 1000 },
      cniExclusive: true,
      clusterId: 0,
    });
  });

  it('reads exactly the cilium-config keys listed for it (agent and Hubble), plus documented flags', () => {
    const { config, env } = started(processLaunch('cilium-agent'));
    const { configMap, other } = split(parseAgent(config, env).reader.keysRead());
    expect(configMap).toEqual(configKeysOf('agent').sort());
    expect(other.filter((k) => !AGENT_FLAG_KEYS.includes(k))).toEqual([]);
  });

  it('takes the default the contract gives each of its keys when the key is absent (agent and Hubble)', () => {
    const env = { K8S_NODE_NAME: 'node-1' };
    const { options, hubble } = parseAgent(contractDefaults('agent'), env);
    expect({ options, hubble }).toEqual({ options: parseAgent({}, env).options, hubble: parseAgent({}, env).hubble });
  });

  it('tunnel routing: VXLAN on 8472 or Geneve on 6081 unless tunnel-port says otherwise', () => {
    const { config, env } = started(
      processLaunch('cilium-agent', { routingMode: 'tunnel', autoDirectNodeRoutes: false }),
    );
    expect(parseAgent(config, env).options).toMatchObject({
      routingMode: 'tunnel',
      tunnelProtocol: 'vxlan',
      tunnelPort: 8472,
      autoDirectNodeRoutes: false,
    });
    expect(parseAgent({ ...config, 'tunnel-protocol': 'geneve' }, env).options.tunnelPort).toBe(6081);
    expect(parseAgent({ ...config, 'tunnel-port': '4789' }, env).options.tunnelPort).toBe(4789);
    expect(parseAgent(started(processLaunch('cilium-agent')).config, env).options.routingMode).toBe('native');
  });

  it.each([
    ['auto-direct-node-routes', 'true', /cannot be used with routing-mode "tunnel"/],
    ['manage-node-network', 'false', /the agent creates the tunnel device/],
    ['datapath', 'sim', /needs the kernel datapath/],
    ['tunnel-port', '70000', /integer from 0 to 65535/],
  ])('tunnel routing refuses %s=%s', (key, value, reason) => {
    const { config, env } = started(
      processLaunch('cilium-agent', { routingMode: 'tunnel', autoDirectNodeRoutes: false }),
    );
    const e = refusal(() => parseAgent({ ...config, [key]: value }, env));
    expect(e).toMatchObject({ code: 'AGENT_ERR_CONFIG', key, value });
    expect(e.message).toMatch(reason);
  });

  it("reports a key nobody knows, not the operator's keys of the shared ConfigMap", () => {
    const { config, env } = started(processLaunch('cilium-agent'), { 'enable-wireguard': 'true' });
    expect(parseAgent(config, env).reader.unknownKeys(ALL_KEYS)).toEqual(['enable-wireguard']);
  });
});

describe('values cilium-ts cannot act on are refused at start-up, naming the key', () => {
  const agentDefaults = () => started(processLaunch('cilium-agent')).config;
  const operatorDefaults = () => started(processLaunch('cilium-operator')).config;

  it.each([
    ['routing-mode', 'bgp', /unknown value \(supported: "native", "tunnel"\)/],
    ['tunnel-port', '8472', /only used with routing-mode "tunnel"/],
    ['tunnel-protocol', 'ipip', /unknown value \(supported: "vxlan", "geneve"\)/],
    // kvstore identities need an etcd (`kvstore: etcd`); without it the mode is refused
    ['identity-allocation-mode', 'kvstore', /"kvstore" needs kvstore: etcd/],
    ['identity-allocation-mode', 'doublewrite-readkvstore', /doublewrite migration modes are not supported/],
    ['enable-ipv4', 'false', /IPv4 only/],
    ['enable-ipv6', 'true', /IPv6 pod addressing is not supported/],
    ['ipam', 'kubernetes', /not supported by cilium-ts; use "cluster-pool"/],
    ['cluster-id', '256', /integer from 0 to 255/],
    ['cluster-id', 'one', /integer from 0 to 255/],
    ['cluster-name', 'East_1', /lowercase/],
    ['debug', 'yes', /"true" or "false"/],
    ['monitor-aggregation', 'none', /never every packet/],
    ['monitor-aggregation', 'low', /never traces every packet/],
    ['bpf-ct-global-tcp-max', '100', /integer from 1024 to 16777216/],
    ['bpf-ct-global-any-max', '0', /integer from 1024 to 16777216/],
    ['bpf-policy-map-max', '70000', /integer from 256 to 65536/],
    ['conntrack-gc-interval', '5 minutes', /Go duration/],
    ['identity-change-grace-period', 'soon', /Go duration/],
    ['tofqdns-min-ttl', '-1', /integer from 0/],
    ['tofqdns-endpoint-max-ip-per-hostname', 'many', /integer from 1/],
    ['enable-policy', 'sometimes', /unknown value/],
    ['cni-exclusive', 'maybe', /"true" or "false"/],
    ['prometheus-serve-addr', '9962', /":port" or "host:port"/],
    ['agent-health-port', '70000', /integer from 0 to 65535/],
    ['bpf-lb-sock', 'false', /only in-cluster Service translation/],
    ['bpf-lb-algorithm', 'maglev', /Maglev .* not yet supported/],
    ['bpf-lb-map-max', '100', /integer from 1024 to 16777216/],
    ['node-port-range', '32767-30000', /"min-max"/],
    ['kube-proxy-replacement', 'partial', /"true" or "false"/],
  ])('agent: %s=%s', (key, value, reason) => {
    const e = refusal(() => parseAgent({ ...agentDefaults(), [key]: value }));
    expect(e).toMatchObject({ code: 'AGENT_ERR_CONFIG', key, value });
    expect(e.message).toContain(`${key}=${JSON.stringify(value)}: `);
    expect(e.message).toMatch(reason);
  });

  it.each([
    // kvstore identities need an etcd (`kvstore: etcd`); without it the mode is refused
    ['identity-allocation-mode', 'kvstore', /"kvstore" needs kvstore: etcd/],
    ['identity-allocation-mode', 'doublewrite-readkvstore', /doublewrite migration modes are not supported/],
    ['enable-ipv4', 'false', /IPv4 only/],
    ['enable-ipv6', 'true', /IPv6 pod addressing is not supported/],
    ['ipam', 'multi-pool', /multi-pool IPAM is not supported/],
    ['debug', 'on', /"true" or "false"/],
    ['cluster-pool-ipv4-mask-size', '33', /integer from 1 to 32/],
    ['nodes-gc-interval', '5', /Go duration/],
    ['identity-gc-rate-limit', '-1', /integer from 1/],
    ['operator-prometheus-serve-addr', 'metrics', /":port" or "host:port"/],
  ])('operator: %s=%s', (key, value, reason) => {
    const e = refusal(() => parseOperator({ ...operatorDefaults(), [key]: value }));
    expect(e).toMatchObject({ code: 'OPERATOR_ERR_CONFIG', key, value });
    expect(e.message).toMatch(reason);
  });

  it.each([
    ['cilium-agent', 'bpf-lb-algorithm', 'maglev', 'AGENT_ERR_CONFIG: bpf-lb-algorithm="maglev"'],
    ['cilium-operator', 'enable-ipv6', 'true', 'OPERATOR_ERR_CONFIG: enable-ipv6="true"'],
  ] as const)(
    'the %s binary exits 1 before doing anything, saying why (%s=%s)',
    (bin, key, value, expected) => {
      writeConfigDir(dir, { ...processLaunch(bin).config, [key]: value });
      const r = spawnSync(
        join(REPO, 'node_modules', '.bin', 'node'),
        ['--import', 'tsx', join(REPO, 'cmd', `${bin}.ts`), `--config-dir=${dir}`],
        { cwd: REPO, encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${bin}: invalid configuration: ${expected}`);
    },
    60_000,
  );
});
