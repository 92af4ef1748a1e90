import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_COMPILE_CACHE, AGENT_NODE_OPTIONS } from '../../cdk8s/agent.js';
import { installManifests } from '../../cdk8s/install-chart.js';
import { CONFIG_DIR } from '../../cdk8s/cilium-config.js';
import { configKeysOf } from '../../config/cilium-config.js';
import { BUILD_DIR, PINNED_NODE, processLaunch } from '../../cdk8s/process-launch.js';

describe('process launch read back from the manifests', () => {
  it('the agent: its argv, its node name from the pod, and every key it reads in its config dir', () => {
    const l = processLaunch('cilium-agent');
    expect(l.argv).toEqual(['cilium-agent', `--config-dir=${CONFIG_DIR}`]);
    expect(l.configDir).toBe(CONFIG_DIR);
    expect(l.env.K8S_NODE_NAME).toEqual({ fieldPath: 'spec.nodeName' });
    expect(Object.keys(l.config)).toEqual(expect.arrayContaining(configKeysOf('agent')));
  });

  it('the operator reads the same ConfigMap, with the values given', () => {
    const l = processLaunch('cilium-operator', {
      operator: { identityGCInterval: '1m' },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.10.0.0/16'] } },
    });
    expect(l.argv).toEqual(['cilium-operator', `--config-dir=${CONFIG_DIR}`]);
    expect(Object.keys(l.config)).toEqual(expect.arrayContaining(configKeysOf('operator')));
    expect(l.config).toMatchObject({ 'identity-gc-interval': '1m', 'cluster-pool-ipv4-cidr': '10.10.0.0/16' });
  });

  it('relay has no config dir, and a disabled relay has no launch', () => {
    const l = processLaunch('hubble-relay', {}, 'cilium');
    expect(l.argv).toEqual([
      'hubble-relay',
      'serve',
      '--peer-service=hubble-peer.cilium.svc.cluster.local:443',
      '--listen-address=:4245',
      '--cluster-name=default',
      // mutual TLS to the agents, with the Secret hubble-relay-client-certs mounted there
      '--tls-hubble-client-cert-file=/var/lib/hubble-relay/tls/client.crt',
      '--tls-hubble-client-key-file=/var/lib/hubble-relay/tls/client.key',
      '--tls-hubble-server-ca-files=/var/lib/hubble-relay/tls/hubble-server-ca.crt',
    ]);
    expect(l.configDir).toBeUndefined();
    expect(() => processLaunch('hubble-relay', { hubble: { relay: { enabled: false } } })).toThrow(
      /no hubble-relay container/,
    );
  });

  it("the agent's Node keeps its young generation within 32 MiB (V8's default follows the machine's memory)", () => {
    const l = processLaunch('cilium-agent');
    expect(l.env.NODE_OPTIONS).toEqual({ value: AGENT_NODE_OPTIONS });
    // allocation with survivors, as an informer's first list: the new space's largest size, MiB
    const script = `const { getHeapSpaceStatistics } = require('node:v8'); const keep = []; let max = 0;
      for (let i = 0; i < 1500000; i++) { const o = { a: 'x'.repeat(100) + i, c: { d: i } }; if (i % 2 === 0) keep.push(o.c);
        if (i % 5000 === 0) max = Math.max(max, getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size); }
      process.stdout.write(String(Math.round(max / 1048576)));`;
    const newSpaceMiB = (nodeOptions?: string) =>
      Number(
        execFileSync(PINNED_NODE, ['-e', script], {
          env: { ...process.env, NODE_OPTIONS: nodeOptions ?? '' },
          encoding: 'utf8',
        }),
      );
    const flagged = newSpaceMiB(AGENT_NODE_OPTIONS);
    expect(flagged).toBeLessThanOrEqual(32);
    // V8's default follows the machine's memory (128 MiB on the 24 GiB machine of decision 45)
    expect(newSpaceMiB()).toBeGreaterThanOrEqual(flagged);
  }, 120_000);

  it("the agent's compiled code is kept on the node, where the next agent pod finds it", () => {
    const l = processLaunch('cilium-agent');
    expect(l.env.NODE_COMPILE_CACHE).toEqual({ value: AGENT_COMPILE_CACHE });
    // a hostPath mount holds it: the pod's own /tmp goes with the pod
    type Pod = {
      containers: { name: string; volumeMounts?: { name: string; mountPath: string }[] }[];
      volumes?: { name: string; hostPath?: { path: string } }[];
    };
    const ds = installManifests({}).find(
      (m) => (m.object as { kind: string }).kind === 'DaemonSet' && JSON.stringify(m.object).includes('"cilium-agent"'),
    )!.object as unknown as { spec: { template: { spec: Pod } } };
    const pod = ds.spec.template.spec;
    const mount = pod.containers
      .find((c) => c.name === 'cilium-agent')!
      .volumeMounts!.find((m) => AGENT_COMPILE_CACHE.startsWith(`${m.mountPath}/`));
    expect(pod.volumes!.find((v) => v.name === mount?.name)?.hostPath?.path).toBe(mount?.mountPath);
    // …and the agent's launcher writes the bundle's code there. A bad option makes the agent exit
    // once loaded, before it touches anything (a start without a cluster would pin its maps
    // under the default bpffs root first).
    const cache = mkdtempSync(join(tmpdir(), 'kts-compile-cache-'));
    try {
      try {
        execFileSync(PINNED_NODE, [join(BUILD_DIR, 'cmd', 'cilium-agent.js'), '--cluster-id=not-a-number'], {
          env: { ...process.env, NODE_COMPILE_CACHE: cache, KUBECONFIG: '/nonexistent' },
          stdio: 'ignore',
          timeout: 60_000,
        });
      } catch {
        // exits 1: AGENT_ERR_CONFIG
      }
      const entries = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(entries.length).toBeGreaterThan(0);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 120_000);
});
