// The nodes daemon's spawner (devcluster/nodes/spawner.ts, spawner-client.ts): one-shot commands
// run from a small helper process, not forked from the daemon, with the same results as running
// them in process; a dead helper fails what was pending and is started again; closing it ends
// what still runs. Then a pod sandbox wired through it with a real `ip netns` and a CNI plugin (a
// shell script speaking the CNI protocol): the namespace exists while the pod runs and is gone
// after stop, and after a failed ADD (which is followed by DEL, as a runtime does).
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOneShot } from '../../devcluster/nodes/one-shot.js';
import { Spawner, SPAWNER_ENTRY } from '../../devcluster/nodes/spawner-client.js';
import { PodSandbox, type NodeNetwork } from '../../devcluster/nodes/sandbox.js';
import { netnsPath } from '../../devcluster/nodes/layout.js';
import { NodesErrorCode } from '../../devcluster/nodes/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'kts-spawner-'));
const spawners: Spawner[] = [];
const namespaces: string[] = [];
afterAll(() => {
  for (const s of spawners) s.close();
  for (const n of namespaces)
    try {
      execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
    } catch {
      // removed by the test
    }
  rmSync(dir, { recursive: true, force: true });
});

const spawner = (): Spawner => {
  const s = new Spawner();
  spawners.push(s);
  return s;
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const until = async (ok: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !ok() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  return ok();
};

describe('the spawner', () => {
  it('is built (npm run build)', () => expect(existsSync(SPAWNER_ENTRY)).toBe(true));

  it('runs a command from its own process, with the environment and stdin given, as runOneShot does', async () => {
    const s = spawner();
    const req = {
      file: 'sh',
      args: ['-c', 'echo "$PPID $GREETING $(cat)"; echo err >&2; exit 3'],
      env: { PATH: process.env.PATH, GREETING: 'hi' },
      stdin: 'from-stdin',
    };
    const [viaHelper, inProcess] = await Promise.all([s.run(req), runOneShot(req)]);
    // the command's parent is the helper: the fork copied it, not this process
    expect(s.pid).toBeGreaterThan(0);
    expect(viaHelper.stdout).toBe(`${s.pid} hi from-stdin\n`);
    expect(inProcess.stdout).toBe(`${process.pid} hi from-stdin\n`);
    for (const r of [viaHelper, inProcess]) {
      expect(r).toMatchObject({ code: 3, signal: null, stderr: 'err\n' });
      expect(r.spawnMs).toBeGreaterThanOrEqual(0);
      expect(r.exitMs).toBeLessThanOrEqual(r.ms + 1);
      expect(r.error).toBeUndefined();
    }
  });

  it('reports a command that cannot start, and ends one past its timeout with SIGTERM', async () => {
    const s = spawner();
    const missing = await s.run({ file: join(dir, 'no-such-command'), args: [] });
    expect(missing.error).toMatch(/ENOENT/);
    const slow = await s.run({ file: 'sleep', args: ['30'], timeoutMs: 200 });
    expect(slow).toMatchObject({ code: null, signal: 'SIGTERM' });
    expect(slow.ms).toBeLessThan(10_000);
  });

  it('matches each reply to its request when many run at once', async () => {
    const s = spawner();
    const n = 40;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        // later requests finish first: replies come back in completion order
        s.run({ file: 'sh', args: ['-c', `sleep 0.$(( ${n - i} % 3 )); echo ${i}`] }),
      ),
    );
    expect(replies.map((r) => r.stdout.trim())).toEqual(Array.from({ length: n }, (_, i) => String(i)));
  });

  it('fails what was pending when the helper dies, and starts a new one for the next command', async () => {
    const s = spawner();
    const first = (await s.run({ file: 'true', args: [] })).code;
    expect(first).toBe(0);
    const pid = s.pid!;
    const pending = s.run({ file: 'sleep', args: ['30'] });
    process.kill(pid, 'SIGKILL');
    await expect(pending).rejects.toMatchObject({ code: NodesErrorCode.Spawner });
    const again = await s.run({ file: 'sh', args: ['-c', 'echo $PPID'] });
    expect(s.pid).not.toBe(pid);
    expect(again.stdout.trim()).toBe(String(s.pid));
  });

  it('on close ends the commands still running and exits; later calls are refused', async () => {
    const s = spawner();
    const marker = join(dir, 'sleeper.pid');
    const running = s.run({ file: 'sh', args: ['-c', `echo $$ > ${marker}; exec sleep 30`] });
    expect(await until(() => existsSync(marker) && readFileSync(marker, 'utf8').trim() !== '')).toBe(true);
    const sleeper = Number(readFileSync(marker, 'utf8'));
    const helper = s.pid!;
    s.close();
    expect(await until(() => !alive(sleeper) && !alive(helper))).toBe(true);
    await running.catch(() => undefined); // the helper may exit before or after replying
    await expect(s.run({ file: 'true', args: [] })).rejects.toMatchObject({ code: NodesErrorCode.Spawner });
  });
});

describe('a pod sandbox through the spawner', () => {
  const runId = `sp${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const nodeNetns = `kts${runId}-node`;
  const binDir = join(dir, 'bin');
  const log = join(dir, 'plugin.log');
  mkdirSync(binDir, { recursive: true });
  // A CNI plugin as a runtime sees one: CNI_* in the environment, the config on stdin, a result
  // (or an error result and exit 1) on stdout. It fails ADD for pods named "bad".
  writeFileSync(
    join(binDir, 'fake-cni'),
    [
      '#!/bin/sh',
      'cat > /dev/null',
      `echo "$CNI_COMMAND $CNI_NETNS $PPID" >> ${log}`,
      'case "$CNI_COMMAND:$CNI_ARGS" in',
      '  ADD:*K8S_POD_NAME=bad*) echo \'{"cniVersion":"1.0.0","code":11,"msg":"no address for bad"}\'; exit 1 ;;',
      '  ADD:*) [ -e "$CNI_NETNS" ] || exit 2; echo \'{"cniVersion":"1.0.0","ips":[{"address":"10.199.0.7/32"}]}\' ;;',
      'esac',
      '',
    ].join('\n'),
  );
  chmodSync(join(binDir, 'fake-cni'), 0o755);
  const network: NodeNetwork = {
    binDir,
    conflist: { cniVersion: '1.0.0', name: 'fake', plugins: [{ type: 'fake-cni' }] },
  };

  const sandbox = (name: string, exec: Spawner) =>
    new PodSandbox(
      {
        metadata: { name, namespace: 'default', uid: `${name}-${runId}-0000-0000-000000000000` },
        spec: { restartPolicy: 'Never', containers: [{ name: 'c', command: ['sleep', '30'] }] },
      },
      {
        runId,
        node: { name: 'node', netns: nodeNetns, ip: '10.199.0.1' },
        network: () => network,
        podsDir: join(dir, 'pods'),
        onChange: () => undefined,
        exec: exec.run,
      },
    );

  it('wires a pod (namespace, ADD) and removes it all on stop; a failed ADD leaves no namespace', async () => {
    execFileSync('ip', ['netns', 'add', nodeNetns]);
    namespaces.push(nodeNetns);
    const s = spawner();
    const good = sandbox('good', s);
    namespaces.push(good.netns);
    await good.start();
    expect(good.podIP).toBe('10.199.0.7');
    expect(existsSync(netnsPath(good.netns))).toBe(true);
    await good.stop(0);
    expect(existsSync(netnsPath(good.netns))).toBe(false);

    const bad = sandbox('bad', s);
    namespaces.push(bad.netns);
    await expect(bad.start()).rejects.toMatchObject({ code: NodesErrorCode.CniCall, message: /no address for bad/ });
    expect(existsSync(netnsPath(bad.netns))).toBe(false);

    // every plugin call ran from the helper; a failed ADD was followed by DEL
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    expect(calls.map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual([
      `ADD ${netnsPath(good.netns)}`,
      `DEL ${netnsPath(good.netns)}`,
      `ADD ${netnsPath(bad.netns)}`,
      `DEL ${netnsPath(bad.netns)}`,
    ]);
    expect(calls.every((l) => l.split(' ')[2] !== String(process.pid))).toBe(true);
  });
});
