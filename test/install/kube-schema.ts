// Validation of manifests against the Kubernetes API schemas (kubernetes-models) and helpers to
// read multi-document YAML. Unknown fields are not caught here (the models accept them); the typed
// cdk8s constructs prevent those at compile time.
import { parseAllDocuments } from 'yaml';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
};

/** The objects of a multi-document YAML stream (empty documents dropped). */
export function parseManifests(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`YAML error: ${d.errors[0]!.message}`);
      return d.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

/** "Kind namespace/name", a stable key for comparing object sets. */
export function objectKey(o: KubeObject): string {
  return `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Objects keyed and sorted, for order-independent comparison. */
export function byKey(objects: KubeObject[]): Map<string, KubeObject> {
  return new Map(objects.map((o) => [objectKey(o), o] as const).sort(([a], [b]) => a.localeCompare(b)));
}

type Model = new (data: unknown) => { validate(): void };

/** Throws with the schema errors when an object does not validate; returns the model name used. */
export async function validateObject(o: KubeObject): Promise<string> {
  // Core objects (apiVersion v1) live under kubernetes-models/v1, the others under group/version.
  const mod = (await import(`kubernetes-models/${o.apiVersion}`)) as Record<string, Model | undefined>;
  const Cls = mod[o.kind];
  if (!Cls) throw new Error(`no Kubernetes schema for ${o.apiVersion} ${o.kind}`);
  try {
    new Cls(o).validate();
  } catch (err) {
    throw new Error(`${objectKey(o)} does not validate: ${(err as Error).message}`);
  }
  return `${o.apiVersion}/${o.kind}`;
}
