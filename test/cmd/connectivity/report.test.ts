// The connectivity test's outputs: the JUnit XML validates against the junit schema (fixtures/,
// checked by libxml2 compiled to WebAssembly), the text report names every failed connection with
// its drop reason, and the scenario table keeps the shape the runner relies on.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateXML } from 'xmllint-wasm';
import type { summary } from '../../../cmd/cilium/connectivity/report.js';
import { formatJson, formatJUnit, formatReport, type RunResult } from '../../../cmd/cilium/connectivity/report.js';
import { checkKind, SCENARIOS } from '../../../cmd/cilium/connectivity/scenarios.js';

const XSD = readFileSync(fileURLToPath(new URL('fixtures/junit.xsd', import.meta.url)), 'utf8');

async function validate(xml: string) {
  return validateXML({
    xml: [{ fileName: 'report.xml', contents: xml }],
    schema: [{ fileName: 'junit.xsd', contents: XSD }],
  });
}

const RUN: RunResult = {
  namespace: 'cilium-test-1',
  seconds: 42.5,
  tests: [
    {
      name: 'no-policies',
      promise: 'p',
      seconds: 1.2,
      actions: [
        {
          name: 'no-policies/pod-to-pod/client-to-echo-other-node',
          from: 'client',
          to: 'echo-other-node',
          expect: 'ok',
          actual: 'timeout',
          passed: false,
          description: 'cilium-test-1/client-1 (10.0.0.1) -> cilium-test-1/echo-other-node-1 (10.0.1.2:8080)',
          detail: 'Hubble: Policy denied (INGRESS, node-2) <&"\u0001>',
        },
        {
          name: 'no-policies/pod-to-pod/client-to-echo-same-node',
          from: 'client',
          to: 'echo-same-node',
          expect: 'ok',
          actual: 'ok',
          passed: true,
          description: 'x',
        },
      ],
    },
    { name: 'all-ingress-deny', promise: 'p', seconds: 3, actions: [], cleanup: { passed: true } },
    { name: 'to-world', promise: 'p', seconds: 0, skipped: 'no --external-target', actions: [] },
    {
      name: 'echo-ingress',
      promise: 'p',
      seconds: 2,
      actions: [
        {
          name: 'a',
          from: 'client',
          to: 'echo-same-node',
          expect: 'drop',
          actual: 'timeout',
          passed: true,
          description: 'x',
        },
      ],
      cleanup: { passed: false, detail: 'still dropped after the policies were deleted: client → echo-same-node' },
    },
  ],
};

describe('JUnit output', () => {
  it('validates against the junit schema: passed, failed (with escaped text) and skipped testcases', async () => {
    const xml = formatJUnit(RUN, new Date('2026-12-04T01:02:03.456Z'));
    const r = await validate(xml);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);
    expect(xml).toContain(
      '<testsuite name="connectivity test" package="cilium-test-1" tests="4" failures="2" errors="0" skipped="1"',
    );
    expect(xml).toContain('timestamp="2026-12-04T01:02:03"');
    expect(xml).toContain('<skipped message="no --external-target"/>');
    expect(xml).toContain('Policy denied (INGRESS, node-2) &lt;&amp;&quot;&gt;'); // escaped, the control character gone
    expect(xml).toContain('echo-ingress/cleanup: still dropped after the policies were deleted');
  });

  it('the schema check can fail: a testcase without a name, a negative count', async () => {
    const broken = formatJUnit(RUN)
      .replace('<testcase name="no-policies"', '<testcase')
      .replace('tests="4"', 'tests="-1"');
    const r = await validate(broken);
    expect(r.valid).toBe(false);
    expect(r.errors.map((e) => e.message).join('\n')).toMatch(/name.*required|tests/);
  });
});

describe('text and JSON report', () => {
  it('lists every failed connection with what was expected, what happened and why', () => {
    const text = formatReport(RUN);
    expect(text).toContain('❌ 2/3 tests failed (1/3 actions), 1 tests skipped:');
    expect(text).toContain(
      '  ❌ no-policies/pod-to-pod/client-to-echo-other-node: cilium-test-1/client-1 (10.0.0.1) -> cilium-test-1/echo-other-node-1 (10.0.1.2:8080): expected success, got timeout (Hubble: Policy denied (INGRESS, node-2)',
    );
    expect(text).toContain('  ❌ echo-ingress/cleanup: still dropped after the policies were deleted');
  });

  it('a run without failures is one line; JSON carries the summary', () => {
    const ok: RunResult = { ...RUN, tests: [RUN.tests[1]!, RUN.tests[2]!] };
    expect(formatReport(ok)).toBe('✅ [cilium-test-1] All 1 tests (0 actions) successful, 1 tests skipped.\n');
    const json = JSON.parse(formatJson(RUN)) as { summary: ReturnType<typeof summary>; tests: unknown[] };
    expect(json.summary).toEqual({ tests: 3, failedTests: 2, skippedTests: 1, actions: 3, failedActions: 1 });
    expect(json.tests).toHaveLength(4);
  });
});

describe('the scenario table', () => {
  it('names are unique; every scenario checks something; policy scenarios check a drop and a success', () => {
    const names = SCENARIOS.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    const ctx = {
      namespace: 'ns',
      otherNamespace: 'ns-other',
      ports: [8080, 8081] as const,
      portNames: ['http-8080', 'alt-8081'] as const,
    };
    for (const s of SCENARIOS) {
      expect(s.checks.length).toBeGreaterThan(0);
      const policies = s.policies(ctx);
      if (policies.length === 0) continue;
      // a scenario whose policies change nothing it checks would pass with enforcement broken
      expect(s.checks.some((c) => c.expect === 'drop')).toBe(true);
      for (const p of policies)
        expect(p.metadata?.labels).toEqual({ 'app.kubernetes.io/part-of': 'cilium-connectivity-test' });
    }
  });

  it('groups checks as upstream names its actions', () => {
    expect(checkKind({ from: 'client', to: 'echo-other-node', expect: 'ok' })).toBe('pod-to-pod');
    expect(checkKind({ from: 'client', to: 'service-same-node', expect: 'ok' })).toBe('pod-to-service');
    expect(checkKind({ from: 'client', to: 'host-other-node', expect: 'ok' })).toBe('pod-to-host');
    expect(checkKind({ from: 'host-netns', to: 'echo-same-node', expect: 'ok' })).toBe('host-to-pod');
    expect(checkKind({ from: 'client', to: 'world', expect: 'drop' })).toBe('pod-to-world');
    expect(checkKind({ from: 'client', to: 'nodeport-same-node', expect: 'ok' })).toBe('pod-to-nodeport');
  });
});
