// The kubeconfig the devcluster writes: one cluster with our CA, one user with the bearer token
// (when one is set), one context named "devcluster" in namespace default.
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigInput {
  server: string;
  caCert: string;
  token?: string;
  /** Read the token from this file instead (client-go's `tokenFile`; a rotated projected token). */
  tokenFile?: string;
  namespace?: string;
}

export function kubeconfigYaml(k: KubeconfigInput): string {
  // Always a token: with an empty user kubectl falls back to prompting for a username. A server
  // started without a token accepts any.
  const user: Record<string, string> = k.tokenFile ? { tokenFile: k.tokenFile } : { token: k.token ?? 'devcluster' };
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'devcluster',
        cluster: { server: k.server, 'certificate-authority-data': Buffer.from(k.caCert).toString('base64') },
      },
    ],
    users: [{ name: 'devcluster', user }],
    contexts: [
      {
        name: 'devcluster',
        context: { cluster: 'devcluster', user: 'devcluster', namespace: k.namespace ?? 'default' },
      },
    ],
    'current-context': 'devcluster',
    preferences: {},
  });
}

export function writeKubeconfig(path: string, k: KubeconfigInput): void {
  writeFileSync(path, kubeconfigYaml(k), { mode: 0o600 });
}
