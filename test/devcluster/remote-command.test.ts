// The exec channel protocol on the kubelet side: the framing of remote-command.ts, then the
// kubelet server's exec over a real WebSocket on a unix socket (ws as the client, as client-go
// speaks it): stdin with v5's close message, stdout/stderr channels, the exit status on channel 3,
// v4 without a close message, protocol negotiation and refusals as Status JSON.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { KubeletServer } from '../../devcluster/nodes/kubelet-server.js';
import {
  Channel,
  decodeFrame,
  decodeResize,
  encodeClose,
  encodeFrame,
  exitStatus,
  negotiate,
  PROTOCOL_V4,
  PROTOCOL_V5,
} from '../../devcluster/nodes/remote-command.js';
import type { ContainerState, PodSandbox } from '../../devcluster/nodes/sandbox.js';

describe('remote command framing', () => {
  it.each([
    ['stdout text', Channel.Stdout, 'hi\n', [1, 0x68, 0x69, 0x0a]],
    ['stderr', Channel.Stderr, 'e', [2, 0x65]],
    ['empty stdin', Channel.Stdin, '', [0]],
  ])('%s: encodeFrame puts the channel first', (_n, ch, data, bytes) => {
    expect([...encodeFrame(ch, data)]).toEqual(bytes);
    expect(decodeFrame(encodeFrame(ch, data), PROTOCOL_V5)).toEqual({
      type: 'data',
      channel: ch,
      data: Buffer.from(data),
    });
  });

  it.each([
    ['v5 close of stdin', [255, 0], PROTOCOL_V5, { type: 'close', channel: 0 }],
    ['v4 has no close channel', [255, 0], PROTOCOL_V4, { type: 'invalid', reason: 'unknown channel 255' }],
    ['v5 close too long', [255, 0, 1], PROTOCOL_V5, { type: 'invalid', reason: 'malformed close message' }],
    ['v5 close of an unknown channel', [255, 9], PROTOCOL_V5, { type: 'invalid', reason: 'malformed close message' }],
    ['unknown channel', [7, 1], PROTOCOL_V5, { type: 'invalid', reason: 'unknown channel 7' }],
    ['empty', [], PROTOCOL_V5, { type: 'invalid', reason: 'empty message' }],
  ] as const)('%s', (_n, bytes, protocol, want) => {
    expect(decodeFrame(Buffer.from(bytes), protocol)).toEqual(want);
  });

  it('encodeClose is [255, channel]', () => {
    expect([...encodeClose(Channel.Stdin)]).toEqual([255, 0]);
  });

  it.each([
    [['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io'], PROTOCOL_V5],
    [['v4.channel.k8s.io', ' v2.channel.k8s.io'], PROTOCOL_V4],
    [['v3.channel.k8s.io', 'channel.k8s.io'], undefined],
    [[], undefined],
  ])('negotiate(%j) = %s', (offered, want) => {
    expect(negotiate(offered)).toBe(want);
  });

  it('decodeResize reads client-go TerminalSize', () => {
    expect(decodeResize(Buffer.from('{"Width":80,"Height":24}'))).toEqual({ width: 80, height: 24 });
    expect(decodeResize(Buffer.from('{"Width":"80"}'))).toBeUndefined();
    expect(decodeResize(Buffer.from('nope'))).toBeUndefined();
  });

  it('exitStatus: Success for 0, NonZeroExitCode with an ExitCode cause otherwise', () => {
    expect(exitStatus(0, ['true'])).toEqual({ metadata: {}, status: 'Success' });
    expect(exitStatus(3, ['sh', '-c', 'exit 3'])).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });
});

// ---- the kubelet server's exec, with a sandbox whose "container" is this host ----------------

const dir = mkdtempSync(join(tmpdir(), 'kts-remote-command-'));
const socketPath = join(dir, 'kubelet.sock');
// the container's process: an exec takes its environment and working directory
const containerProc = spawn('sleep', ['600'], {
  cwd: dir,
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin', KTS_CONTAINER_VAR: 'from-container' },
  stdio: 'ignore',
});
const running: ContainerState = {
  name: 'main',
  image: 'x',
  pid: containerProc.pid!,
  restartCount: 0,
  running: true,
  ready: true,
  backoffStep: 0,
};
const stopped: ContainerState = { ...running, name: 'done', running: false };
const sandbox = {
  pod: {
    metadata: { name: 'p', namespace: 'default', uid: 'u' },
    spec: {
      containers: [
        { name: 'main', command: ['sleep', 'infinity'] },
        { name: 'done', command: ['true'] },
      ],
    },
  },
  dir,
  containers: new Map([
    ['main', running],
    ['done', stopped],
  ]),
  // entering "the container" is a no-op here: the command runs on this host
  execArgv: (_container: string, cmd: string[]) => ['env', '--', ...cmd],
} as unknown as PodSandbox;
const server = new KubeletServer({ sandbox: (k) => (k === 'default/p' ? sandbox : undefined) }, socketPath);

beforeAll(() => server.start());
afterAll(async () => {
  containerProc.kill('SIGKILL');
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface ExecResult {
  stdout: string;
  stderr: string;
  status: Record<string, unknown> | undefined;
  protocol: string;
}

/** Runs an exec as client-go does: binary messages, stdin then (v5) its close message. */
function exec(
  command: string[],
  o: { protocols?: readonly string[]; stdin?: string; closeStdin?: boolean; container?: string } = {},
): Promise<ExecResult> {
  const q = new URLSearchParams();
  for (const c of command) q.append('command', c);
  q.set('output', '1');
  q.set('error', '1');
  if (o.stdin !== undefined) q.set('input', '1');
  const ws = new WebSocket(`ws+unix://${socketPath}:/exec/default/p/${o.container ?? 'main'}?${q}`, [
    ...(o.protocols ?? [PROTOCOL_V5, PROTOCOL_V4]),
  ]);
  const out: ExecResult = { stdout: '', stderr: '', status: undefined, protocol: '' };
  return new Promise((resolve, reject) => {
    ws.on('open', () => {
      out.protocol = ws.protocol;
      if (o.stdin !== undefined) {
        ws.send(encodeFrame(Channel.Stdin, o.stdin));
        if (o.closeStdin ?? true) ws.send(encodeClose(Channel.Stdin));
      }
    });
    ws.on('message', (m: Buffer) => {
      const f = decodeFrame(m, PROTOCOL_V5);
      if (f.type !== 'data') return reject(new Error(`unexpected frame ${JSON.stringify(f)}`));
      if (f.channel === Channel.Stdout) out.stdout += f.data.toString();
      if (f.channel === Channel.Stderr) out.stderr += f.data.toString();
      if (f.channel === Channel.Error) out.status = JSON.parse(f.data.toString()) as Record<string, unknown>;
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(Object.assign(new Error(body), { statusCode: res.statusCode })));
    });
    ws.on('error', reject);
    ws.on('close', () => resolve(out));
  });
}

describe('kubelet server exec over WebSocket', () => {
  it('v5: stdin is closed by the close message, output on stdout, Success on the error channel', async () => {
    const r = await exec(['cat'], { stdin: 'hello\n' });
    expect(r).toEqual({
      stdout: 'hello\n',
      stderr: '',
      status: { metadata: {}, status: 'Success' },
      protocol: PROTOCOL_V5,
    });
  });

  it('stderr on channel 2, the exit code as NonZeroExitCode', async () => {
    const r = await exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.status).toMatchObject({
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
  });

  it("runs with the container process's environment and working directory", async () => {
    const r = await exec(['sh', '-c', 'echo $KTS_CONTAINER_VAR; pwd']);
    expect(r.stdout).toBe(`from-container\n${dir}\n`);
  });

  it('v4 is answered when v5 is not offered (no close message: the command ends on its own)', async () => {
    const r = await exec(['echo', 'v4'], { protocols: [PROTOCOL_V4] });
    expect(r.protocol).toBe(PROTOCOL_V4);
    expect(r.stdout).toBe('v4\n');
    expect(r.status).toEqual({ metadata: {}, status: 'Success' });
  });

  it.each([
    [
      'no supported subprotocol',
      { protocols: ['v3.channel.k8s.io'] },
      ['true'],
      400,
      /none of the offered subprotocols/,
    ],
    ['a container that is not running', { container: 'done' }, ['true'], 400, /container not found \("done"\)/],
    ['an unknown container', { container: 'nope' }, ['true'], 400, /container nope is not valid for pod p/],
    ['no command', {}, [], 400, /at least 1 command/],
  ] as const)('refused: %s → 400 with a Status', async (_n, o, command, code, message) => {
    const err = (await exec([...command], o).catch((e: unknown) => e)) as Error & { statusCode?: number };
    expect(err.statusCode).toBe(code);
    const status = JSON.parse(err.message) as { kind: string; code: number; message: string };
    expect(status).toMatchObject({ kind: 'Status', code });
    expect(status.message).toMatch(message);
  });

  it('an exec without an upgrade is a 400 "Upgrade request required"', async () => {
    const { code, body } = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      request({ socketPath, path: '/exec/default/p/main?command=true' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
    expect(code).toBe(400);
    expect(JSON.parse(body)).toMatchObject({ reason: 'BadRequest', message: 'Upgrade request required' });
  });
});
