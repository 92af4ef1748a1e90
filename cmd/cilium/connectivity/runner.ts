// `cilium connectivity test`: deploys the test workloads, waits for them, runs every scenario and
// cleans up. A scenario applies its policies and then repeats its connections until each one
// behaves as expected or the policy timeout passes (policy is eventually consistent: agents
// program it a moment after the API server stores it); afterwards its policies are deleted and the
// connections it dropped must work again (deleting a policy restores reachability).
import { CoreV1Api, type KubeConfig, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import type { KubeObject } from '../../../controllers/framework/index.js';
import { UntypedObjects } from '../untyped-objects.js';
import { dropReasons, type DropQuery } from './hubble-drops.js';
import { Prober, type ProbeOutcome, type ProbeTarget } from './probe.js';
import type { ActionResult, RunResult, TestResult } from './report.js';
import {
  checkKind,
  SCENARIOS,
  type Check,
  type PolicyContext,
  type Scenario,
  type Source,
  type Target,
} from './scenarios.js';
import { echoPortNames, TEST_LABEL, testWorkloads, type WorkloadOptions } from './workloads.js';

export interface ConnectivityOptions {
  /** The test namespace; `<namespace>-other` holds the second namespace's client. */
  namespace: string;
  /** Image of every test container (needs `node`); default: the agent's image. */
  image: string;
  imagePullSecrets: string[];
  /** Only scenarios whose name matches (`--test`). */
  test?: RegExp;
  /** Delete the namespaces at the end (`--cleanup=false` keeps them for a look). */
  cleanup: boolean;
  /** A connection that has not answered after this long counts as dropped. */
  probeTimeoutMs: number;
  /** How long a scenario's connections may take to behave as expected after its policies are applied. */
  policyTimeoutMs: number;
  /** How long the workloads may take to become ready. */
  waitTimeoutMs: number;
  /** hubble-relay's address, for the drop reason of a failed connection; none: not asked. */
  hubbleServer?: string;
  /** `host:port` of an HTTP server outside the cluster, for pod-to-world; none: those checks are skipped. */
  externalTarget?: string;
  echoPorts: readonly [number, number];
  hostPort: number;
  log: (line: string) => void;
}

export const CONNECTIVITY_DEFAULTS = {
  namespace: 'cilium-test-1',
  image: 'ghcr.io/cilium-ts/cilium:latest',
  cleanup: true,
  probeTimeoutMs: 2000,
  policyTimeoutMs: 20_000,
  waitTimeoutMs: 180_000,
  echoPorts: [8080, 8081] as const,
  hostPort: 4080,
};

const FIELD_MANAGER = 'cilium-cli-connectivity';

interface Endpoint {
  pod: { namespace: string; name: string; container: string; ip: string; node: string };
}

/** What the cluster looks like once the workloads run: pods, Service addresses, node addresses. */
interface Topology {
  sources: Map<Source, Endpoint['pod']>;
  /** `backend`: the address the datapath sees after a Service's translation (the pod's). */
  targets: Map<Target, { host: string; port: number; label: string; backend: { ip: string; port: number } }>;
  /** Why a target is missing (single node, no outside), for skipped scenarios. */
  missing: Map<Target, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ConnectivityTest {
  private readonly objects: UntypedObjects;
  private readonly core: CoreV1Api;
  private readonly prober: Prober;

  constructor(
    private readonly kc: KubeConfig,
    private readonly o: ConnectivityOptions,
  ) {
    this.objects = new UntypedObjects(kc);
    this.core = kc.makeApiClient(CoreV1Api);
    this.prober = new Prober(kc, o.probeTimeoutMs);
  }

  private get otherNamespace(): string {
    return `${this.o.namespace}-other`;
  }

  private workloadOptions(): WorkloadOptions {
    return {
      namespace: this.o.namespace,
      otherNamespace: this.otherNamespace,
      image: this.o.image,
      echoPorts: this.o.echoPorts,
      hostPort: this.o.hostPort,
      imagePullSecrets: this.o.imagePullSecrets,
    };
  }

  private async apply(obj: KubernetesObject): Promise<void> {
    await this.objects.apply(obj as KubeObject, { fieldManager: FIELD_MANAGER, force: true });
  }

  private async remove(obj: KubernetesObject): Promise<void> {
    await this.objects.delete(obj as KubeObject, 'Background');
  }

  async run(): Promise<RunResult> {
    const started = Date.now();
    const ns = this.o.namespace;
    const scenarios = SCENARIOS.filter((s) => !this.o.test || this.o.test.test(s.name));
    if (scenarios.length === 0) throw new Error(`--test ${this.o.test} matches no scenario`);
    this.o.log(`✨ [${ns}] Creating namespaces ${ns} and ${this.otherNamespace} and the test workloads...`);
    const tests: TestResult[] = [];
    try {
      for (const obj of testWorkloads(this.workloadOptions())) await this.apply(obj);
      await this.removeLeftoverPolicies();
      const topology = await this.waitForWorkloads();
      this.o.log(`🏃 [${ns}] Running ${scenarios.length} tests ...`);
      for (const [i, s] of scenarios.entries()) {
        this.o.log(`[=] [${ns}] Test [${s.name}] [${i + 1}/${scenarios.length}]`);
        const t = await this.runScenario(s, topology);
        tests.push(t);
        this.o.log(
          t.skipped ? `    skipped: ${t.skipped}` : `    ${t.actions.map((a) => (a.passed ? '.' : 'x')).join('')}`,
        );
      }
    } finally {
      if (this.o.cleanup) await this.deleteNamespaces();
      this.objects.close();
    }
    return { namespace: ns, tests, seconds: (Date.now() - started) / 1000 };
  }

  /** Policies a previous, interrupted run left behind would change every result. */
  private async removeLeftoverPolicies(): Promise<void> {
    const selector = Object.entries(TEST_LABEL)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const kinds = [
      ['cilium.io/v2', 'CiliumNetworkPolicy', true],
      ['networking.k8s.io/v1', 'NetworkPolicy', true],
      ['cilium.io/v2', 'CiliumClusterwideNetworkPolicy', false],
    ] as const;
    for (const [apiVersion, kind, namespaced] of kinds)
      for (const namespace of namespaced ? [this.o.namespace, this.otherNamespace] : [undefined]) {
        const list = await this.objects.list(apiVersion, kind, {
          ...(namespace ? { namespace } : {}),
          labelSelector: selector,
        });
        for (const item of list.items) await this.remove({ ...item, apiVersion, kind } as KubernetesObject);
      }
  }

  private async deleteNamespaces(): Promise<void> {
    this.o.log(`🧹 [${this.o.namespace}] Deleting the test namespaces...`);
    const names = [this.o.namespace, this.otherNamespace];
    for (const name of names) await this.remove({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    // a namespace being deleted refuses new objects: the next run would fail until it is gone
    const deadline = Date.now() + this.o.waitTimeoutMs;
    for (const name of names)
      while (
        await this.core.readNamespace({ name }).then(
          () => true,
          (e: unknown) => ((e as { code?: number }).code === 404 ? false : Promise.reject(e)),
        )
      ) {
        if (Date.now() > deadline)
          throw new Error(`namespace ${name} was not deleted within ${this.o.waitTimeoutMs / 1000} s`);
        await sleep(500);
      }
  }

  private async readyPods(namespace: string): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({
      namespace,
      labelSelector: Object.entries(TEST_LABEL)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    });
    return list.items.filter(
      (p) =>
        !p.metadata?.deletionTimestamp &&
        p.status?.podIP &&
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  }

  /** Waits until one pod of each Deployment and the host-network pod on the client's node are Ready. */
  private async waitForWorkloads(): Promise<Topology> {
    const deadline = Date.now() + this.o.waitTimeoutMs;
    const names = ['client', 'client2', 'echo-same-node', 'echo-other-node'];
    this.o.log(
      `⌛ [${this.o.namespace}] Waiting for ${[...names, 'client-other-ns', 'host-netns'].join(', ')} to become ready...`,
    );
    for (;;) {
      const pods = [...(await this.readyPods(this.o.namespace)), ...(await this.readyPods(this.otherNamespace))];
      const byName = (n: string) => pods.find((p) => p.metadata?.labels?.name === n);
      const client = byName('client');
      const host =
        client &&
        pods.find((p) => p.metadata?.labels?.name === 'host-netns' && p.spec?.nodeName === client.spec?.nodeName);
      if ([...names, 'client-other-ns'].every((n) => byName(n)) && host) return this.topology(pods, client);
      if (Date.now() > deadline) {
        const missing = [...names, 'client-other-ns'].filter((n) => !byName(n));
        throw new Error(
          `the test workloads were not ready within ${this.o.waitTimeoutMs / 1000} s: ${missing.join(', ') || 'host-netns on the client node'} (kubectl get pods -n ${this.o.namespace})`,
        );
      }
      await sleep(500);
    }
  }

  private async topology(pods: V1Pod[], client: V1Pod): Promise<Topology> {
    const ep = (p: V1Pod, container: string) => ({
      namespace: p.metadata!.namespace!,
      name: p.metadata!.name!,
      container,
      ip: p.status!.podIP!,
      node: p.spec!.nodeName!,
    });
    const byName = (n: string) => pods.find((p) => p.metadata?.labels?.name === n)!;
    const clientNode = client.spec!.nodeName!;
    const sources = new Map<Source, Endpoint['pod']>([
      ['client', ep(client, 'client')],
      ['client2', ep(byName('client2'), 'client')],
      ['client-other-ns', ep(byName('client-other-ns'), 'client')],
      [
        'host-netns',
        ep(
          pods.find((p) => p.metadata?.labels?.name === 'host-netns' && p.spec?.nodeName === clientNode)!,
          'host-netns',
        ),
      ],
    ]);
    const [p1, p2] = this.o.echoPorts;
    const targets: Topology['targets'] = new Map();
    const missing = new Map<Target, string>();
    const same = byName('echo-same-node');
    const other = byName('echo-other-node');
    const describe = (p: V1Pod) => `${p.metadata!.namespace}/${p.metadata!.name}`;
    const sameIp = same.status!.podIP!;
    targets.set('echo-same-node', { host: sameIp, port: p1, label: describe(same), backend: { ip: sameIp, port: p1 } });
    targets.set('echo-same-node:alt', {
      host: sameIp,
      port: p2,
      label: describe(same),
      backend: { ip: sameIp, port: p2 },
    });
    if (other.spec?.nodeName === clientNode) {
      for (const t of ['echo-other-node', 'echo-other-node:alt', 'service-other-node', 'host-other-node'] as Target[])
        missing.set(t, 'the cluster has one schedulable node');
    } else {
      const otherIp = other.status!.podIP!;
      targets.set('echo-other-node', {
        host: otherIp,
        port: p1,
        label: describe(other),
        backend: { ip: otherIp, port: p1 },
      });
      targets.set('echo-other-node:alt', {
        host: otherIp,
        port: p2,
        label: describe(other),
        backend: { ip: otherIp, port: p2 },
      });
    }
    const nodes = (await this.core.listNode()).items;
    const address = (name: string) =>
      nodes.find((n) => n.metadata?.name === name)?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const hostSame = address(clientNode);
    if (hostSame)
      targets.set('host-same-node', {
        host: hostSame,
        port: this.o.hostPort,
        label: `node ${clientNode}`,
        backend: { ip: hostSame, port: this.o.hostPort },
      });
    else missing.set('host-same-node', `node ${clientNode} has no InternalIP`);
    const otherNode = nodes.find((n) => n.metadata?.name !== clientNode && address(n.metadata!.name!));
    if (otherNode && !missing.has('host-other-node'))
      targets.set('host-other-node', {
        host: address(otherNode.metadata!.name!)!,
        port: this.o.hostPort,
        label: `node ${otherNode.metadata!.name}`,
        backend: { ip: address(otherNode.metadata!.name!)!, port: this.o.hostPort },
      });
    for (const [name, target] of [
      ['echo-same-node', 'service-same-node'],
      ['echo-other-node', 'service-other-node'],
    ] as const) {
      if (missing.has(target)) continue;
      const svc = await this.core.readNamespacedService({ name, namespace: this.o.namespace });
      const backend = targets.get(name)!.backend;
      targets.set(target, {
        host: svc.spec!.clusterIP!,
        port: p1,
        label: `Service ${this.o.namespace}/${name}`,
        backend,
      });
      if (name === 'echo-other-node' && hostSame) {
        const nodePort = svc.spec!.ports?.find((p) => p.port === p1)?.nodePort;
        if (nodePort)
          targets.set('nodeport-same-node', {
            host: hostSame,
            port: nodePort,
            label: `NodePort ${this.o.namespace}/${name} on node ${clientNode}`,
            backend,
          });
        else missing.set('nodeport-same-node', `Service ${name} has no nodePort`);
      }
    }
    if (this.o.externalTarget) {
      const [host, port] = this.o.externalTarget.split(':');
      targets.set('world', {
        host: host!,
        port: Number(port),
        label: this.o.externalTarget,
        backend: { ip: host!, port: Number(port) },
      });
    } else missing.set('world', 'no --external-target: the cluster has no outside to reach');
    return { sources, targets, missing };
  }

  private policyContext(): PolicyContext {
    return {
      namespace: this.o.namespace,
      otherNamespace: this.otherNamespace,
      ports: this.o.echoPorts,
      portNames: echoPortNames(this.workloadOptions()),
    };
  }

  private async runScenario(s: Scenario, topo: Topology): Promise<TestResult> {
    const started = Date.now();
    const checks = s.checks.filter((c) => !topo.missing.has(c.to));
    const skippedChecks = s.checks.filter((c) => topo.missing.has(c.to));
    if (checks.length === 0)
      return {
        name: s.name,
        promise: s.promise,
        skipped: topo.missing.get(skippedChecks[0]!.to),
        actions: [],
        seconds: 0,
      };
    const policies = s.policies(this.policyContext());
    for (const p of policies) await this.apply(p);
    const since = new Date();
    let outcomes: Map<Check, ProbeOutcome>;
    try {
      outcomes = await this.settle(checks, topo, this.o.policyTimeoutMs);
    } finally {
      for (const p of policies) await this.remove(p);
    }
    const actions = checks.map((c) => this.action(s, c, outcomes.get(c)!, topo));
    await this.explainDrops(actions, checks, topo, since);
    let cleanup: TestResult['cleanup'];
    // the connections this scenario dropped work again once its policies are gone
    const restored = checks.filter((c) => c.expect === 'drop').map((c) => ({ ...c, expect: 'ok' as const }));
    if (policies.length && restored.length) {
      const after = await this.settle(restored, topo, this.o.policyTimeoutMs);
      const stuck = restored.filter((c) => after.get(c)!.result !== 'ok');
      cleanup = stuck.length
        ? {
            passed: false,
            detail: `still dropped after the policies were deleted: ${stuck.map((c) => `${c.from} → ${c.to}`).join(', ')}`,
          }
        : { passed: true };
    }
    return {
      name: s.name,
      promise: s.promise,
      actions,
      ...(cleanup ? { cleanup } : {}),
      seconds: (Date.now() - started) / 1000,
    };
  }

  /** Probes every check (one exec per source) until all behave as expected or `timeoutMs` passes. */
  private async settle(checks: Check[], topo: Topology, timeoutMs: number): Promise<Map<Check, ProbeOutcome>> {
    const deadline = Date.now() + timeoutMs;
    const last = new Map<Check, ProbeOutcome>();
    let pending = checks;
    for (;;) {
      const bySource = new Map<Source, Check[]>();
      for (const c of pending) bySource.set(c.from, [...(bySource.get(c.from) ?? []), c]);
      await Promise.all(
        [...bySource].map(async ([source, cs]) => {
          const pod = topo.sources.get(source)!;
          const targets: ProbeTarget[] = cs.map((c, i) => ({ id: String(i), ...pick(topo.targets.get(c.to)!) }));
          const results = await this.prober.run(pod, targets);
          for (const [i, c] of cs.entries())
            last.set(
              c,
              results.find((r) => r.id === String(i))!,
            );
        }),
      );
      pending = checks.filter((c) => !matches(c, last.get(c)!));
      if (pending.length === 0 || Date.now() > deadline) return last;
      await sleep(250);
    }
  }

  private action(s: Scenario, c: Check, out: ProbeOutcome, topo: Topology): ActionResult {
    const src = topo.sources.get(c.from)!;
    const dst = topo.targets.get(c.to)!;
    return {
      name: `${s.name}/${checkKind(c)}/${c.from}-to-${c.to}`,
      from: c.from,
      to: c.to,
      expect: c.expect,
      actual: out.result,
      passed: matches(c, out),
      description: `${src.namespace}/${src.name} (${src.ip}) -> ${dst.label} (${dst.host}:${dst.port})`,
      ...(out.result === 'error' ? { detail: out.message } : {}),
    };
  }

  /** Asks relay why each connection that should have worked was dropped. */
  private async explainDrops(actions: ActionResult[], checks: Check[], topo: Topology, since: Date): Promise<void> {
    if (!this.o.hubbleServer) return;
    const queries: DropQuery[] = [];
    checks.forEach((c, i) => {
      const a = actions[i]!;
      if (a.passed || c.expect !== 'ok') return;
      const src = topo.sources.get(c.from)!;
      const { backend } = topo.targets.get(c.to)!;
      queries.push({ key: i, sourceIp: src.ip, destinationIp: backend.ip, destinationPort: backend.port });
    });
    if (queries.length === 0) return;
    try {
      const reasons = await dropReasons(this.o.hubbleServer, queries, since);
      for (const [i, reason] of reasons) {
        const a = actions[i]!;
        a.detail = [a.detail, `Hubble: ${reason}`].filter(Boolean).join('; ');
      }
    } catch (e) {
      this.o.log(`    (Hubble at ${this.o.hubbleServer} not reachable: ${(e as Error).message})`);
    }
  }
}

const pick = (t: { host: string; port: number }) => ({ host: t.host, port: t.port });

const matches = (c: Check, out: ProbeOutcome) =>
  c.expect === 'ok' ? out.result === 'ok' : out.result === 'timeout' || out.result === 'refused';
