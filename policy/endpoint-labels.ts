// An endpoint's identity labels, built from its pod and namespace (and rebuilt when its namespace is
// relabelled).
import { LabelFilter } from './label-filter.js';
import {
  DEFAULT_CLUSTER_NAME,
  LABEL_CLUSTER,
  LABEL_NAMESPACE,
  LABEL_NAMESPACE_LABELS_PREFIX,
  LABEL_SERVICE_ACCOUNT,
  LabelSet,
  type Label,
} from './labels.js';

export interface EndpointLabelInput {
  podLabels?: Readonly<Record<string, string>>;
  namespace: string;
  namespaceLabels?: Readonly<Record<string, string>>;
  serviceAccount?: string;
  clusterName?: string;
}

const defaultFilter = new LabelFilter();

/**
 * The identity labels of a pod (all `k8s:` source): its identity-relevant labels, its namespace
 * name and labels (`io.cilium.k8s.namespace.labels.*`), its service account and the cluster name.
 * The cluster label is always present (docs: security/policy/kubernetes, Multi-Cluster): NetworkPolicy
 * selectors rely on it.
 */
export function endpointLabels(input: EndpointLabelInput, filter: LabelFilter = defaultFilter): LabelSet {
  const out: Label[] = [];
  for (const [key, value] of Object.entries(input.podLabels ?? {})) {
    if (filter.relevant(key)) out.push({ source: 'k8s', key, value });
  }
  out.push({ source: 'k8s', key: LABEL_NAMESPACE, value: input.namespace });
  for (const [key, value] of Object.entries(input.namespaceLabels ?? {})) {
    const full = LABEL_NAMESPACE_LABELS_PREFIX + key;
    if (filter.relevant(full)) out.push({ source: 'k8s', key: full, value });
  }
  if (input.serviceAccount) out.push({ source: 'k8s', key: LABEL_SERVICE_ACCOUNT, value: input.serviceAccount });
  out.push({ source: 'k8s', key: LABEL_CLUSTER, value: input.clusterName ?? DEFAULT_CLUSTER_NAME });
  return new LabelSet(out);
}

/**
 * The same endpoint labels with its namespace's labels replaced: what the agent feeds back as a
 * new identity when a namespace is relabelled (cilium/cilium#38030: namespace labels are identity).
 */
export function withNamespaceLabels(
  labels: LabelSet,
  namespaceLabels: Readonly<Record<string, string>>,
  filter: LabelFilter = defaultFilter,
): LabelSet {
  const kept = [...labels].filter((l) => !(l.source === 'k8s' && l.key.startsWith(LABEL_NAMESPACE_LABELS_PREFIX)));
  for (const [key, value] of Object.entries(namespaceLabels)) {
    const full = LABEL_NAMESPACE_LABELS_PREFIX + key;
    if (filter.relevant(full)) kept.push({ source: 'k8s', key: full, value });
  }
  return new LabelSet(kept);
}
