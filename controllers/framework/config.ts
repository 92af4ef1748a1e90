// Process configuration the Kubernetes way: a ConfigMap mounted as a directory (one file per key,
// upstream Cilium's `--config-dir`) overlaid by `--key=value` / `--key value` flags. Typed reads
// of the result: config-reader.ts.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Reads every key file of a mounted ConfigMap directory; dot-files (`..data` links) are skipped. */
export function readConfigDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    if (!statSync(path).isFile()) continue;
    out[name] = readFileSync(path, 'utf8').trim();
  }
  return out;
}

/** Parses `--key=value`, `--key value` and bare `--flag` (= "true"). Positional arguments are returned apart. */
export function parseFlags(argv: readonly string[]): { flags: Record<string, string>; positional: string[] } {
  const flags: Record<string, string> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags[a.slice(2)] = argv[++i]!;
    else flags[a.slice(2)] = 'true';
  }
  return { flags, positional };
}

/** The effective configuration: config-dir keys, then flags on top (flags win, as upstream). */
export function loadConfig(argv: readonly string[]): Record<string, string> {
  const { flags } = parseFlags(argv);
  const fromDir = flags['config-dir'] ? readConfigDir(flags['config-dir']) : {};
  return { ...fromDir, ...flags };
}
