// The external etcd kvstore as upstream's chart installs it (`etcd.enabled`): the
// `cilium-etcd-config` ConfigMap holding `etcd.config` (the etcd client config YAML: endpoints,
// and with `etcd.ssl` the trusted-ca-file, key-file and cert-file from the Secret
// `cilium-etcd-secrets`, which the user creates, as upstream's docs say), and the two volumes the
// agent and the operator mount it through. The volumes are always in the pod specs, optional:
// a pod template cannot be gated in the chart (render-context.ts), and an optional ConfigMap or
// Secret that does not exist mounts as an empty directory, which the processes never read
// unless `kvstore-opt` names the file (it only does with etcd.enabled).
import { k8s } from 'cdk8s-plus-32';
import type { Construct } from 'constructs';
import { ETCD_CONFIG_FILE } from './cilium-config.js';
import { type RenderContext, componentLabels, include, sentinel } from './render-context.js';
import type { Values } from './values.js';

/** The ConfigMap with the etcd config file (upstream's name). */
export const ETCD_CONFIG_MAP = 'cilium-etcd-config';
/** The Secret with the client CA, certificate and key (upstream's name and keys). */
export const ETCD_SECRET = 'cilium-etcd-secrets';
/** Where the Secret's files appear in the pods (upstream's path). */
export const ETCD_SECRETS_DIR = '/var/lib/etcd-secrets';
const CONFIG_DIR = ETCD_CONFIG_FILE.slice(0, ETCD_CONFIG_FILE.lastIndexOf('/'));
const CONFIG_FILE_NAME = ETCD_CONFIG_FILE.slice(CONFIG_DIR.length + 1);

/** The TLS lines of the config file (the Secret's keys as upstream names them). */
const TLS_LINES =
  `trusted-ca-file: ${ETCD_SECRETS_DIR}/etcd-client-ca.crt\n` +
  `key-file: ${ETCD_SECRETS_DIR}/etcd-client.key\n` +
  `cert-file: ${ETCD_SECRETS_DIR}/etcd-client.crt\n`;

/** The etcd config file for these values; endpoints as a JSON (flow YAML) list, as the chart renders it. */
export function etcdConfigYaml(v: Values): string {
  return `endpoints: ${JSON.stringify(v.etcd.endpoints)}\n${v.etcd.ssl ? TLS_LINES : ''}`;
}

/** The sentinel the chart writer turns into ETCD_CONFIG_HELM. */
export const ETCD_CONFIG_SENTINEL = sentinel('etcd-config');
/** etcdConfigYaml as a Helm expression rendering a quoted YAML string. */
export const ETCD_CONFIG_HELM = `{{ printf "endpoints: %s\\n%s" (toJson .Values.etcd.endpoints) (ternary ${JSON.stringify(TLS_LINES)} "" .Values.etcd.ssl) | quote }}`;

/** The ConfigMap, only with etcd.enabled. */
export function etcdConfigMap(scope: Construct, ctx: RenderContext): void {
  include(ctx, ['etcd.enabled'], () => [
    new k8s.KubeConfigMap(scope, 'etcd-config', {
      metadata: {
        name: ETCD_CONFIG_MAP,
        namespace: ctx.namespace,
        labels: componentLabels('cilium-agent', 'config'),
      },
      data: { [CONFIG_FILE_NAME]: ctx.helm ? ETCD_CONFIG_SENTINEL : etcdConfigYaml(ctx.values) },
    }),
  ]);
}

/** The mounts of the config file's directory and of the Secret, for the agent and the operator. */
export const ETCD_MOUNTS: k8s.VolumeMount[] = [
  { name: 'etcd-config-path', mountPath: CONFIG_DIR, readOnly: true },
  { name: 'etcd-secrets', mountPath: ETCD_SECRETS_DIR, readOnly: true },
];

/**
 * The volumes behind ETCD_MOUNTS. `secretMode` is the key files' mode: the agent runs as root
 * (0400); the operator runs as a non-root user that reads them through its pod's fsGroup (0440).
 */
export function etcdVolumes(secretMode: number): k8s.Volume[] {
  return [
    { name: 'etcd-config-path', configMap: { name: ETCD_CONFIG_MAP, optional: true, defaultMode: 0o444 } },
    { name: 'etcd-secrets', secret: { secretName: ETCD_SECRET, optional: true, defaultMode: secretMode } },
  ];
}
