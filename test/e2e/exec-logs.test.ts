// kubectl 1.32 exec and logs against the devcluster with a real node: the API server proxies
// pods/exec (WebSocket v5.channel.k8s.io) and pods/log to the node's kubelet server, which runs
// the command inside the container (the pod's network namespace, its /etc/hostname and
// /etc/hosts) and reads the container's CRI log files. Also graceful deletion as kubectl sees it:
// `kubectl delete pod` waits while the process handles SIGTERM; --force --grace-period=0 does not.
// The node runs without cilium-agent: a stand-in of its REST API answers the CNI plugin.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { eventually } from './harness.js';
import { alive, containerPid as pidOf, NodeCluster, shPod as pod } from './node-cluster.js';

let c: NodeCluster;
const kubectl = (args: string[], stdin?: string) => c.kubectl(args, stdin);
const ok = (args: string[], stdin?: string) => c.ok(args, stdin);
const getPod = (name: string) => c.getPod(name);
const runningPod = (name: string) => c.runningPod(name);

// prints a numbered line every 200 ms; on SIGTERM says so, takes 2 s to finish, says bye
const TICKER = `trap 'echo got TERM; sleep 2; echo bye; exit 0' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done`;

beforeAll(async () => {
  c = await NodeCluster.start('execlogs');
  await ok(
    ['apply', '-f', '-'],
    pod('web', [{ name: 'main', script: TICKER }], { terminationGracePeriodSeconds: 20 }) +
      '\n' +
      pod('two', [
        { name: 'a', script: 'echo a started; sleep infinity' },
        // ends with a failure after a line, so that it restarts (restartPolicy Always)
        { name: 'b', script: 'echo b run; sleep 1; exit 1' },
      ]),
  );
}, 120_000);

afterAll(() => c?.stop(), 60_000);

describe('kubectl exec', () => {
  it('runs inside the container: its hostname files, its network namespace', async () => {
    const web = await runningPod('web');
    // the kubelet-managed files, as in a real pod: /etc/hostname is the pod's name
    expect(await ok(['exec', 'web', '--', 'cat', '/etc/hostname'])).toBe('web\n');
    expect(await ok(['exec', 'web', '--', 'hostname'])).toBe('web\n');
    expect(await ok(['exec', 'web', '--', 'cat', '/etc/hosts'])).toContain(`${web.status.podIP}\tweb\n`);
    expect(await ok(['exec', 'web', '--', 'ip', '-4', '-br', 'addr', 'show', 'eth0'])).toContain(
      `${web.status.podIP}/32`,
    );
    // the host's own files are untouched
    expect(readFileSync('/etc/hostname', 'utf8')).not.toBe('web\n');
  });

  it('-i passes stdin and ends when it ends (v5 close of stdin)', async () => {
    await runningPod('web');
    expect(await ok(['exec', '-i', 'web', '--', 'cat'], 'hi\nthere\n')).toBe('hi\nthere\n');
    expect(await ok(['exec', '-i', 'web', '--', 'wc', '-l'], 'a\nb\nc\n')).toBe('3\n');
  });

  it('keeps stdout and stderr apart and propagates the exit code', async () => {
    const r = await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
    expect(r.stderr).toContain('command terminated with exit code 3');
    expect((await kubectl(['exec', 'web', '--', 'sh', '-c', 'exit 0'])).code).toBe(0);
  });

  it('-c picks the container; a wrong one is the API server 400', async () => {
    await runningPod('two');
    expect(await ok(['exec', 'two', '-c', 'a', '--', 'echo', 'in a'])).toBe('in a\n');
    const r = await kubectl(['exec', 'two', '-c', 'zz', '--', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (BadRequest): container zz is not valid for pod two');
  });
});

describe('kubectl logs', () => {
  it('prints the container output; --tail, --timestamps, --limit-bytes', async () => {
    await runningPod('web');
    await eventually(async () => /line 5\n/.test(await ok(['logs', 'web'])), 10_000, 'six lines');
    const all = await ok(['logs', 'web']);
    expect(all.startsWith('line 0\nline 1\n')).toBe(true);
    const tail = (await ok(['logs', 'web', '--tail', '2'])).split('\n').filter(Boolean);
    expect(tail).toHaveLength(2);
    expect(tail[0]).toMatch(/^line \d+$/);
    expect(Number(tail[1]!.split(' ')[1])).toBe(Number(tail[0]!.split(' ')[1]) + 1);
    expect(await ok(['logs', 'web', '--tail', '1', '--timestamps'])).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d+\n$/,
    );
    expect(await ok(['logs', 'web', '--limit-bytes', '9'])).toBe('line 0\nli');
    expect(await ok(['logs', 'web', '--since', '1h'])).toMatch(/^line 0\n/);
  });

  it('-c and --previous; without a container on a pod of two, the API server answers 400 as upstream', async () => {
    await runningPod('two');
    expect(await ok(['logs', 'two', '-c', 'a'])).toBe('a started\n');
    await eventually(
      async () => ((await getPod('two'))?.status.containerStatuses?.find((c) => c.name === 'b')?.restartCount ?? 0) > 0,
      20_000,
      'b restarted',
    );
    expect(await ok(['logs', 'two', '-c', 'b', '--previous'])).toBe('b run\n');
    const prev = await kubectl(['logs', 'two', '-c', 'a', '--previous']);
    expect(prev.stderr).toContain('previous terminated container "a" in pod "two" not found');
    // kubectl itself would default the container; the API's answer is what other clients see
    const raw = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods/two/log']);
    expect(raw.code).not.toBe(0);
    expect(raw.stderr).toContain(
      'Error from server (BadRequest): a container name must be specified for pod two, choose one of: [a b]',
    );
    const bad = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods/two/log?container=a&tailLines=-1']);
    expect(bad.stderr).toContain('tailLines: Invalid value: -1: must be greater than or equal to 0');
  });
});

describe('follow and graceful deletion', () => {
  it('logs -f shows new lines; delete waits while SIGTERM is handled; the follow ends with the container', async () => {
    const web = await runningPod('web');
    const pid = pidOf(web);
    expect(alive(pid)).toBe(true);
    const follow = c.spawnKubectl(['logs', '-f', 'web', '--tail', '1']);
    let out = '';
    follow.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise<number | null>((r) => follow.on('close', r));
    await eventually(() => out.split('\n').filter(Boolean).length >= 4, 10_000, 'followed lines');
    const followed = out.split('\n').filter(Boolean);
    // consecutive lines as they are written
    const first = Number(followed[0]!.split(' ')[1]);
    expect(followed.slice(0, 4)).toEqual([0, 1, 2, 3].map((i) => `line ${first + i}`));

    const started = Date.now();
    await ok(['delete', 'pod', 'web']);
    const took = Date.now() - started;
    // the handler's 2 s, well within terminationGracePeriodSeconds (20 s): the process ended itself
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(15_000);
    expect(await ended).toBe(0);
    expect(out).toMatch(/got TERM\nbye\n$/);
    expect(alive(pid)).toBe(false);
    expect(await getPod('web')).toBeUndefined();
  });

  it('a process ignoring SIGTERM is killed at the end of the grace period', async () => {
    await ok(
      ['apply', '-f', '-'],
      pod('stubborn', [{ name: 'main', script: "trap '' TERM; while true; do sleep 0.2; done" }]),
    );
    const p = await runningPod('stubborn');
    const started = Date.now();
    await ok(['delete', 'pod', 'stubborn', '--grace-period=3']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(alive(pidOf(p))).toBe(false);
  });

  it('--force --grace-period=0 removes the pod at once and the process goes', async () => {
    await ok(
      ['apply', '-f', '-'],
      pod('forced', [{ name: 'main', script: "trap '' TERM; while true; do sleep 0.2; done" }]),
    );
    const p = await runningPod('forced');
    const r = await kubectl(['delete', 'pod', 'forced', '--force', '--grace-period=0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('pod "forced" force deleted');
    expect(await getPod('forced')).toBeUndefined();
    await eventually(() => !alive(pidOf(p)), 10_000, 'the forced pod process gone');
  });
});
