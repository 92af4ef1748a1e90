// Typed, validated, recorded reads of a process's configuration (what config.ts loads), with Go's
// spellings of booleans and durations, as upstream's flags accept them.
import { ConfigError, type ConfigErrorCode } from './errors.js';

/** Go's `strconv.ParseBool` spellings, as upstream's flags accept them. */
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);
const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * A Go duration (`time.ParseDuration`: `15m0s`, `1h30m`, `500ms`, `0`) in milliseconds, or
 * undefined when `text` is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!/^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$/.test(text))
    return undefined;
  let ms = 0;
  for (const m of text.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
  return ms;
}

/** A listen address as upstream spells them (`":9962"`, `"127.0.0.1:9234"`); host "" = every interface. */
export interface ListenAddress {
  host: string;
  port: number;
}

type IntRange = { min?: number; max?: number };

/**
 * Typed, validated reads of a process's configuration (cilium-config keys and flags). Every read
 * is recorded, so that the process can report the keys it was given but never read
 * (`unknownKeys()`): nothing in the ConfigMap is silently ignored. A value the process cannot
 * use throws a ConfigError naming the key, the value and what is accepted. An absent key (or,
 * for non-string keys, an empty one) takes the default: the one given at the call, else the
 * key's default from `withKeyDefaults` (the binaries pass config/cilium-config.ts's, the one
 * source), parsed as a configured value would be.
 */
export class ConfigReader {
  private seen = new Set<string>();
  private keyDefaults: ReadonlyMap<string, string> = new Map();
  /** The configuration as a plain record whose reads are recorded too (for parsers that take one). */
  readonly view: Readonly<Record<string, string | undefined>>;

  constructor(
    readonly config: Readonly<Record<string, string | undefined>>,
    readonly code: ConfigErrorCode,
  ) {
    this.view = new Proxy(config, {
      get: (target, key) => {
        if (typeof key === 'string') this.seen.add(key);
        return Reflect.get(target, key);
      },
    });
  }

  /** A reader over `config`, or `config` itself when it is one already. */
  static of(config: Readonly<Record<string, string | undefined>> | ConfigReader, code: ConfigErrorCode): ConfigReader {
    return config instanceof ConfigReader ? config : new ConfigReader(config, code);
  }

  /** The same configuration, with these defaults for keys read without one; reads are recorded in both. */
  withKeyDefaults(defaults: ReadonlyMap<string, string>): ConfigReader {
    const r = new ConfigReader(this.config, this.code);
    r.seen = this.seen;
    r.keyDefaults = defaults;
    return r;
  }

  private keyDefault(key: string): string {
    const d = this.keyDefaults.get(key);
    // a programming error: a key without a registered default needs its default at the call
    if (d === undefined) throw new Error(`${key} has no default: not a cilium-config key, and none given at the read`);
    return d;
  }

  /** The raw value (recorded as read). */
  raw(key: string): string | undefined {
    this.seen.add(key);
    return this.config[key];
  }

  private value(key: string): string | undefined {
    const v = this.raw(key);
    return v === undefined || v === '' ? undefined : v;
  }

  /** The configured value, else (no default given at the call) the key's cilium-config default. */
  private valueOrKeyDefault(key: string, callerHasDefault: boolean): string | undefined {
    const fallback = callerHasDefault ? undefined : this.keyDefault(key);
    const v = this.value(key);
    if (v !== undefined || fallback === undefined || fallback === '') return v;
    return fallback;
  }

  /** Throws the ConfigError for `key`'s current value. */
  refuse(key: string, reason: string): never {
    throw new ConfigError(this.code, key, this.config[key], reason);
  }

  string(key: string, dflt?: string): string {
    const fallback = dflt ?? this.keyDefault(key);
    return this.raw(key) ?? fallback;
  }

  bool(key: string, dflt?: boolean): boolean {
    const v = this.valueOrKeyDefault(key, dflt !== undefined);
    if (v === undefined) return dflt!;
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    return this.refuse(key, 'must be "true" or "false"');
  }

  int(key: string, range?: IntRange): number;
  int(key: string, dflt: number, range?: IntRange): number;
  int(key: string, dfltOrRange?: number | IntRange, maybeRange: IntRange = {}): number {
    const dflt = typeof dfltOrRange === 'number' ? dfltOrRange : undefined;
    const range = typeof dfltOrRange === 'object' ? dfltOrRange : maybeRange;
    const v = this.valueOrKeyDefault(key, dflt !== undefined);
    if (v === undefined) return dflt!;
    const n = /^-?[0-9]+$/.test(v) ? Number(v) : NaN;
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      return this.refuse(key, `must be an integer from ${min} to ${max}`);
    return n;
  }

  /**
   * One of `supported`. `refused` names values upstream knows but this process does not
   * support, each with the reason (so the error says more than "unknown value").
   */
  oneOf<T extends string>(key: string, supported: readonly T[], refused?: Readonly<Record<string, string>>): T;
  oneOf<T extends string>(key: string, dflt: T, supported: readonly T[], refused?: Readonly<Record<string, string>>): T;
  oneOf<T extends string>(
    key: string,
    ...args: [readonly T[], Readonly<Record<string, string>>?] | [T, readonly T[], Readonly<Record<string, string>>?]
  ): T {
    const [dflt, supported, refused = {}] = (Array.isArray(args[0]) ? [undefined, ...args] : args) as [
      T | undefined,
      readonly T[],
      Readonly<Record<string, string>>?,
    ];
    const v = this.valueOrKeyDefault(key, dflt !== undefined);
    if (v === undefined) return dflt!;
    if ((supported as readonly string[]).includes(v)) return v as T;
    const accepted = `supported: ${supported.map((s) => JSON.stringify(s)).join(', ')}`;
    if (Object.hasOwn(refused, v)) return this.refuse(key, `${refused[v]} (${accepted})`);
    return this.refuse(key, `unknown value (${accepted})`);
  }

  /** A Go duration in milliseconds. */
  duration(key: string, dfltMs?: number): number {
    const v = this.valueOrKeyDefault(key, dfltMs !== undefined);
    if (v === undefined) return dfltMs!;
    return parseGoDuration(v) ?? this.refuse(key, 'is not a Go duration such as 30s, 5m0s or 1h30m');
  }

  /** A listen address (`:port` or `host:port`, port 0 = any free one); "" = serve nothing. */
  listenAddress(key: string, dflt?: string): ListenAddress | undefined {
    const fallback = dflt ?? this.keyDefault(key);
    const v = this.raw(key) ?? fallback;
    if (v === '') return undefined;
    const m = /^(.*):([0-9]+)$/.exec(v);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port > 65535) return this.refuse(key, 'must be ":port" or "host:port" (or "" for none)');
    return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  }

  /** Every key read so far. */
  keysRead(): string[] {
    return [...this.seen];
  }

  /**
   * Keys the configuration holds that nothing read, `config-dir` itself and `alsoKnown` aside (a
   * ConfigMap shared by several processes holds keys meant for the others).
   */
  unknownKeys(alsoKnown: Iterable<string> = []): string[] {
    const known = new Set(['config-dir', ...alsoKnown]);
    return Object.keys(this.config).filter((k) => !known.has(k) && !this.seen.has(k));
  }
}
