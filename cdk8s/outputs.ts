// Every generated file of the install, by path from the repository root: the CRDs, dist/install.yaml,
// the kustomize base and the Helm chart. `npm run synth` writes them; a test regenerates them and
// fails on any difference from what is committed.
import { synthCrdFiles } from './crds-chart.js';
import { helmChartFiles } from './helm-chart.js';
import { COMPONENTS, type Component, installManifests } from './install-chart.js';
import { generatedNotice, manifestsYaml } from './manifest-yaml.js';

/** Directories whose every file is generated (stale files there are removed by synth). */
export const GENERATED_DIRS = ['crds/v2', 'charts/cilium-ts', 'deploy/base'] as const;

export function synthOutputs(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [name, text] of synthCrdFiles()) files.set(`crds/v2/${name}`, text);

  const manifests = installManifests();
  const notice = generatedNotice(
    'cilium-ts: the whole install (CRDs, agent, operator, hubble-relay, hubble-ui) with default values.\nkubectl apply --server-side -f dist/install.yaml',
  );
  files.set(
    'dist/install.yaml',
    manifestsYaml(
      manifests.map((m) => m.object),
      notice,
    ),
  );

  const parts: Component[] = ['crds', ...COMPONENTS];
  for (const part of parts) {
    const objects = manifests.filter((m) => m.component === part).map((m) => m.object);
    files.set(
      `deploy/base/${part}.yaml`,
      manifestsYaml(objects, generatedNotice(`cilium-ts ${part}, kustomize base.`)),
    );
  }
  files.set(
    'deploy/base/kustomization.yaml',
    `# ${generatedNotice('The cilium-ts install as a kustomize base; overlays patch it (see deploy/overlays/example).').replace(/\n/g, '\n# ')}\n` +
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n' +
      parts.map((p) => `  - ${p}.yaml\n`).join(''),
  );

  for (const [name, text] of helmChartFiles()) files.set(`charts/cilium-ts/${name}`, text);
  return files;
}
