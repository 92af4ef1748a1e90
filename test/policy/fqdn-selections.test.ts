// toFQDNs selections from name deltas: a selector selects the IPs learned for the names it matches,
// at once for names already known, and drops an IP only when no matching name holds it any more.
import { describe, expect, it } from '@jest/globals';
import { FqdnSelections } from '../../policy/fqdn-selections.js';

describe('FqdnSelections', () => {
  it('a matchName selector gains the IPs learned for its name and loses them when they expire', () => {
    const s = new FqdnSelections();
    const a = s.add({ matchName: 'api.example.test' });
    expect(a).toEqual({ ok: true, key: 'api.example.test.', ips: [] });
    expect(s.apply({ type: 'ipsAdded', name: 'api.example.test.', ips: ['10.0.0.1'] })).toEqual([
      { selector: 'api.example.test.', added: ['10.0.0.1'], removed: [] },
    ]);
    expect(s.apply({ type: 'ipsAdded', name: 'other.example.test.', ips: ['10.0.0.2'] })).toEqual([]);
    expect(s.apply({ type: 'ipsExpired', name: 'api.example.test.', ips: ['10.0.0.1'] })).toEqual([
      { selector: 'api.example.test.', added: [], removed: ['10.0.0.1'] },
    ]);
  });

  it('a record changed to a new IP: the new IP is selected on the delta that learned it', () => {
    const s = new FqdnSelections();
    s.add({ matchName: 'api.example.test' });
    s.apply({ type: 'ipsAdded', name: 'api.example.test', ips: ['10.0.0.1'] });
    expect(s.apply({ type: 'ipsAdded', name: 'api.example.test', ips: ['10.0.0.9'] })).toEqual([
      { selector: 'api.example.test.', added: ['10.0.0.9'], removed: [] },
    ]);
    expect(s.selected('api.example.test.')).toEqual(['10.0.0.1', '10.0.0.9']);
  });

  it('a selector added after the lookup selects the known IPs at once', () => {
    const s = new FqdnSelections();
    s.apply({ type: 'ipsAdded', name: 'a.example.test', ips: ['10.0.0.1'] });
    s.apply({ type: 'ipsAdded', name: 'b.example.test', ips: ['10.0.0.2'] });
    s.apply({ type: 'ipsAdded', name: 'example.test', ips: ['10.0.0.3'] });
    expect(s.add({ matchPattern: '*.example.test' })).toEqual({
      ok: true,
      key: '*.example.test.',
      ips: ['10.0.0.1', '10.0.0.2'],
    });
  });

  it('an IP two matching names hold stays selected until both lost it', () => {
    const s = new FqdnSelections();
    s.add({ matchPattern: '*.example.test' });
    s.apply({ type: 'ipsAdded', name: 'a.example.test', ips: ['10.0.0.1'] });
    expect(s.apply({ type: 'ipsAdded', name: 'b.example.test', ips: ['10.0.0.1'] })).toEqual([]);
    expect(s.apply({ type: 'ipsExpired', name: 'a.example.test', ips: ['10.0.0.1'] })).toEqual([]);
    expect(s.apply({ type: 'ipsExpired', name: 'b.example.test', ips: ['10.0.0.1'] })).toEqual([
      { selector: '*.example.test.', added: [], removed: ['10.0.0.1'] },
    ]);
  });

  it('selectors are shared by key and reference counted; an invalid one is refused with its reason', () => {
    const s = new FqdnSelections();
    s.apply({ type: 'ipsAdded', name: 'a.test', ips: ['10.0.0.1'] });
    expect(s.add({ matchName: 'A.test' })).toMatchObject({ ok: true, key: 'a.test.' });
    expect(s.add({ matchPattern: 'a.test.' })).toMatchObject({ ok: true, key: 'a.test.', ips: ['10.0.0.1'] });
    expect(s.remove('a.test.')).toEqual([]);
    expect(s.remove('a.test.')).toEqual(['10.0.0.1']);
    expect(s.selected('a.test.')).toEqual([]);
    expect(s.add({ matchPattern: '[a].test' }).ok).toBe(false);
  });

  it('matchPattern "*" selects every learned IP', () => {
    const s = new FqdnSelections();
    s.add({ matchPattern: '*' });
    s.apply({ type: 'ipsAdded', name: 'x.test', ips: ['10.0.0.1', 'fd00::1'] });
    expect(s.selected('*')).toEqual(['10.0.0.1', 'fd00::1']);
  });
});
