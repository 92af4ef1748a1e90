// `cilium policy whatif` argument handling: an invalid proposal is reported as kubectl apply
// reports it and nothing else runs (the cluster is never contacted).
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPolicyCli, type PolicyCliIo } from '../../cmd/cilium/policy-whatif.js';

function io(): PolicyCliIo & { outText: string[]; errText: string[]; kubeconfigLoads: number } {
  const r = {
    outText: [] as string[],
    errText: [] as string[],
    kubeconfigLoads: 0,
    out: (t: string) => r.outText.push(t),
    err: (t: string) => r.errText.push(t),
    loadKubeConfig: () => {
      r.kubeconfigLoads++;
      throw new Error('the cluster must not be contacted');
    },
  };
  return r as never;
}

describe('cilium policy whatif (CLI)', () => {
  it('an invalid policy in FILE: field paths on stderr, exit 1, no cluster call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-whatif-cli-'));
    try {
      const file = join(dir, 'p.yaml');
      writeFileSync(
        file,
        `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ok, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: broken}
spec:
  endpointSelector: {matchLabels: {app: frontend}}
  ingress:
    - fromCIDR: [10.0.0.0/33]
      toPorts: [{ports: [{port: "99999"}]}]
`,
      );
      const o = io();
      const code = await runPolicyCli(['whatif', '-f', file, '-n', 'shop'], o);
      expect(code).toBe(1);
      expect(o.kubeconfigLoads).toBe(0);
      expect(o.outText).toEqual([]);
      const err = o.errText.join('\n');
      expect(err).toContain(`error when applying "${file}": CiliumNetworkPolicy.cilium.io "broken" is invalid`);
      expect(err).toMatch(/\* spec\.ingress\[0\]\.fromCIDR\[0\]: /);
      expect(err).toMatch(/\* spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.port: /);
      expect(err).not.toContain('"ok"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs a proposal and a known output', async () => {
    const o = io();
    expect(await runPolicyCli(['whatif'], o)).toBe(1);
    expect(o.errText.join('')).toContain('nothing proposed');
    expect(await runPolicyCli(['whatif', '--delete', 'x', '-o', 'yaml'], o)).toBe(1);
    expect(o.errText.join('')).toContain('unknown output "yaml"');
    expect(o.kubeconfigLoads).toBe(0);
  });
});
