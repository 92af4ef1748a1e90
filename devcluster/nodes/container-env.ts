// A container's environment as the kubelet builds it: the image's PATH and HOME, HOSTNAME, the
// in-cluster API server address (KUBERNETES_SERVICE_HOST/PORT), then the container's `env` in
// order — literal values, fieldRef (the downward API) and configMapKeyRef.
import { IMAGE_PATH } from './image.js';

export interface EnvVarSpec {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
  };
}

export interface PodFields {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  serviceAccountName: string;
  hostIP: string;
  podIP: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The downward API's fieldRef paths (upstream: pkg/fieldpath and the kubelet's podFieldSelectorRuntimeValue). */
export function fieldValue(f: PodFields, path: string): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? f.labels : f.annotations)[m[2]!] ?? '';
  const fields: Record<string, string> = {
    'metadata.name': f.name,
    'metadata.namespace': f.namespace,
    'metadata.uid': f.uid,
    'spec.nodeName': f.nodeName,
    'spec.serviceAccountName': f.serviceAccountName,
    'status.hostIP': f.hostIP,
    'status.hostIPs': f.hostIP,
    'status.podIP': f.podIP,
    'status.podIPs': f.podIP,
  };
  return fields[path];
}

export interface EnvInput {
  fields: PodFields;
  env: readonly EnvVarSpec[];
  /** Where the API server is reachable from the container's network namespace, when it is. */
  apiServer?: { host: string; port: number };
  configMap(name: string): Promise<Record<string, string> | undefined>;
}

export async function containerEnv(i: EnvInput): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    PATH: IMAGE_PATH,
    HOME: '/root',
    HOSTNAME: i.fields.name,
    ...(i.apiServer
      ? {
          KUBERNETES_SERVICE_HOST: i.apiServer.host,
          KUBERNETES_SERVICE_PORT: String(i.apiServer.port),
          KUBERNETES_SERVICE_PORT_HTTPS: String(i.apiServer.port),
        }
      : {}),
  };
  for (const e of i.env) {
    if (e.value !== undefined) env[e.name] = expand(e.value, env);
    else if (e.valueFrom?.fieldRef) {
      const v = fieldValue(i.fields, e.valueFrom.fieldRef.fieldPath);
      if (v === undefined) throw new Error(`env ${e.name}: unsupported fieldPath ${e.valueFrom.fieldRef.fieldPath}`);
      env[e.name] = v;
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const v = (await i.configMap(ref.name))?.[ref.key];
      if (v === undefined && !ref.optional)
        throw new Error(`env ${e.name}: configmap ${ref.name} has no key ${ref.key}`);
      if (v !== undefined) env[e.name] = v;
    } else env[e.name] = '';
  }
  return env;
}

/** $(VAR) references to earlier variables, as the kubelet expands them ($$ escapes). */
function expand(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) =>
    m === '$$' ? '$' : name !== undefined && env[name] !== undefined ? env[name] : m,
  );
}
