// `cilium connectivity test` against the two-node devcluster where cilium-ts runs as the pods of its
// own install: every scenario passes; the JUnit file validates; a failed connection is reported
// with the drop reason relay gives; and with policy enforcement deliberately switched off in the
// agents the policy scenarios fail as they should (the suite can fail).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML } from 'xmllint-wasm';
import { binaryEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import { KubeClient, type KubeObject } from '../../controllers/framework/index.js';
import { downDetached, upDetached } from '../../devcluster/cluster.js';
import { PODS } from '../../devcluster/controllers/objects.js';
import { downNodes, upNodes } from '../../devcluster/nodes/nodes.js';
import { eventually, Kubectl } from './harness.js';
import type { Devcluster } from '../../devcluster/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-e2e-connectivity-'));
const XSD = readFileSync(fileURLToPath(new URL('../cmd/connectivity/fixtures/junit.xsd', import.meta.url)), 'utf8');
const relay = `unix://${join(dir, 'nodes', 'hubble-relay.sock')}`;
let client: KubeClient;
let kubectl: Kubectl;

/** `cilium connectivity test …` (the compiled CLI) against the devcluster. */
function connectivity(args: string[]): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const p = spawn(
      PINNED_NODE,
      [binaryEntry('cilium'), 'connectivity', 'test', ...args, '--kubeconfig', join(dir, 'kubeconfig')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (out += d));
    p.on('close', (code) => resolve({ code, out, ms: Date.now() - started }));
  });
}

beforeAll(async () => {
  await upDetached({ dir, port: 0 });
  await upNodes(dir, { nodes: 2, waitForInstall: true });
  client = KubeClient.fromFile(join(dir, 'kubeconfig'));
  kubectl = new Kubectl({ kubeconfig: join(dir, 'kubeconfig'), dir } as Devcluster);
}, 240_000);

afterAll(async () => {
  kubectl?.stopAll();
  client?.close();
  await downNodes(dir).catch(() => undefined);
  await downDetached(dir).catch(() => undefined);
}, 120_000);

describe('cilium connectivity test', () => {
  it('a failed connection is listed with the drop reason relay reports (an echo-denying CCNP in place)', async () => {
    // not the test's own policy: nothing labels it, so the test does not remove it
    await kubectl.ok(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumClusterwideNetworkPolicy',
        metadata: { name: 'sabotage' },
        spec: {
          endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'cilium-test-1', kind: 'echo' } },
          ingressDeny: [{ fromEntities: ['all'] }],
        },
      }),
    );
    const r = await connectivity([
      '--test',
      '^no-policies$',
      '--hubble-server',
      relay,
      '--cleanup=false',
      '--policy-timeout',
      '5',
    ]);
    await kubectl.ok(['delete', 'ccnp', 'sabotage']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^❌ 1\/1 tests failed/m);
    // every connection to an echo pod (by pod IP and through the Service) failed, and says why
    const failed = r.out.split('\n').filter((l) => l.startsWith('  ❌ no-policies/'));
    expect(failed.length).toBeGreaterThanOrEqual(4);
    for (const line of failed.filter((l) => /client-to-(echo|service)-same-node/.test(l)))
      expect(line).toMatch(
        /expected success, got timeout \(Hubble: POLICY_DENY: Policy denied by denylist \(ingress, node-\d\)\)$/,
      );
    // what was not denied still passed
    expect(r.out).not.toMatch(/❌ no-policies\/pod-to-host/);
  }, 300_000);

  it('passes every scenario in under 5 minutes, writes valid JUnit and removes its namespaces', async () => {
    const junit = join(dir, 'junit.xml');
    const r = await connectivity(['--junit-file', junit, '--hubble-server', relay]);
    expect(r.out).toMatch(/^✅ \[cilium-test-1\] All 16 tests \(\d+ actions\) successful, 0 tests skipped\.$/m);
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5 * 60_000);
    for (const name of [
      'no-policies',
      'all-ingress-deny',
      'echo-ingress-knp',
      'echo-ingress-ccnp',
      'client-egress-to-echo-service',
    ])
      expect(r.out).toContain(`[=] [cilium-test-1] Test [${name}]`);
    const xml = readFileSync(junit, 'utf8');
    const v = await validateXML({
      xml: [{ fileName: 'junit.xml', contents: xml }],
      schema: [{ fileName: 'junit.xsd', contents: XSD }],
    });
    expect(v.errors).toEqual([]);
    expect(xml).toContain('tests="16" failures="0"');
    const left = await client.list<KubeObject>(PODS, { namespace: 'cilium-test-1' });
    expect(left.items).toEqual([]);
    expect((await kubectl.run(['get', 'namespace', 'cilium-test-1'])).code).not.toBe(0);
  }, 360_000);

  it('with enforcement switched off in the agents (enable-policy: never), the policy scenarios fail', async () => {
    await kubectl.ok([
      'patch',
      'configmap',
      'cilium-config',
      '-n',
      'kube-system',
      '-p',
      '{"data":{"enable-policy":"never"}}',
    ]);
    await kubectl.ok(['delete', 'pods', '-n', 'kube-system', '-l', 'k8s-app=cilium', '--wait=false']);
    await eventually(
      async () => {
        const out = await kubectl.run(['rollout', 'status', 'ds/cilium', '-n', 'kube-system', '--timeout=5s']);
        return out.code === 0;
      },
      180_000,
      'the agents restarted',
    );
    const r = await connectivity(['--test', 'all-ingress-deny|echo-ingress$|deny', '--policy-timeout', '5']);
    expect(r.code).toBe(1);
    for (const name of [
      'all-ingress-deny',
      'all-egress-deny',
      'all-entities-deny',
      'echo-ingress',
      'echo-ingress-from-other-client-deny',
    ])
      expect(r.out).toMatch(new RegExp(`^Test \\[${name}\\]:$`, 'm'));
    // what fails is the connections that should have been dropped, and only those
    const failed = r.out.split('\n').filter((l) => l.startsWith('  ❌ '));
    expect(failed.length).toBeGreaterThan(5);
    for (const line of failed) expect(line).toMatch(/expected drop, got ok/);
  }, 420_000);
});
