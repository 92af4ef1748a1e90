// A saved run of test/e2e/whatif.test.ts (WHATIF_WRITE_FIXTURE=1): the flows relay held, as
// `hubble observe -o json` printed them, and the cluster's policies, identities and endpoints as
// `kubectl get -o json` printed them. Offline, what-if gives the answer the live run gave — the
// one the real-TCP matrix confirmed after the real apply.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FRONTEND_DENY_INTRUDER } from '../../hack/demo-app.js';
import type { CiliumEndpoint, CiliumIdentity } from '../../crds/index.js';
import type { PolicyObject } from '../../policy/index.js';
import { checkProposed, parseFlowFile, whatIf, type ClusterState, type WhatIfReport } from '../../whatif/index.js';

const dir = join(import.meta.dirname, 'fixtures');
const read = (f: string): string => readFileSync(join(dir, f), 'utf8');

function stateOf(list: { items: { kind: string }[] }): ClusterState {
  const of = (kind: string) => list.items.filter((i) => i.kind === kind);
  return {
    policies: list.items
      .filter((i) => ['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy'].includes(i.kind))
      .map((object) => ({ kind: object.kind, object }) as PolicyObject),
    identities: of('CiliumIdentity') as CiliumIdentity[],
    endpoints: of('CiliumEndpoint') as CiliumEndpoint[],
  };
}

describe('a saved e2e run, offline', () => {
  const flows = parseFlowFile(read('demo-deny.flows.json'));
  const state = stateOf(JSON.parse(read('demo-deny.state.json')) as { items: { kind: string }[] });
  const live = JSON.parse(read('demo-deny.report.json')) as WhatIfReport;
  const report = whatIf(flows, state, { apply: checkProposed([{ object: parse(FRONTEND_DENY_INTRUDER) }]) });

  it('the deny policy closes exactly intruder → frontend:8080, as the matrix showed', () => {
    expect(flows.length).toBeGreaterThan(50);
    expect(report.changes.map((c) => `${c.source} → ${c.destination}:${c.port} ${c.after}`)).toEqual([
      'shop/intruder → shop/frontend:8080 dropped',
    ]);
    expect(report.breaking).toBe(true);
    expect(report.summary.stale).toBe(0);
  });

  it('gives the report the live run printed', () => {
    expect(report).toEqual(live);
  });
});
