// Installs or upgrades CustomResourceDefinitions at start (what cilium-agent and
// cilium-operator do upstream unless `skip-crd-creation` is set), then waits until each is served.
import type { Logger } from 'pino';
import type { KubeClient, ResourceRef } from './client.js';
import { isNotFound } from './errors.js';
import type { KubeObject } from './types.js';

export const CRDS_RESOURCE: ResourceRef = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  plural: 'customresourcedefinitions',
  kind: 'CustomResourceDefinition',
  namespaced: false,
};

interface Crd extends KubeObject {
  spec: { group: string; scope: string; names: { plural: string; kind: string }; versions: { name: string }[] };
}

/** Upstream's marker of a CRD's schema revision: a different value means "upgrade it". */
export const SCHEMA_VERSION_LABEL = 'io.cilium.k8s.crd.schema.version';

/**
 * Creates missing CRDs and replaces those whose schema version label differs (as upstream
 * compares it); returns the names written.
 */
export async function ensureCrds(
  client: KubeClient,
  crds: readonly KubeObject[],
  log?: Logger,
  timeoutMs = 30_000,
): Promise<string[]> {
  // Each CRD on its own, all at once: a restarting agent's start waits for these round trips.
  const written = (await Promise.all((crds as Crd[]).map((obj) => ensureCrd(client, obj, log)))).filter(
    (n): n is string => n !== undefined,
  );
  if (written.length) log?.info({ crds: written }, 'installed or upgraded CRDs');
  // Served means a list answers; that is what our watches need.
  const deadline = Date.now() + timeoutMs;
  await Promise.all((crds as Crd[]).map((obj) => waitServed(client, obj, deadline)));
  return written;
}

/** Creates the CRD when missing, replaces it when its schema version differs; returns its name when written. */
async function ensureCrd(client: KubeClient, obj: Crd, log?: Logger): Promise<string | undefined> {
  const name = obj.metadata!.name!;
  let current: Crd | undefined;
  try {
    current = await client.get<Crd>(CRDS_RESOURCE, name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  // Another process may be writing it at the same moment (409): its write is as good as ours.
  // A least-privilege install (read-only CRD access, 403) installs and upgrades CRDs with its manifests.
  const written = (write: Promise<unknown>, forbidden: string) =>
    write.then(
      () => name,
      (e: { status?: number }) => {
        if (e.status === 403) return void log?.warn({ crd: name }, forbidden);
        if (e.status !== 409) throw e;
      },
    );
  if (!current)
    return written(
      client.create(CRDS_RESOURCE, obj),
      'not allowed to create the CRD (RBAC): install it with the manifests',
    );
  if (current.metadata?.labels?.[SCHEMA_VERSION_LABEL] !== obj.metadata?.labels?.[SCHEMA_VERSION_LABEL])
    return written(
      client.replace(CRDS_RESOURCE, {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: current.metadata?.resourceVersion },
      }),
      'not allowed to upgrade the CRD (RBAC): apply the new manifests',
    );
  return undefined;
}

/** Waits until the CRD's resource answers a list. */
async function waitServed(client: KubeClient, obj: Crd, deadline: number): Promise<void> {
  const v = obj.spec.versions[0]!.name;
  const res: ResourceRef = {
    group: obj.spec.group,
    version: v,
    plural: obj.spec.names.plural,
    kind: obj.spec.names.kind,
    namespaced: obj.spec.scope === 'Namespaced',
  };
  for (;;) {
    try {
      await client.list(res, { limit: 1 });
      break;
    } catch (e) {
      if (!isNotFound(e) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
