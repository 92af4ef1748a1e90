// The configuration reader both cilium-agent and cilium-operator parse their cilium-config with:
// Go durations and booleans as upstream's flags accept them, a ConfigError naming the key and the
// value for anything else, and the record of what was read (unknown keys are reported).
import { describe, expect, it } from '@jest/globals';
import { CONFIG_DEFAULTS } from '../../../config/cilium-config.js';
import { ConfigError, ConfigReader, parseGoDuration } from '../../../controllers/framework/index.js';

const reader = (config: Record<string, string>) => new ConfigReader(config, 'TEST_ERR_CONFIG');

describe('parseGoDuration', () => {
  it.each([
    ['15m0s', 900_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5s', 1500],
    ['0', 0],
    ['0s', 0],
    ['10us', 0.01],
    ['2h', 7_200_000],
  ])('%s = %d ms', (text, ms) => expect(parseGoDuration(text)).toBeCloseTo(ms));

  it.each(['fifteen', '15', '5 m', 'm', '-1s', '1d', ''])('%j is not a duration', (text) =>
    expect(parseGoDuration(text)).toBeUndefined(),
  );
});

describe('ConfigReader', () => {
  it('takes defaults for absent keys and records every key read', () => {
    const r = reader({ a: 'x', b: 'true', extra: '1', 'config-dir': '/tmp/c' });
    expect([
      r.string('a', 'd'),
      r.bool('b', false),
      r.int('n', 7),
      r.duration('d', 5),
      r.oneOf('m', 'one', ['one', 'two']),
    ]).toEqual(['x', true, 7, 5, 'one']);
    expect(r.keysRead().sort()).toEqual(['a', 'b', 'd', 'm', 'n']);
    expect(r.unknownKeys()).toEqual(['extra']);
  });

  it('takes an absent key read without a default from its key defaults (the binaries: config/cilium-config.ts)', () => {
    const r = reader({ 'cluster-id': '3' }).withKeyDefaults(CONFIG_DEFAULTS);
    expect([
      r.int('cluster-id', { min: 0, max: 255 }),
      r.int('cluster-pool-ipv4-mask-size', { min: 1, max: 32 }),
      r.bool('enable-ipv4'),
      r.duration('identity-gc-interval'),
      r.oneOf('routing-mode', ['native']),
      r.string('cluster-name'),
      r.listenAddress('operator-api-serve-addr'),
      r.listenAddress('prometheus-serve-addr'),
    ]).toEqual([3, 24, true, 15 * 60_000, 'native', 'default', { host: '127.0.0.1', port: 9234 }, undefined]);
    // a flag outside cilium-config has no default but the one its reader gives
    expect(() => r.string('socket-path')).toThrow(/no default/);
  });

  it('records reads through its view (parsers that take a plain record)', () => {
    const r = reader({ a: '1', b: '2' });
    expect(r.view.a).toBe('1');
    expect(r.unknownKeys()).toEqual(['b']);
  });

  it('reads booleans as Go does and refuses anything else', () => {
    expect(['1', 't', 'TRUE', 'True', '0', 'f', 'false'].map((v) => reader({ k: v }).bool('k', false))).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(() => reader({ k: 'yes' }).bool('k', false)).toThrow(
      expect.objectContaining({ code: 'TEST_ERR_CONFIG', message: 'k="yes": must be "true" or "false"' }),
    );
  });

  it('refuses integers out of range or malformed, naming the key, the value and the range', () => {
    expect(reader({ k: '42' }).int('k', 0, { min: 0, max: 255 })).toBe(42);
    expect(() => reader({ k: '256' }).int('k', 0, { min: 0, max: 255 })).toThrow(
      expect.objectContaining({ code: 'TEST_ERR_CONFIG', message: 'k="256": must be an integer from 0 to 255' }),
    );
    expect(() => reader({ k: '1e3' }).int('k', 0)).toThrow(ConfigError);
    expect(() => reader({ k: 'ten' }).int('k', 0)).toThrow(/k="ten"/);
  });

  it('says why a known but unsupported value is refused, and what is supported', () => {
    const r = reader({ mode: 'tunnel' });
    expect(() => r.oneOf('mode', 'native', ['native'], { tunnel: 'tunnels are not supported' })).toThrow(
      expect.objectContaining({
        code: 'TEST_ERR_CONFIG',
        message: 'mode="tunnel": tunnels are not supported (supported: "native")',
      }),
    );
    expect(() => reader({ mode: 'nope' }).oneOf('mode', 'native', ['native'])).toThrow(
      'mode="nope": unknown value (supported: "native")',
    );
  });

  it('refuses a malformed duration', () => {
    let err: unknown;
    try {
      reader({ every: 'often' }).duration('every', 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'TEST_ERR_CONFIG', key: 'every', value: 'often' });
  });

  it('parses listen addresses; "" serves nothing', () => {
    expect(reader({ a: ':9962' }).listenAddress('a', '')).toEqual({ host: '', port: 9962 });
    expect(reader({ a: '127.0.0.1:0' }).listenAddress('a', '')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(reader({ a: '[::1]:9' }).listenAddress('a', '')).toEqual({ host: '::1', port: 9 });
    expect(reader({ a: '' }).listenAddress('a', ':1')).toBeUndefined();
    expect(reader({}).listenAddress('a', ':1')).toEqual({ host: '', port: 1 });
    expect(() => reader({ a: '9962' }).listenAddress('a', '')).toThrow('a="9962": must be ":port" or "host:port"');
  });
});
