// The write strategy shared by every kind: what the server sets, keeps and checks on create,
// update and the /status subresource (uid, timestamps, generation, status handling, name rules,
// finalizers), plus the unknown-field, pruning, defaulting and schema steps for custom resources.
import { randomUUID } from 'node:crypto';
import { unknownBuiltinFields } from './builtin-schemas.js';
import { applyBuiltinDefaults } from './defaults.js';
import { badRequest, fieldError, invalid, type StatusCause } from './errors.js';
import { nowIso } from './patch.js';
import { apiVersionOf, type ResourceInfo } from './resources.js';
import { OBJECT_META_FIELDS, structuralErrors, type JsonSchema } from './schema.js';
import type { KubeObject } from './store.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function parseFieldValidation(v: string | null): FieldValidation {
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation must be one of "Strict", "Warn" or "Ignore", got "${v}"`);
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/**
 * Decoding step: apiVersion/kind check, unknown fields (pruned; Strict refuses, Warn warns),
 * defaults. Returns the warnings for the `Warning` header.
 */
export function decodeStep(r: ResourceInfo, obj: KubeObject, fv: FieldValidation): string[] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw badRequest('the body of the request must be a JSON object');
  const av = apiVersionOf(r);
  if (obj.kind !== undefined && obj.kind !== r.kind) {
    throw badRequest(
      `the API version in the data (${obj.apiVersion ?? ''}) does not match the expected API version (${av})`,
    );
  }
  obj.apiVersion = av;
  obj.kind = r.kind;
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {};
  const dropped: string[] = [];
  if (r.schema) dropped.push(...r.schema.prune(obj));
  else
    for (const k of Object.keys(obj.metadata))
      if (!OBJECT_META_FIELDS.has(k)) {
        dropped.push(`metadata.${k}`);
        delete obj.metadata[k];
      }
  // Built-in kinds: unknown fields are refused in Strict mode as kube's strict decoding does (in
  // Warn mode they are kept and reported, so that no client's field is lost to an older model).
  if (r.builtin && !r.schema && fv !== 'Ignore')
    for (const f of unknownBuiltinFields(r, obj)) if (!f.startsWith('metadata.')) dropped.push(f);
  if (dropped.length && fv === 'Strict') {
    throw badRequest(
      `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${dropped.map((d) => `unknown field "${d}"`).join(', ')}`,
    );
  }
  if (r.schema) r.schema.applyDefaults(obj);
  return fv === 'Warn' ? dropped.map((d) => `unknown field "${d}"`) : [];
}

/**
 * kube-apiserver's namespace strategy sets `kubernetes.io/metadata.name=<name>` on create and
 * update (users cannot remove or change it), so that namespaceSelectors can pick one namespace.
 */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function labelNamespace(obj: KubeObject): void {
  obj.metadata.labels = { ...(obj.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: obj.metadata.name ?? '' };
}

/** Fields a create fills in; the namespace comes from the URL. */
export function prepareCreate(r: ResourceInfo, obj: KubeObject, namespace: string | undefined): void {
  const m = obj.metadata;
  if (!m.name && m.generateName) m.name = `${m.generateName}${randomSuffix()}`;
  if (r.namespaced) {
    if (m.namespace && namespace && m.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    m.namespace = namespace ?? m.namespace;
  } else delete m.namespace;
  m.uid = randomUUID();
  m.creationTimestamp = nowIso();
  m.generation = 1;
  delete m.deletionTimestamp;
  delete m.deletionGracePeriodSeconds;
  delete m.resourceVersion;
  delete m.selfLink;
  if (r.statusSubresource && !r.builtin) delete obj.status;
  if (r.kind === 'Namespace') {
    obj.spec = { finalizers: ['kubernetes'], ...((obj.spec as object | undefined) ?? {}) };
    obj.status = { phase: 'Active' };
    labelNamespace(obj);
  }
  if (r.kind === 'CustomResourceDefinition') {
    m.finalizers = [...new Set([...(m.finalizers ?? []), 'customresourcecleanup.apiextensions.k8s.io'])];
    delete obj.status;
  }
  applyBuiltinDefaults(r, obj);
}

const specOf = (o: KubeObject, ignoreStatus: boolean): string => {
  const { metadata: _m, status, ...rest } = o;
  return JSON.stringify(ignoreStatus ? rest : { ...rest, status });
};

/** Carries server-owned fields over from the stored object on update (main resource or /status). */
export function prepareUpdate(
  r: ResourceInfo,
  obj: KubeObject,
  old: KubeObject,
  subresource: string | undefined,
): KubeObject {
  let out: KubeObject;
  if (subresource === 'status') {
    out = { ...structuredClone(old), status: obj.status };
    if (obj.status === undefined) delete out.status;
  } else {
    out = obj;
    if (r.statusSubresource) {
      if (old.status === undefined) delete out.status;
      else out.status = structuredClone(old.status);
    }
  }
  const m = out.metadata;
  const om = old.metadata;
  m.name = om.name;
  if (r.namespaced) m.namespace = om.namespace;
  else delete m.namespace;
  m.uid = om.uid;
  m.creationTimestamp = om.creationTimestamp;
  if (om.deletionTimestamp) {
    m.deletionTimestamp = om.deletionTimestamp;
    m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds ?? 0;
  } else {
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
  }
  delete m.selfLink;
  if (r.kind === 'Namespace' && subresource !== 'status' && subresource !== 'finalize') {
    out.spec = old.spec;
  }
  if (r.kind === 'Namespace') labelNamespace(out);
  if (subresource === undefined) applyBuiltinDefaults(r, out);
  // generation counts changes outside metadata (and outside status when it is a subresource).
  const bump = subresource === undefined && specOf(out, r.statusSubresource) !== specOf(old, r.statusSubresource);
  m.generation = (om.generation ?? 1) + (bump ? 1 : 0);
  return out;
}

/** Metadata and kind-specific validation, then the CRD schema; throws 422 with causes. */
export function validate(r: ResourceInfo, obj: KubeObject, old: KubeObject | undefined): void {
  const causes: StatusCause[] = [];
  const m = obj.metadata;
  const name = m.name ?? '';
  // RBAC objects are named by path segment rules only (rbac validation.ValidateRBACName): "system:discovery".
  const rbacName = r.group === 'rbac.authorization.k8s.io';
  if (!name) causes.push(fieldError.required('metadata.name'));
  else if (rbacName) {
    if (name === '.' || name === '..' || name.includes('/') || name.includes('%'))
      causes.push(fieldError.invalid('metadata.name', name, `may not contain '/'`));
  } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    causes.push(
      fieldError.invalid(
        'metadata.name',
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    );
  } else if (r.kind === 'Namespace' && (name.length > 63 || !DNS1123_LABEL.test(name))) {
    causes.push(
      fieldError.invalid(
        'metadata.name',
        name,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      ),
    );
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (typeof v !== 'string' || v.length > 63 || (v !== '' && !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v))) {
      causes.push(
        fieldError.invalid(
          `metadata.labels`,
          v,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ),
      );
    }
    void k;
  }
  if (old?.metadata.deletionTimestamp) {
    const before = new Set(old.metadata.finalizers ?? []);
    const added = (m.finalizers ?? []).filter((f) => !before.has(f));
    if (added.length)
      causes.push(
        fieldError.forbidden(
          'metadata.finalizers',
          `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
        ),
      );
  }
  if (r.kind === 'CustomResourceDefinition') causes.push(...crdCauses(obj));
  if (r.schema) causes.push(...r.schema.validate(obj));
  if (causes.length) throw invalid(r.kind, r.group, name, causes);
}

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JsonSchema };
}

/** The CRD checks kube-apiserver makes that users hit in practice. */
function crdCauses(obj: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = (obj.spec ?? {}) as {
    group?: string;
    names?: { plural?: string; kind?: string };
    scope?: string;
    versions?: CrdVersion[];
  };
  const plural = spec.names?.plural ?? '';
  const group = spec.group ?? '';
  if (!group) causes.push(fieldError.required('spec.group'));
  else if (!group.includes('.'))
    causes.push(fieldError.invalid('spec.group', group, 'should be a domain with at least one dot'));
  if (!plural) causes.push(fieldError.required('spec.names.plural'));
  if (!spec.names?.kind) causes.push(fieldError.required('spec.names.kind'));
  if (obj.metadata.name !== `${plural}.${group}`)
    causes.push(fieldError.invalid('metadata.name', obj.metadata.name, `must be spec.names.plural+"."+spec.group`));
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    causes.push(fieldError.notSupported('spec.scope', spec.scope ?? '', ['Cluster', 'Namespaced']));
  const versions = spec.versions ?? [];
  if (!versions.length) causes.push(fieldError.required('spec.versions'));
  if (versions.filter((v) => v.storage).length !== 1)
    causes.push(
      fieldError.invalid(
        'spec.versions',
        versions.map((v) => v.name),
        'must have exactly one version marked as storage version',
      ),
    );
  versions.forEach((v, i) => {
    const s = v.schema?.openAPIV3Schema;
    if (!s) causes.push(fieldError.required(`spec.versions[${i}].schema.openAPIV3Schema`));
    else {
      if (s.type !== 'object')
        causes.push(
          fieldError.invalid(
            `spec.versions[${i}].schema.openAPIV3Schema.type`,
            s.type ?? '',
            'must be object at the root',
          ),
        );
      structuralErrors(s, `spec.versions[${i}].schema.openAPIV3Schema`, causes);
    }
  });
  return causes;
}
