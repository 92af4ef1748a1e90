// charts/cilium-ts, written from the same constructs as dist/install.yaml: the constructs are built
// with sentinel values (render-context.ts) and each sentinel becomes the Helm expression of its
// value; optional objects get `{{- if }}` around them; the ConfigMap entries get their keys' Helm
// expressions. Chart.yaml, values.yaml (defaults, commented from the schema), values.schema.json,
// the CRDs under crds/ and NOTES.txt complete the chart.
import { Document, isMap, isScalar, type YAMLMap } from 'yaml';
import { CONFIG_KEYS } from '../config/cilium-config.js';
import { CONFIG_VALUES } from './cilium-config.js';
import { synthCrdFiles } from './crds-chart.js';
import { ETCD_CONFIG_HELM, ETCD_CONFIG_SENTINEL } from './etcd-config.js';
import { HUBBLE_TLS_HELM_TEMPLATE } from './hubble-tls.js';
import { COMPONENTS, helmManifests } from './install-chart.js';
import { generatedNotice, objectYaml } from './manifest-yaml.js';
import { GATE_ANNOTATION, NAMESPACE_SENTINEL, imageSentinel, sentinel } from './render-context.js';
import { DEFAULT_VALUES, ValuesSchema, valueLeaves, valuesJsonSchema } from './values.js';

export const CHART_NAME = 'cilium-ts';
export const CHART_VERSION = '0.1.0';

/** Every file of charts/cilium-ts: path relative to the chart directory → content. */
export function helmChartFiles(): Map<string, string> {
  const files = new Map<string, string>();
  files.set('Chart.yaml', chartYaml());
  files.set('values.yaml', valuesYaml());
  files.set('values.schema.json', `${JSON.stringify(valuesJsonSchema(), null, 2)}\n`);
  for (const [name, text] of synthCrdFiles()) files.set(`crds/${name}`, text);
  const manifests = helmManifests();
  for (const component of COMPONENTS) {
    const docs = manifests.filter((m) => m.component === component).map((m) => templateDoc(m.object));
    files.set(
      `templates/${component}.yaml`,
      `{{- /* ${generatedNotice(`The ${component} of cilium-ts.`).replace(/\n/g, ' ')} */}}\n${docs.join('')}`,
    );
  }
  // Secrets made at render time (genCA/genSignedCert): the one template not written from constructs
  files.set(
    'templates/hubble-tls.yaml',
    `{{- /* ${generatedNotice('Hubble TLS Secrets of cilium-ts (hubble.tls.auto.method=helm).').replace(/\n/g, ' ')} */}}\n${HUBBLE_TLS_HELM_TEMPLATE}`,
  );
  files.set('templates/NOTES.txt', NOTES);
  files.set('README.md', readme());
  return files;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** README.md: how to install, every value with its default, every cilium-config key with its reader. */
function readme(): string {
  const get = (path: string) =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], DEFAULT_VALUES);
  const values = valueLeaves().map(
    (l) => `| \`${l.path}\` | \`${cell(JSON.stringify(get(l.path)))}\` | ${cell(String(l.schema.description ?? ''))} |`,
  );
  const keys = CONFIG_KEYS.map((k) => `| \`${k.key}\` | ${k.reader} | ${cell(k.doc)} |`);
  return [
    `<!-- ${generatedNotice('README of the cilium-ts chart.').replace(/\n/g, ' ')} -->`,
    '# cilium-ts Helm chart',
    '',
    'eBPF networking, network policy and Hubble flow visibility for Kubernetes: the cilium-ts agent (DaemonSet),',
    'operator (Deployment, leader-elected) and hubble-relay, with the cilium.io/v2 CRDs under `crds/`.',
    'The same objects are in `dist/install.yaml` and `deploy/base`, all generated from `cdk8s/`.',
    '',
    '```sh',
    'helm install cilium-ts charts/cilium-ts --namespace kube-system',
    'helm install cilium-ts charts/cilium-ts --namespace kube-system --set operator.replicas=1 --set hubble.relay.enabled=false',
    '```',
    '',
    '## Values',
    '',
    '`values.schema.json` refuses unknown keys and out-of-range values.',
    '',
    '| value | default | what it does |',
    '| --- | --- | --- |',
    ...values,
    '',
    '## The `cilium-config` ConfigMap',
    '',
    'The agent and the operator mount it at `/tmp/cilium/config-map` (one file per key) and start with',
    '`--config-dir=/tmp/cilium/config-map`. These are exactly the keys they read:',
    '',
    '| key | read by | meaning |',
    '| --- | --- | --- |',
    ...keys,
    '',
  ].join('\n');
}

function chartYaml(): string {
  return new Document({
    apiVersion: 'v2',
    name: CHART_NAME,
    description:
      'cilium-ts: eBPF networking, network policy and Hubble flow visibility for Kubernetes (the Cilium architecture in TypeScript).',
    type: 'application',
    version: CHART_VERSION,
    appVersion: DEFAULT_VALUES.image.tag,
    kubeVersion: '>=1.27.0-0',
    keywords: ['cni', 'ebpf', 'networkpolicy', 'hubble'],
    annotations: { 'cilium-ts.io/generated': 'npm run synth (cdk8s/helm-chart.ts)' },
  }).toString();
}

/** values.yaml: the defaults, each key preceded by its schema description. */
function valuesYaml(): string {
  const doc = new Document(DEFAULT_VALUES);
  const describe = (
    map: YAMLMap,
    schema: { properties?: Record<string, { description?: string; properties?: unknown }> },
  ) => {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const s = schema.properties?.[key];
      if (!s) continue;
      if (s.description && isScalar(pair.key)) pair.key.commentBefore = ` ${s.description}`;
      if (isMap(pair.value)) describe(pair.value, s as typeof schema);
    }
  };
  if (isMap(doc.contents)) describe(doc.contents, ValuesSchema as unknown as Parameters<typeof describe>[1]);
  doc.commentBefore = ` ${generatedNotice('Default values of the cilium-ts chart.').replace(/\n/g, '\n ')}`;
  return doc.toString({ lineWidth: 0 });
}

/** One object as a template document: sentinels replaced, wrapped in its gate when it has one. */
function templateDoc(object: Record<string, unknown>): string {
  const copy = structuredClone(object) as { metadata: { annotations?: Record<string, string> } };
  const gate = copy.metadata.annotations?.[GATE_ANNOTATION];
  if (gate !== undefined) {
    delete copy.metadata.annotations![GATE_ANNOTATION];
    if (Object.keys(copy.metadata.annotations!).length === 0) delete copy.metadata.annotations;
  }
  const text = `---\n${substitute(objectYaml(copy))}`;
  if (gate === undefined) return text;
  const paths = gate.split(',').map((p) => `.Values.${p}`);
  const cond = paths.length === 1 ? paths[0] : `and ${paths.join(' ')}`;
  return `{{- if ${cond} }}\n${text}{{- end }}\n`;
}

// A union of string literals (oneOf in values.ts) has no `type`: it is a string.
const LEAF_TYPES = new Map(
  valueLeaves().map((l) => [l.path, String(l.schema.type ?? (l.schema.anyOf ? 'string' : 'unknown'))]),
);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces every sentinel in a YAML document by its Helm expression; throws on leftovers. */
export function substitute(yamlText: string): string {
  let out = yamlText;
  for (const k of CONFIG_KEYS) out = replaceWhole(out, sentinel(`cm:${k.key}`), CONFIG_VALUES[k.key].helm);
  out = replaceWhole(out, ETCD_CONFIG_SENTINEL, ETCD_CONFIG_HELM);
  out = replaceWhole(out, NAMESPACE_SENTINEL, '{{ .Release.Namespace | quote }}');
  out = out.split(NAMESPACE_SENTINEL).join('{{ .Release.Namespace }}');
  // the one-entry placeholder list of withImagePullSecrets → the values' whole list
  out = out.replace(
    new RegExp(`imagePullSecrets:\\n\\s*- name: (["'])${escape(sentinel('imagePullSecrets'))}\\1`, 'g'),
    'imagePullSecrets: {{ toJson .Values.imagePullSecrets }}',
  );
  for (const [path, type] of LEAF_TYPES) {
    const s = sentinel(path);
    const whole =
      type === 'integer'
        ? `{{ .Values.${path} | int64 }}`
        : type === 'string'
          ? `{{ .Values.${path} | quote }}`
          : type === 'array'
            ? `{{ toJson .Values.${path} }}`
            : `{{ .Values.${path} }}`;
    out = replaceWhole(out, s, whole);
    out = out.split(s).join(type === 'integer' ? `{{ .Values.${path} | int64 }}` : `{{ .Values.${path} }}`);
  }
  for (const m of new Set([...out.matchAll(/@@image:([\w.]+)@@/g)].map((x) => x[1]!)))
    out = replaceWhole(out, imageSentinel(m), imageExpression(m));
  const left = /@@[^@]*@@/.exec(out);
  if (left) throw new Error(`helm chart: no Helm expression for ${left[0]} (a construct computed with a value?)`);
  return out;
}

/** Upstream's image reference: `repository:tag`, then `@digest` when useDigest is on and a digest is set. */
function imageExpression(path: string): string {
  const v = `.Values.${path}`;
  return `{{ printf "%s:%s%s" ${v}.repository ${v}.tag (ternary (printf "@%s" ${v}.digest) "" (and ${v}.useDigest (ne ${v}.digest ""))) | quote }}`;
}

/** Replaces a sentinel that is a whole (quoted) YAML scalar. */
function replaceWhole(text: string, s: string, expr: string): string {
  return text.replace(new RegExp(`(["'])${escape(s)}\\1`, 'g'), () => expr);
}

const NOTES = `cilium-ts {{ .Chart.AppVersion }} is installed in namespace {{ .Release.Namespace }}.

Agents:    kubectl -n {{ .Release.Namespace }} rollout status daemonset/cilium
Operator:  kubectl -n {{ .Release.Namespace }} rollout status deployment/cilium-operator ({{ .Values.operator.replicas }} replicas, one leader)
Status:    cilium status --namespace {{ .Release.Namespace }}
{{- if and .Values.hubble.enabled .Values.hubble.relay.enabled }}
Flows:     kubectl -n {{ .Release.Namespace }} port-forward service/hubble-relay {{ .Values.hubble.relay.servicePort }}:{{ .Values.hubble.relay.servicePort }} &
           hubble observe --server localhost:{{ .Values.hubble.relay.servicePort }}
{{- end }}
{{- if and .Values.hubble.enabled .Values.hubble.relay.enabled .Values.hubble.ui.enabled }}
Hubble UI: kubectl -n {{ .Release.Namespace }} port-forward service/hubble-ui 12000:80 &
           then open http://localhost:12000{{ .Values.hubble.ui.baseUrl }}
{{- end }}
IPAM:      {{ .Values.ipam.mode }}{{ if eq .Values.ipam.mode "cluster-pool" }}, pod CIDRs from {{ join ", " .Values.ipam.operator.clusterPoolIPv4PodCIDRList }} (/{{ .Values.ipam.operator.clusterPoolIPv4MaskSize }} per node){{ end }}
`;
