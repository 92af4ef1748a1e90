// The devcluster CLI's command line: `--help` (alone or after a verb) prints usage and exits 0,
// an unknown option or a missing value is refused in one line that names it, before anything
// starts — in-process through the parser and through the compiled CLI `npm run devcluster` runs.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '../../cdk8s/process-launch.js';
import { parseDevclusterArgs, USAGE } from '../../devcluster/cli-args.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('parseDevclusterArgs', () => {
  it.each([[['--help']], [['-h']], [['up', '--help']], [['status', '-h']], [['up', '--nodes', '2', '--help']]])(
    '%j → usage',
    (argv) => {
      expect(parseDevclusterArgs(argv)).toEqual({ kind: 'help', text: USAGE });
    },
  );

  it('the usage names every verb and option', () => {
    for (const word of ['up', 'status', 'exec', 'down', '--dir', '--port', '--token', '--token-seconds'])
      expect(USAGE).toContain(word);
    for (const word of ['--no-enforce', '--nodes', '--without-agents', '--kvstore', '--help'])
      expect(USAGE).toContain(word);
  });

  it.each([
    [['up', '--bogus'], 'devcluster: unknown option --bogus; see --help'],
    [['up', '-x'], 'devcluster: unknown option -x; see --help'],
    [['up', '--port'], 'devcluster: option --port needs a value; see --help'],
    [['up', '--no-enforce=yes'], 'devcluster: option --no-enforce does not take a value; see --help'],
    [[], 'devcluster: no verb given (up, status, exec, down); see --help'],
    [['upp'], 'devcluster: unknown verb "upp" (up, status, exec, down); see --help'],
  ])('%j → %s', (argv, message) => {
    expect(parseDevclusterArgs(argv)).toEqual({ kind: 'error', message });
  });

  it('a verb with its options', () => {
    expect(parseDevclusterArgs(['up', '--nodes', '2', '--port', '0', '--no-enforce'])).toEqual({
      kind: 'run',
      verb: 'up',
      positionals: ['up'],
      values: { nodes: '2', port: '0', 'no-enforce': true },
    });
    expect(parseDevclusterArgs(['up', '--nodes', '2', '--kvstore'])).toMatchObject({
      values: { nodes: '2', kvstore: true },
    });
    // exec's command after `--` is the pod's, not ours
    expect(parseDevclusterArgs(['exec', 'default/web', '--', 'ls', '--all'])).toMatchObject({
      kind: 'run',
      verb: 'exec',
      positionals: ['exec', 'default/web', 'ls', '--all'],
    });
  });
});

describe('the compiled devcluster CLI', () => {
  const cli = (...args: string[]) =>
    spawnSync(join(ROOT, 'node_modules', '.bin', 'node'), [compiledEntry('devcluster/cli.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it.each([[['--help']], [['up', '--help']]])('%j prints usage and exits 0', (args) => {
    const r = cli(...args);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout.trim()).toBe(USAGE);
  });

  it('an unknown option: one line naming it, exit 2, no stack trace', () => {
    const r = cli('up', '--nodez', '2');
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      status: 2,
      stdout: '',
      stderr: 'devcluster: unknown option --nodez; see --help\n',
    });
  });
});
