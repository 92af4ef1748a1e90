// An interrupted benchmark still takes its devcluster down (namespaces, pins, processes): the
// SIGINT/SIGTERM handler the cluster benchmarks share.
import { downDetached } from '../../devcluster/cluster.js';
import { downNodes } from '../../devcluster/nodes/nodes.js';

/** On SIGINT or SIGTERM: `downNodes` and `downDetached` on the cluster `dir()` names (if any), then exit 130. */
export function takeDownOnSignal(dir: () => string | undefined): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      const d = dir();
      if (!d) process.exit(130);
      void downNodes(d)
        .catch(() => undefined)
        .then(() => downDetached(d).catch(() => undefined))
        .finally(() => process.exit(130));
    });
}
