// Applying the install to the devcluster as `cilium install` does (server-side apply, field
// manager "cilium-cli", forced), and waiting for its workloads the way `cilium status --wait`
// reads them: DaemonSet numberReady = desiredNumberScheduled, Deployment availableReplicas = replicas.
import type { InstallObject } from '../../cdk8s/process-launch.js';
import type { KubeClient, KubeObject, ResourceRef } from '../../controllers/framework/index.js';
import { NodesError, NodesErrorCode } from './errors.js';

export const INSTALL_FIELD_MANAGER = 'cilium-cli';

/** The resource of an object, from its apiVersion and kind (plurals are the kind's lower case + s). */
export function resourceOf(o: InstallObject): ResourceRef {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return {
    group: group!,
    version: version!,
    kind: o.kind,
    plural: `${o.kind.toLowerCase()}s`,
    namespaced: o.metadata.namespace !== undefined,
  };
}

/** Server-side apply of every object, in order (CRDs first, as the install lists them). */
export async function applyObjects(client: KubeClient, objects: readonly InstallObject[]): Promise<void> {
  for (const o of objects)
    await client.patch(resourceOf(o), o.metadata.name, o.metadata.namespace, o as unknown as KubeObject, 'apply', {
      fieldManager: INSTALL_FIELD_MANAGER,
      force: true,
    });
}

const DAEMONSETS: ResourceRef = {
  group: 'apps',
  version: 'v1',
  plural: 'daemonsets',
  kind: 'DaemonSet',
  namespaced: true,
};
const DEPLOYMENTS: ResourceRef = {
  group: 'apps',
  version: 'v1',
  plural: 'deployments',
  kind: 'Deployment',
  namespaced: true,
};

type Workload = KubeObject & { spec?: { replicas?: number }; status?: Record<string, number | undefined> };

/** Waits until every named DaemonSet is ready on every node and every Deployment is available. */
export async function waitForWorkloads(
  client: KubeClient,
  namespace: string,
  names: { daemonSets: string[]; deployments: string[] },
  deadline: number,
  say: (line: string) => void,
): Promise<void> {
  const pending = [
    ...names.daemonSets.map((n) => ({ ref: DAEMONSETS, name: n })),
    ...names.deployments.map((n) => ({ ref: DEPLOYMENTS, name: n })),
  ];
  let last = '';
  while (pending.length) {
    for (const w of [...pending]) {
      const o = await client.get<Workload>(w.ref, w.name, namespace).catch(() => undefined);
      const s = o?.status ?? {};
      const [have, want] =
        w.ref === DAEMONSETS
          ? [s.numberReady ?? 0, s.desiredNumberScheduled ?? 0]
          : [s.availableReplicas ?? 0, o?.spec?.replicas ?? 1];
      last = `${w.ref.kind} ${w.name}: ${have}/${want} ${w.ref === DAEMONSETS ? 'ready' : 'available'}`;
      if (o && want > 0 && have >= want) {
        pending.splice(pending.indexOf(w), 1);
        say(last);
      }
    }
    if (!pending.length) return;
    if (Date.now() > deadline)
      throw new NodesError(NodesErrorCode.Start, `the install did not become ready in time (${last})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
