// The identity-relevant label filter (upstream pkg/labelsfilter) with upstream's default exclusions.
import { LABEL_NAMESPACE, LABEL_NAMESPACE_LABELS_PREFIX } from './labels.js';

/**
 * Upstream's default identity-relevant label filter (`pkg/labelsfilter`): regular expressions
 * matched anywhere in the key. Includes override excludes; user includes make the filter
 * exclusive (only included keys count).
 */
export const DEFAULT_LABEL_FILTER: readonly string[] = [
  `${LABEL_NAMESPACE.replaceAll('.', '\\.')}`,
  `${LABEL_NAMESPACE_LABELS_PREFIX.replaceAll('.', '\\.')}`,
  'io\\.cilium\\.k8s\\.policy',
  'app\\.kubernetes\\.io',
  '!io\\.kubernetes',
  '!kubernetes\\.io',
  '!statefulset\\.kubernetes\\.io/pod-name',
  '!apps\\.kubernetes\\.io/pod-index',
  '!batch\\.kubernetes\\.io/job-completion-index',
  '!batch\\.kubernetes\\.io/controller-uid',
  '!.*beta\\.kubernetes\\.io',
  '!k8s\\.io',
  '!pod-template-generation',
  '!pod-template-hash',
  '!controller-revision-hash',
  '!annotation.*',
  '!etcd_node',
];

/** A compiled identity-relevant label filter. */
export class LabelFilter {
  private readonly includes: RegExp[] = [];
  private readonly excludes: RegExp[] = [];
  private readonly exclusive: boolean;

  /** `userExpressions` are added to the defaults; a user include makes the filter exclusive. */
  constructor(userExpressions: readonly string[] = [], defaults: readonly string[] = DEFAULT_LABEL_FILTER) {
    for (const e of [...defaults, ...userExpressions]) {
      if (e.startsWith('!')) this.excludes.push(new RegExp(e.slice(1)));
      else this.includes.push(new RegExp(e));
    }
    this.exclusive = userExpressions.some((e) => !e.startsWith('!'));
  }

  /** True when a pod label key is part of the identity. */
  relevant(key: string): boolean {
    if (this.includes.some((r) => r.test(key))) return true;
    if (this.exclusive) return false;
    return !this.excludes.some((r) => r.test(key));
  }
}
