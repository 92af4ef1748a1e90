// The one judgement of a policy object that the agents (enforce or refuse) and the operator's
// policy validator (writes Valid) share: refused as a whole on a schema error, else translated,
// with the fields accepted but not enforced named in the condition.
import { describe, expect, it } from '@jest/globals';
import { checkPolicy, policyValidCondition } from '../../policy/index.js';
import { cnp, knp } from './fixture.js';

const opts = { clusterName: 'default' };

describe('checkPolicy and policyValidCondition', () => {
  it('a valid CNP is translated and Valid=True', () => {
    const check = checkPolicy(cnp('prod', 'a', { endpointSelector: {}, ingress: [{}] }), opts);
    expect(check.errors).toEqual([]);
    expect(check.translated?.rules.length).toBeGreaterThan(0);
    expect(policyValidCondition(check)).toEqual({
      type: 'Valid',
      status: 'True',
      reason: 'PolicyValidated',
      message: 'Policy validation succeeded',
    });
  });

  it('a CNP with a schema error is refused as a whole: no translation, Valid=False naming the field', () => {
    const check = checkPolicy(
      cnp('prod', 'b', {
        endpointSelector: {},
        egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] }] }],
      }),
      opts,
    );
    expect(check.translated).toBeUndefined();
    const c = policyValidCondition(check);
    expect(c).toMatchObject({ status: 'False', reason: 'PolicyValidationFailed' });
    expect(c.message).toContain('spec.egress[0].toCIDRSet[0].except[0]');
  });

  it('fields accepted but not enforced are named in a Valid=True condition', () => {
    const check = checkPolicy(
      cnp('prod', 'c', {
        endpointSelector: {},
        egress: [{ toServices: [{ k8sService: { serviceName: 'a', namespace: 'b' } }] }],
      }),
      opts,
    );
    expect(policyValidCondition(check)).toEqual({
      type: 'Valid',
      status: 'True',
      reason: 'PolicyValidated',
      message: expect.stringMatching(/^Policy validation succeeded; not enforced: spec\.egress\[0\]\.toServices: /),
    });
  });

  it('a NetworkPolicy is never schema-checked here (the API server validates it)', () => {
    const check = checkPolicy(knp('prod', 'd', { podSelector: {}, policyTypes: ['Ingress'] }), opts);
    expect(check.errors).toEqual([]);
    expect(check.translated).toBeDefined();
  });
});
