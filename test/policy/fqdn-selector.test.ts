// FQDN selectors against upstream's semantics: the rows live in table-fqdn.ts.
import { describe, expect, it } from '@jest/globals';
import { compileFqdnSelector, compileFqdnSelectors, toFqdn } from '../../policy/fqdn-selector.js';
import { FQDN_INVALID, FQDN_TABLE } from './table-fqdn.js';

describe('FQDN selectors', () => {
  describe.each(FQDN_TABLE.map((r) => [r.pins, r] as const))('%s', (_pins, row) => {
    const compiled = compileFqdnSelector(row.selector);
    it('compiles', () => expect(compiled.ok).toBe(true));
    const matches = compiled.ok ? compiled.matches : () => false;
    it.each(row.accept)('selects %j', (name) => expect(matches(name)).toBe(true));
    it.each(row.reject)('does not select %j', (name) => expect(matches(name)).toBe(false));
  });

  it.each(FQDN_INVALID.map((r) => [r.pins, r.selector] as const))('refuses: %s', (_pins, selector) => {
    const r = compileFqdnSelector(selector);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
  });

  it('a list selects a name any valid member selects, and reports the invalid ones', () => {
    const set = compileFqdnSelectors([{ matchName: 'a.io' }, { matchPattern: '[x]' }, { matchPattern: '*.b.io' }]);
    expect(set.problems).toHaveLength(1);
    expect(['a.io', 'x.b.io', 'b.io'].map(set.matches)).toEqual([true, true, false]);
  });

  it('matchName and an equal star-less matchPattern share one key', () => {
    const a = compileFqdnSelector({ matchName: 'Cilium.IO' });
    const b = compileFqdnSelector({ matchPattern: 'cilium.io.' });
    expect(a.ok && b.ok && a.key === b.key).toBe(true);
    expect(toFqdn(' Cilium.IO ')).toBe('cilium.io.');
  });

  it('stays linear on a hostile pattern and name', () => {
    const r = compileFqdnSelector({ matchPattern: `${'*a'.repeat(60)}.io` });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.matches(`${'a'.repeat(200)}b.io`)).toBe(false);
  });
});
