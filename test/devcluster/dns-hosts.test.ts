// The extra-records table of the devcluster's cluster DNS (CoreDNS `hosts` plugin semantics):
// hosts-file lines, comments, aliases, IPv6, skipped garbage, the TTL key, the zones an unlisted
// name is NXDOMAIN in.
import { describe, expect, it } from '@jest/globals';
import { HOSTS_DEFAULTS, HostsTable, formatHosts, hostsConfigMapPatch } from '../../devcluster/dns/hosts.js';

describe('HostsTable.parse', () => {
  it.each([
    ['one line', '192.0.2.1 api.example.test', { 'api.example.test': { ipv4: ['192.0.2.1'], ipv6: [] } }],
    [
      'aliases share the address',
      '192.0.2.1 a.example.test b.example.test',
      {
        'a.example.test': { ipv4: ['192.0.2.1'], ipv6: [] },
        'b.example.test': { ipv4: ['192.0.2.1'], ipv6: [] },
      },
    ],
    [
      'lines add addresses, duplicates once, IPv6 apart',
      '192.0.2.1 a.example.test\n192.0.2.2 a.example.test\n192.0.2.1 a.example.test\n2001:db8::1 a.example.test',
      { 'a.example.test': { ipv4: ['192.0.2.1', '192.0.2.2'], ipv6: ['2001:db8::1'] } },
    ],
    [
      'comments, blank lines, tabs, case and trailing dots',
      '# test records\n\n192.0.2.1\tAPI.Example.Test.  # inline\n',
      { 'api.example.test': { ipv4: ['192.0.2.1'], ipv6: [] } },
    ],
    ['an address that is not an IP, or no name: skipped', 'not-an-ip x.example.test\n192.0.2.9\n', {}],
    ['nothing', undefined, {}],
  ])('%s', (_what, text, expected) => {
    expect(Object.fromEntries(HostsTable.parse(text).names)).toEqual(expected);
  });

  it.each([
    [undefined, HOSTS_DEFAULTS.ttlSeconds],
    ['7', 7],
    ['0', 0],
    [' ', HOSTS_DEFAULTS.ttlSeconds],
    ['-1', HOSTS_DEFAULTS.ttlSeconds],
    ['1.5', HOSTS_DEFAULTS.ttlSeconds],
    ['soon', HOSTS_DEFAULTS.ttlSeconds],
  ])('ttl %j → %d s', (ttl, seconds) => {
    expect(HostsTable.parse('192.0.2.1 a.example.test', ttl).ttlSeconds).toBe(seconds);
  });

  it.each([
    ['api.example.test', 'example.test'],
    ['missing.example.test', 'example.test'],
    ['deep.missing.example.test', 'example.test'],
    ['example.test', 'example.test'],
    ['example.org', undefined],
    ['test', undefined],
  ])('%s falls in zone %j', (name, zone) => {
    expect(HostsTable.parse('192.0.2.1 api.example.test').zoneOf(name)).toBe(zone);
  });
});

describe('the ConfigMap patch', () => {
  it('renders records as hosts lines and the TTL as a string; no TTL removes the key', () => {
    expect(formatHosts({ 'a.example.test': ['192.0.2.1', '192.0.2.2'], 'b.example.test': '192.0.2.3' })).toBe(
      '192.0.2.1 a.example.test\n192.0.2.2 a.example.test\n192.0.2.3 b.example.test\n',
    );
    expect(hostsConfigMapPatch({ 'a.example.test': '192.0.2.1' }, { ttlSeconds: 5 })).toEqual({
      data: { hosts: '192.0.2.1 a.example.test\n', ttl: '5' },
    });
    expect(hostsConfigMapPatch({}).data.ttl).toBeNull();
    const round = hostsConfigMapPatch({ 'a.example.test': ['192.0.2.1', '2001:db8::1'] }).data.hosts!;
    expect(Object.fromEntries(HostsTable.parse(round).names)).toEqual({
      'a.example.test': { ipv4: ['192.0.2.1'], ipv6: ['2001:db8::1'] },
    });
  });
});
