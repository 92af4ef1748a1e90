// Each component's recorded use of the API (what it asked for during the e2e suites, recorded by
// the devcluster API server: test/install/fixtures/recorded-use.jsonl, regenerated with
// `node --import tsx hack/record-use.ts`) against its role in cdk8s/rbac.ts, both ways: nothing it
// used was denied or lies outside its role, and every grant of the role is either used or its rule
// says why it is kept (`unexercised`).
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_RULES,
  OPERATOR_NAMESPACE_RULES,
  OPERATOR_RULES,
  toPolicyRule,
  type RbacRule,
} from '../../cdk8s/rbac.js';
import type { UseRecord } from '../../devcluster/apiserver/auth/use-recorder.js';
import { REPO } from './tools.js';

const RECORDS = readFileSync(join(REPO, 'test/install/fixtures/recorded-use.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as UseRecord);

const ROLES: Record<string, readonly RbacRule[]> = {
  'system:serviceaccount:kube-system:cilium': AGENT_RULES,
  'system:serviceaccount:kube-system:cilium-operator': [...OPERATOR_RULES, ...OPERATOR_NAMESPACE_RULES],
  // hubble-relay talks to the agents' Hubble servers only: no API access at all
  'system:serviceaccount:kube-system:hubble-relay': [],
};

const resourceOf = (r: UseRecord): string => (r.subresource ? `${r.resource}/${r.subresource}` : (r.resource ?? ''));

/** Whether a record is one use of this grant (a verb on one resource of a rule). */
const uses = (r: UseRecord, group: string, resource: string, verb: string): boolean =>
  r.group === group && resourceOf(r) === resource && r.verb === verb;

describe('recorded use vs. the install roles', () => {
  it('the recording covers the agent and the operator', () => {
    const users = new Set(RECORDS.map((r) => r.user));
    expect(users).toContain('system:serviceaccount:kube-system:cilium');
    expect(users).toContain('system:serviceaccount:kube-system:cilium-operator');
  });

  it('no component was denied anything, and every use lies inside its role', () => {
    const outside: string[] = [];
    for (const r of RECORDS) {
      const rules = ROLES[r.user];
      if (!rules) continue;
      const covered = rules.some((rule) => {
        const p = toPolicyRule(rule);
        return p.apiGroups.includes(r.group ?? '') && p.resources.includes(resourceOf(r)) && p.verbs.includes(r.verb);
      });
      if (!r.allowed || !covered)
        outside.push(`${r.user}: ${r.verb} ${r.group}/${resourceOf(r)} (allowed: ${r.allowed})`);
    }
    expect(outside).toEqual([]);
  });

  for (const [user, rules] of Object.entries(ROLES)) {
    it(`${user.split(':').pop()}: every grant is used, or its rule says why it is kept`, () => {
      const problems: string[] = [];
      for (const rule of rules) {
        const mine = RECORDS.filter((r) => r.user === user);
        const unused: string[] = [];
        for (const g of rule.apiGroups)
          for (const res of rule.resources)
            for (const v of rule.verbs) if (!mine.some((r) => uses(r, g, res, v))) unused.push(`${v} ${g}/${res}`);
        if (unused.length && !rule.unexercised) problems.push(`unused and unexplained: ${unused.join(', ')}`);
        if (!unused.length && rule.unexercised)
          problems.push(`"${rule.why}": every grant is used now; drop its unexercised note`);
      }
      expect(problems).toEqual([]);
    });
  }
});
