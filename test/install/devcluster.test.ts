// The install against the devcluster API server: `kubectl apply --server-side --dry-run=server` of
// dist/install.yaml, and `cilium install` → `cilium status` → `cilium uninstall` through
// @kubernetes/client-node with server-side apply.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryEntry, PINNED_NODE } from '../../cdk8s/process-launch.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { Kubectl, eventually, startDevcluster } from '../e2e/harness.js';
import { parseManifests } from './kube-schema.js';
import { REPO, toolPath } from './tools.js';
import { install, loadKubeConfig, status, uninstall } from '../../cmd/cilium/cluster-install.js';

let cluster: Devcluster;
let k: Kubectl;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion asynchronously (the API server lives in this process), bounded. */
function runAsync(bin: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: REPO,
      env: { ...process.env, HOME: cluster.dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `helm …` against the devcluster, with helm's caches in the cluster's own directory. */
const helm = (args: string[]) =>
  runAsync(toolPath('helm'), [...args, '--kubeconfig', cluster.kubeconfig], {
    HELM_CACHE_HOME: join(cluster.dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(cluster.dir, 'helm', 'config'),
    HELM_DATA_HOME: join(cluster.dir, 'helm', 'data'),
  });

/**
 * Runs the compiled `cilium …` (the package bin) with the project's pinned Node (client-node 2.x
 * needs Node 24, whatever node is first on PATH), asynchronously: the API server lives in this process.
 */
function cilium(args: string[]): Promise<CliResult> {
  return runAsync(PINNED_NODE, [binaryEntry('cilium'), ...args, '--kubeconfig', cluster.kubeconfig]);
}

const kc = () => loadKubeConfig(cluster.kubeconfig);
const exists = async (...args: string[]) => (await k.run(['get', ...args, '-o', 'name'])).code === 0;
const installObjects = parseManifests(readFileSync(join(REPO, 'dist', 'install.yaml'), 'utf8'));
/** The Hubble TLS Secrets `cilium install` generates besides dist/install.yaml (never in dist/). */
const TLS_SECRETS = ['cilium-ca', 'hubble-server-certs', 'hubble-relay-client-certs'];
const caCert = async () =>
  (
    JSON.parse(await k.ok(['get', 'secret', '-n', 'kube-system', 'cilium-ca', '-o', 'json'])) as {
      data: Record<string, string>;
    }
  ).data['ca.crt'];

beforeAll(async () => {
  cluster = await startDevcluster('install');
  k = new Kubectl(cluster);
}, 60_000);

afterAll(async () => {
  k?.stopAll();
  await cluster?.stop();
});

describe('the install on the devcluster', () => {
  it('kubectl apply --server-side --dry-run=server -f dist/install.yaml succeeds and stores nothing', async () => {
    const out = await k.ok(['apply', '--server-side', '--dry-run=server', '-f', join(REPO, 'dist', 'install.yaml')]);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(installObjects.length);
    for (const l of lines) expect(l).toMatch(/serverside-applied \(server dry run\)$/);
    expect(await exists('daemonset', '-n', 'kube-system', 'cilium')).toBe(false);
    expect(await exists('crd', 'ciliumnetworkpolicies.cilium.io')).toBe(false);
  });

  it('cilium install applies every object, again without change, and status sees the components', async () => {
    const first = await cilium(['install']);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toContain(`cilium-ts installed: ${installObjects.length + TLS_SECRETS.length} objects`);
    for (const name of TLS_SECRETS) expect(await exists('secret', '-n', 'kube-system', name)).toBe(true);
    const ca = await caCert();
    // Every object of dist/install.yaml is there (one kubectl get over the whole file).
    const names = (await k.ok(['get', '-f', join(REPO, 'dist', 'install.yaml'), '-o', 'name'])).trim().split('\n');
    expect(names).toHaveLength(installObjects.length);
    const ds = JSON.parse(
      await k.ok(['get', 'daemonset', '-n', 'kube-system', 'cilium', '-o', 'json', '--show-managed-fields']),
    ) as { metadata: { managedFields: { manager: string; operation: string }[] } };
    expect(ds.metadata.managedFields).toEqual(
      expect.arrayContaining([expect.objectContaining({ manager: 'cilium-cli', operation: 'Apply' })]),
    );
    // each CRD is stored as generated: client-node's typed serializer used to drop `enum`, `default`
    // and `x-kubernetes-*` from the schemas (cmd/cilium/untyped-objects.ts)
    for (const crd of installObjects.filter((o) => o.kind === 'CustomResourceDefinition')) {
      const name = (crd.metadata as { name: string }).name;
      const stored = JSON.parse(await k.ok(['get', 'crd', name, '-o', 'json'])) as { spec: { versions: unknown } };
      expect(stored.spec.versions).toEqual((crd.spec as { versions: unknown }).versions);
    }
    const cm = JSON.parse(await k.ok(['get', 'configmap', '-n', 'kube-system', 'cilium-config', '-o', 'json'])) as {
      data: Record<string, string>;
    };
    expect(cm.data).toMatchObject({
      'cluster-name': 'default',
      ipam: 'cluster-pool',
      'identity-allocation-mode': 'crd',
    });

    // Again, in-process through the library the CLI uses (spawning costs seconds on a busy machine).
    await install(kc());
    const ds2 = JSON.parse(await k.ok(['get', 'daemonset', '-n', 'kube-system', 'cilium', '-o', 'json'])) as {
      metadata: { generation: number };
    };
    expect(ds2.metadata.generation).toBe(1);
    // the CA of the first install is kept: relays that trust it go on connecting
    expect(await caCert()).toBe(ca);

    // No controllers run in the devcluster: the objects are there, no pod is ready yet.
    const st = await cilium(['status']);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/DaemonSet\s+cilium\s+not ready/);
    expect(st.stdout).toMatch(/Deployment\s+cilium-operator\s+not ready\s+desired 2/);
    expect(st.stdout).toMatch(/Deployment\s+hubble-relay/);
    expect(st.stdout).toMatch(/cilium-config\s+present/);
  });

  it('cilium uninstall removes the install and keeps the CRDs unless asked', async () => {
    await k.ok(
      ['apply', '-f', '-'],
      'apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: keep, namespace: default}\nspec: {endpointSelector: {}}\n',
    );
    const r = await cilium(['uninstall']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const crds = installObjects.filter((o) => o.kind === 'CustomResourceDefinition').length;
    expect(r.stdout).toContain(
      `cilium-ts uninstalled: ${installObjects.length - crds + TLS_SECRETS.length} objects deleted`,
    );
    for (const name of TLS_SECRETS) expect(await exists('secret', '-n', 'kube-system', name)).toBe(false);
    const kinds =
      'daemonset,deployment,service,serviceaccount,configmap,poddisruptionbudget,role,rolebinding,clusterrole,clusterrolebinding';
    expect((await k.ok(['get', kinds, '-A', '-l', 'app.kubernetes.io/part-of=cilium-ts', '-o', 'name'])).trim()).toBe(
      '',
    );
    expect(await exists('clusterrole', 'cilium')).toBe(false);
    expect(await exists('cnp', '-n', 'default', 'keep')).toBe(true);
    expect((await status(kc())).components.map((c) => c.present)).toEqual([false, false]);

    const crdsGone = await uninstall(kc(), { deleteCrds: true });
    expect([crdsGone.deleted.length, crdsGone.absent.length]).toEqual([
      crds,
      installObjects.length - crds + TLS_SECRETS.length,
    ]);
    // The CRD finalizer first removes the remaining policies, then the CRD goes.
    await eventually(
      async () => !(await exists('crd', 'ciliumnetworkpolicies.cilium.io')),
      20_000,
      'the CRDs to be deleted',
    );
  });

  it('cilium install --namespace --set: its own namespace, the values applied, all removed on uninstall', async () => {
    const r = await cilium([
      'install',
      '-n',
      'cilium',
      '--set',
      'operator.replicas=1',
      '--set',
      'hubble.relay.enabled=false',
      '--set',
      'ipam.operator.clusterPoolIPv4PodCIDRList={10.96.0.0/12}',
    ]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const dep = JSON.parse(await k.ok(['get', 'deployment', '-n', 'cilium', 'cilium-operator', '-o', 'json'])) as {
      spec: { replicas: number };
    };
    expect(dep.spec.replicas).toBe(1);
    expect(await exists('deployment', '-n', 'cilium', 'hubble-relay')).toBe(false);
    const cm = JSON.parse(await k.ok(['get', 'configmap', '-n', 'cilium', 'cilium-config', '-o', 'json'])) as {
      data: Record<string, string>;
    };
    expect(cm.data['cluster-pool-ipv4-cidr']).toBe('10.96.0.0/12');
    const crb = JSON.parse(await k.ok(['get', 'clusterrolebinding', 'cilium', '-o', 'json'])) as {
      subjects: { namespace: string }[];
    };
    expect(crb.subjects[0]!.namespace).toBe('cilium');

    await uninstall(kc(), { namespace: 'cilium', deleteCrds: true });
    expect(await exists('deployment', '-n', 'cilium', 'cilium-operator')).toBe(false);
    expect(await exists('clusterrolebinding', 'cilium')).toBe(false);
    const ns = await k.run(['get', 'namespace', 'cilium', '-o', 'jsonpath={.status.phase}']);
    expect(ns.code !== 0 || ns.stdout === 'Terminating').toBe(true);
  });

  it('cilium install refuses bad values before writing; a dry run stores nothing', async () => {
    const bad = await cilium(['install', '--set', 'operator.replicas=zero']);
    expect({ code: bad.code, stderr: bad.stderr.trim() }).toEqual({
      code: 1,
      stderr: 'cilium: --set operator.replicas=zero: an integer is expected',
    });
    const lines: string[] = [];
    await install(kc(), { dryRun: true, log: (l) => lines.push(l) });
    expect(lines).toHaveLength(installObjects.length + TLS_SECRETS.length);
    expect(lines[0]).toMatch(/serverside-applied \(server dry run\)$/);
    expect(await exists('daemonset', '-n', 'kube-system', 'cilium')).toBe(false);
  });

  it('helm install renders NOTES and creates the same objects; helm uninstall removes them', async () => {
    const r = await helm(['install', 'cilium-ts', join(REPO, 'charts', 'cilium-ts'), '--namespace', 'kube-system']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('STATUS: deployed');
    expect(r.stdout).toMatch(/NOTES:\ncilium-ts v0\.1\.0 is installed in namespace kube-system\./);
    expect(r.stdout).toContain('hubble observe --server localhost:4245');
    expect(r.stdout).toContain('IPAM:      cluster-pool, pod CIDRs from 10.0.0.0/8 (/24 per node)');
    const names = (await k.ok(['get', '-f', join(REPO, 'dist', 'install.yaml'), '-o', 'name'])).trim().split('\n');
    expect(names).toHaveLength(installObjects.length);
    expect((await status(kc())).components.map((c) => [c.name, c.present])).toEqual([
      ['cilium', true],
      ['cilium-operator', true],
      ['hubble-relay', true],
    ]);

    // helm keeps its release record in a Secret (written through client-go's typed client with
    // protobuf bodies, deleted with protobuf DeleteOptions): the record goes with the release
    expect(await exists('secret', '-n', 'kube-system', 'sh.helm.release.v1.cilium-ts.v1')).toBe(true);
    const u = await helm(['uninstall', 'cilium-ts', '--namespace', 'kube-system']);
    expect({ code: u.code, stderr: u.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await exists('daemonset', '-n', 'kube-system', 'cilium')).toBe(false);
    expect(await exists('secret', '-n', 'kube-system', 'sh.helm.release.v1.cilium-ts.v1')).toBe(false);
    const list = await helm(['list', '--namespace', 'kube-system', '--all', '-q']);
    expect({ code: list.code, stdout: list.stdout.trim() }).toEqual({ code: 0, stdout: '' });
    // Helm keeps CRDs it installed from crds/ (deleting them would delete every policy).
    expect(await exists('crd', 'ciliumnetworkpolicies.cilium.io')).toBe(true);
  });
});
