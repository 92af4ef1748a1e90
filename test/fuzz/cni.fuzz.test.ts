// cilium-cni's input handling under 10,000 random invocations (environment and stdin, mostly
// near-valid, some garbage): it never throws, never hangs, and every failure is an error result
// with one of the spec's codes and a message. ADD and STATUS run whole (against an agent socket
// that does not exist, so nothing is built); DEL, CHECK and GC run their parsing only, as their
// execution would touch links by name.
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommand, parseInvocation } from '../../cni/config.js';
import { CNI_CODE, CniError } from '../../cni/errors.js';
import { runPlugin } from '../../cni/main.js';
import { gen, report } from './seed.js';

const CASES = 10_000;
const CODES = new Set(Object.values(CNI_CODE));

describe('cilium-cni input fuzzing', () => {
  it(`${CASES} invocations: an error result with a spec code or success, never a crash`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-fuzz-cni-'));
    const g = gen(0xc41);
    const started = performance.now();
    const outcomes: Record<string, number> = {};
    try {
      const socket = join(dir, 'absent.sock');
      const commands = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC', 'add', '', 'FROB'];
      const netnses = [
        '/proc/self/ns/net',
        '/etc/passwd',
        '/var/run',
        '/nonexistent',
        'relative',
        '/proc/self/ns/net\n#',
      ];
      const value = (): unknown =>
        g.pick<() => unknown>([
          () => g.str(g.int(20)),
          () => g.int(100_000) - 10,
          () => null,
          () => [],
          () => ({}),
          () => true,
          () => 1.5,
        ])();
      for (let i = 0; i < CASES; i++) {
        const conf: Record<string, unknown> = {
          cniVersion: g.pick(['1.1.0', '1.0.0', '0.4.0', '0.3.1', '9.9.9', '']),
          name: g.chance(0.9) ? 'cilium' : value(),
          type: 'cilium-cni',
          'socket-path': socket,
          'agent-timeout-ms': 200,
        };
        if (g.chance(0.2)) conf.mtu = g.chance(0.5) ? g.int(70_000) : value();
        if (g.chance(0.1)) conf.ipam = g.chance(0.5) ? { type: 'host-local' } : value();
        if (g.chance(0.1)) conf.prevResult = value();
        if (g.chance(0.1)) conf['enable-debug'] = value();
        if (g.chance(0.1))
          conf['cni.dev/valid-attachments'] = g.chance(0.5) ? [{ containerID: 'x', ifname: 'eth0' }] : value();
        if (g.chance(0.05)) conf[g.str(6)] = value();
        const stdin = g.chance(0.9)
          ? JSON.stringify(conf)
          : g.pick(['', 'null', '[]', '"x"', '{', JSON.stringify(conf).slice(0, g.int(60)), g.str(40)]);
        const env: NodeJS.ProcessEnv = {
          CNI_COMMAND: g.pick(commands),
          CNI_CONTAINERID: g.chance(0.8) ? `c${g.str(g.int(70), 'abcdef0123456789')}` : g.str(g.int(300)),
          CNI_NETNS: g.pick(netnses),
          CNI_IFNAME: g.chance(0.8) ? g.pick(['eth0', 'net1', 'x'.repeat(15)]) : g.str(g.int(20)),
          CNI_PATH: '/opt/cni/bin',
          CNI_ARGS: g.chance(0.7)
            ? `K8S_POD_NAMESPACE=${g.pick(['default', 'Bad_NS', ''])};K8S_POD_NAME=${g.pick(['web-1', '../x', ''])}`
            : g.str(g.int(60)),
        };
        for (const k of Object.keys(env)) if (g.chance(0.05)) delete env[k];
        const command = env.CNI_COMMAND;
        let code: number;
        if (command === 'ADD' || command === 'STATUS' || command === 'VERSION') {
          const out = await runPlugin(env, stdin);
          const parsed = out.stdout ? (JSON.parse(out.stdout) as { code?: number; msg?: string }) : {};
          if (out.exitCode === 0) code = 0;
          else {
            expect(typeof parsed.msg).toBe('string');
            expect(parsed.msg!.length).toBeGreaterThan(0);
            code = parsed.code!;
          }
        } else {
          try {
            parseInvocation(parseCommand(env), env, stdin);
            code = 0;
          } catch (e) {
            if (!(e instanceof CniError)) throw e;
            expect(e.message.length).toBeGreaterThan(0);
            code = e.cniCode;
          }
        }
        if (code !== 0) expect(CODES).toContain(code);
        outcomes[code] = (outcomes[code] ?? 0) + 1;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    report('cni', CASES, started, Object.fromEntries(Object.entries(outcomes).map(([k, v]) => [`code${k}`, v])));
    // the generator reaches both sides: successes (parsed, VERSION) and refusals of several kinds
    expect(Object.keys(outcomes).length).toBeGreaterThanOrEqual(5);
  }, 300_000);
});
