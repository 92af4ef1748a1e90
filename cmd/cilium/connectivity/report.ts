// The results of a run and the three ways they are written out: the text users know from
// upstream's cilium-cli (a `[=] Test [name]` block per scenario, a report listing every failed
// connection), JUnit XML for CI systems (the layout Jenkins' junit schema describes:
// testsuites > testsuite > testcase with failure/skipped), and JSON.

/** One connection of a scenario, with what was expected and what happened last. */
export interface ActionResult {
  /** `<scenario>/<kind>/<from>-to-<target>`, as upstream names its actions. */
  name: string;
  from: string;
  to: string;
  expect: 'ok' | 'drop';
  actual: 'ok' | 'timeout' | 'refused' | 'error';
  passed: boolean;
  /** `ns/pod (ip)` → `ns/pod (ip:port)`, for the report */
  description: string;
  /** Why it failed: the probe's message, and the drop reason Hubble reported when it was reachable. */
  detail?: string;
}

export interface TestResult {
  name: string;
  promise: string;
  /** Why it did not run (a target the cluster does not have), when skipped. */
  skipped?: string;
  actions: ActionResult[];
  /** Whether the policies were removed and the baseline came back afterwards (false: a failure of its own). */
  cleanup?: { passed: boolean; detail?: string };
  seconds: number;
}

export interface RunResult {
  namespace: string;
  tests: TestResult[];
  seconds: number;
}

export const testFailed = (t: TestResult) =>
  !t.skipped && (t.actions.some((a) => !a.passed) || t.cleanup?.passed === false);

export function summary(r: RunResult) {
  const run = r.tests.filter((t) => !t.skipped);
  const actions = run.flatMap((t) => t.actions);
  return {
    tests: run.length,
    failedTests: run.filter(testFailed).length,
    skippedTests: r.tests.length - run.length,
    actions: actions.length,
    failedActions: actions.filter((a) => !a.passed).length,
  };
}

/** The closing lines: one success line, or the report of every failed connection. */
export function formatReport(r: RunResult): string {
  const s = summary(r);
  const ns = `[${r.namespace}]`;
  if (s.failedTests === 0)
    return `✅ ${ns} All ${s.tests} tests (${s.actions} actions) successful, ${s.skippedTests} tests skipped.\n`;
  const lines = [
    `📋 Test Report ${ns}`,
    `❌ ${s.failedTests}/${s.tests} tests failed (${s.failedActions}/${s.actions} actions), ${s.skippedTests} tests skipped:`,
  ];
  for (const t of r.tests.filter(testFailed)) {
    lines.push(`Test [${t.name}]:`);
    for (const a of t.actions.filter((x) => !x.passed))
      lines.push(
        `  ❌ ${a.name}: ${a.description}: expected ${expectWord(a.expect)}, got ${a.actual}${a.detail ? ` (${a.detail})` : ''}`,
      );
    if (t.cleanup?.passed === false)
      lines.push(`  ❌ ${t.name}/cleanup: ${t.cleanup.detail ?? 'the baseline did not come back'}`);
  }
  return `${lines.join('\n')}\n`;
}

const expectWord = (e: 'ok' | 'drop') => (e === 'ok' ? 'success' : 'drop');

function xml(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // characters XML 1.0 cannot carry at all
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

/** JUnit XML: one testsuite, one testcase per scenario (upstream's cilium-cli does the same). */
export function formatJUnit(r: RunResult, now = new Date()): string {
  const s = summary(r);
  const name = 'connectivity test';
  const cases = r.tests.map((t) => {
    const head = `    <testcase name="${xml(t.name)}" classname="${xml(name)}" time="${t.seconds.toFixed(3)}">`;
    if (t.skipped) return `${head}\n      <skipped message="${xml(t.skipped)}"/>\n    </testcase>`;
    if (!testFailed(t)) return `${head}\n    </testcase>`;
    const failed = t.actions.filter((a) => !a.passed);
    const text = [
      ...failed.map(
        (a) =>
          `${a.name}: ${a.description}: expected ${expectWord(a.expect)}, got ${a.actual}${a.detail ? ` (${a.detail})` : ''}`,
      ),
      ...(t.cleanup?.passed === false ? [`${t.name}/cleanup: ${t.cleanup.detail ?? ''}`] : []),
    ].join('\n');
    const message = `${failed.length}/${t.actions.length} actions failed`;
    return `${head}\n      <failure message="${xml(message)}" type="failure">${xml(text)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${name}" tests="${r.tests.length}" failures="${s.failedTests}" errors="0" skipped="${s.skippedTests}" time="${r.seconds.toFixed(3)}">`,
    `  <testsuite name="${name}" package="${xml(r.namespace)}" tests="${r.tests.length}" failures="${s.failedTests}" errors="0" skipped="${s.skippedTests}" time="${r.seconds.toFixed(3)}" timestamp="${now.toISOString().replace(/\.\d+Z$/, '')}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** `--json`: the whole result, for scripts. */
export function formatJson(r: RunResult): string {
  return `${JSON.stringify({ namespace: r.namespace, seconds: r.seconds, summary: summary(r), tests: r.tests }, null, 2)}\n`;
}
