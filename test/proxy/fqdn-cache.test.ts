// The FQDN cache: expiry = max(TTL, tofqdns-min-ttl), the per-name IP cap, node-wide deltas, lookups
// by IP, the cache file and the `cilium-dbg fqdn cache list` rows.
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FqdnSelections, type SelectionDelta } from '../../policy/fqdn-selections.js';
import { ProxyError } from '../../proxy/errors.js';
import { FqdnCache, type FqdnCacheEvent } from '../../proxy/fqdn-cache.js';
import { loadFqdnCache, saveFqdnCache } from '../../proxy/fqdn-cache-file.js';
import { fqdnCacheRows, formatFqdnCacheList } from '../../proxy/fqdn-cache-list.js';

const T0 = Date.UTC(2026, 0, 1);
function clock() {
  const c = { t: T0, now: () => c.t };
  return c;
}
const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-fqdn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FqdnCache', () => {
  it('an IP lives max(TTL, min-ttl) seconds, then expires with an ipsExpired delta', () => {
    const c = clock();
    const cache = new FqdnCache({ minTtlSeconds: 60, now: c.now });
    const seen: FqdnCacheEvent[] = [];
    cache.onEvent((e) => seen.push(e));
    expect(cache.update(1, 'API.example.test', ['10.0.0.1'], 5)).toEqual([
      { type: 'ipsAdded', name: 'api.example.test.', ips: ['10.0.0.1'] },
    ]);
    cache.update(1, 'long.test', ['10.0.0.2'], 600);
    c.t += 59_000;
    expect(cache.expire()).toEqual([]);
    c.t += 1_000;
    expect(cache.expire()).toEqual([{ type: 'ipsExpired', name: 'api.example.test.', ips: ['10.0.0.1'] }]);
    expect(cache.ipsOf('api.example.test')).toEqual([]);
    expect(cache.ipsOf('long.test')).toEqual(['10.0.0.2']);
    expect(seen.map((e) => e.type)).toEqual(['ipsAdded', 'ipsAdded', 'ipsExpired']);
  });

  it('min-ttl 0 honours the answer; a later answer extends an IP it repeats', () => {
    const c = clock();
    const cache = new FqdnCache({ now: c.now });
    cache.update(1, 'a.test', ['10.0.0.1'], 10);
    c.t += 8_000;
    expect(cache.update(1, 'a.test', ['10.0.0.1', '10.0.0.3'], 10)).toEqual([
      { type: 'ipsAdded', name: 'a.test.', ips: ['10.0.0.3'] },
    ]);
    c.t += 5_000;
    expect(cache.expire()).toEqual([]);
    c.t += 5_000;
    expect(cache.expire()).toEqual([{ type: 'ipsExpired', name: 'a.test.', ips: ['10.0.0.1', '10.0.0.3'] }]);
  });

  it('deltas are node-wide: an IP two endpoints learned expires only when both lookups did', () => {
    const c = clock();
    const cache = new FqdnCache({ now: c.now });
    cache.update(1, 'a.test', ['10.0.0.1'], 10);
    expect(cache.update(2, 'a.test', ['10.0.0.1'], 20)).toEqual([]);
    c.t += 10_000;
    expect(cache.expire()).toEqual([]);
    expect(cache.ipsOf('a.test')).toEqual(['10.0.0.1']);
    expect(cache.forgetEndpoint(2)).toEqual([{ type: 'ipsExpired', name: 'a.test.', ips: ['10.0.0.1'] }]);
  });

  it('keeps at most tofqdns-endpoint-max-ip-per-hostname IPs per endpoint and name, dropping the first to expire', () => {
    const c = clock();
    const cache = new FqdnCache({ maxIpsPerHostname: 2, now: c.now });
    cache.update(1, 'a.test', ['10.0.0.1'], 10);
    cache.update(1, 'a.test', ['10.0.0.2'], 30);
    expect(cache.update(1, 'a.test', ['10.0.0.3'], 20)).toEqual([
      { type: 'ipsAdded', name: 'a.test.', ips: ['10.0.0.3'] },
      { type: 'ipsExpired', name: 'a.test.', ips: ['10.0.0.1'] },
    ]);
    expect(cache.ipsOf('a.test')).toEqual(['10.0.0.2', '10.0.0.3']);
    // another endpoint has its own cap
    cache.update(2, 'a.test', ['10.0.0.9'], 10);
    expect(cache.ipsOf('a.test')).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.9']);
  });

  it('answers by IP with every name learned for it (Hubble source_names / destination_names)', () => {
    const cache = new FqdnCache();
    cache.update(1, 'b.test', ['10.0.0.1', 'fd00::1'], 30);
    cache.update(2, 'a.test', ['10.0.0.1'], 30);
    expect(cache.namesOf('10.0.0.1')).toEqual(['a.test', 'b.test']);
    expect(cache.namesOf('fd00::1')).toEqual(['b.test']);
    expect(cache.namesOf('10.9.9.9')).toEqual([]);
  });

  it('survives a restart through the cache file: live entries come back as restored, expired ones do not', () => {
    const c = clock();
    const cache = new FqdnCache({ now: c.now });
    cache.update(3, 'a.test', ['10.0.0.1', '10.0.0.2'], 100);
    cache.update(3, 'short.test', ['10.0.0.5'], 1);
    const path = join(dir, 'fqdn-cache.json');
    saveFqdnCache(path, cache.entries());
    expect(readdirSync(dir)).toEqual(['fqdn-cache.json']);
    c.t += 2_000;
    const again = new FqdnCache({ now: c.now });
    expect(again.restore(loadFqdnCache(path)).flatMap((e) => e.ips)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(again.ipsOf('a.test')).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(again.ipsOf('short.test')).toEqual([]);
    expect(again.entries().map((e) => [e.source, e.expiresAt])).toEqual([
      ['restored', T0 + 100_000],
      ['restored', T0 + 100_000],
    ]);
  });

  it('a missing cache file is empty; a foreign one is refused with a code', () => {
    expect(loadFqdnCache(join(dir, 'absent.json'))).toEqual([]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":9,"entries":[]}');
    expect(() => loadFqdnCache(bad)).toThrow(ProxyError);
    writeFileSync(bad, 'not json');
    try {
      loadFqdnCache(bad);
      throw new Error('expected a refusal');
    } catch (e) {
      expect((e as ProxyError).code).toBe('PROXY_ERR_BAD_CACHE_FILE');
    }
    rmSync(bad);
  });

  it('lists rows as cilium-dbg fqdn cache list: Endpoint, Source, FQDN, TTL, ExpirationTime, IPs', () => {
    const c = clock();
    const cache = new FqdnCache({ now: c.now });
    cache.update(12, 'api.example.test', ['10.0.0.2', '10.0.0.1'], 30);
    cache.update(7, 'other.test', ['fd00::5'], 3600);
    expect(fqdnCacheRows(cache.entries())).toEqual([
      {
        endpoint: 7,
        source: 'lookup',
        fqdn: 'other.test.',
        ttl: 3600,
        expirationTime: '2026-01-01T01:00:00.000Z',
        ips: ['fd00::5'],
      },
      {
        endpoint: 12,
        source: 'lookup',
        fqdn: 'api.example.test.',
        ttl: 30,
        expirationTime: '2026-01-01T00:00:30.000Z',
        ips: ['10.0.0.1', '10.0.0.2'],
      },
    ]);
    expect(formatFqdnCacheList(cache.entries()).split('\n')).toEqual([
      'Endpoint  Source  FQDN               TTL   ExpirationTime            IPs',
      '7         lookup  other.test.        3600  2026-01-01T01:00:00.000Z  fd00::5',
      '12        lookup  api.example.test.  30    2026-01-01T00:00:30.000Z  10.0.0.1,10.0.0.2',
      '',
    ]);
  });

  it('its deltas drive toFQDNs selections (the policy side) as they happen, expiry included', () => {
    const c = clock();
    const cache = new FqdnCache({ now: c.now });
    const selections = new FqdnSelections();
    selections.add({ matchName: 'api.example.test' });
    const seen: SelectionDelta[] = [];
    cache.onEvent((e) => seen.push(...selections.apply(e)));
    cache.update(1, 'api.example.test', ['10.0.0.1'], 5);
    cache.update(1, 'other.example.test', ['10.0.0.2'], 5);
    c.t += 5_000;
    cache.expire();
    expect(seen).toEqual([
      { selector: 'api.example.test.', added: ['10.0.0.1'], removed: [] },
      { selector: 'api.example.test.', added: [], removed: ['10.0.0.1'] },
    ]);
  });
});
