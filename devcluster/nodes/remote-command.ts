// The remote command protocol kubectl speaks to `pods/exec` over WebSocket
// (https://github.com/kubernetes/enhancements/tree/master/keps/sig-api-machinery/4006-transition-spdy-to-websockets):
// binary messages whose first byte is the channel (0 stdin, 1 stdout, 2 stderr, 3 error/status,
// 4 resize); `v5.channel.k8s.io` adds a message `[255, channel]` that closes one stream (how a
// client half-closes stdin). The error channel carries one metav1.Status JSON at the end, from
// which kubectl takes the exit code (reason NonZeroExitCode, cause ExitCode).

export const Channel = { Stdin: 0, Stdout: 1, Stderr: 2, Error: 3, Resize: 4 } as const;
export type Channel = (typeof Channel)[keyof typeof Channel];

/** v5 only: `[CLOSE, channel]` ends that stream. */
export const CLOSE_SIGNAL = 255;

export const PROTOCOL_V5 = 'v5.channel.k8s.io';
export const PROTOCOL_V4 = 'v4.channel.k8s.io';
/** The subprotocols we answer, preferred first (the kubelet picks the newest the client offers). */
export const SUPPORTED_PROTOCOLS = [PROTOCOL_V5, PROTOCOL_V4] as const;
export type RemoteCommandProtocol = (typeof SUPPORTED_PROTOCOLS)[number];

/** The protocol to answer from those a client offers (`Sec-WebSocket-Protocol`), undefined if none fits. */
export function negotiate(offered: Iterable<string>): RemoteCommandProtocol | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  return SUPPORTED_PROTOCOLS.find((p) => set.has(p));
}

/** One message on a channel. */
export function encodeFrame(channel: Channel, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = channel;
  body.copy(out, 1);
  return out;
}

/** v5's close of one stream. */
export function encodeClose(channel: Channel): Buffer {
  return Buffer.from([CLOSE_SIGNAL, channel]);
}

export type Frame =
  | { type: 'data'; channel: Channel; data: Buffer }
  | { type: 'close'; channel: Channel }
  | { type: 'invalid'; reason: string };

/** Decodes a client message; `[255, n]` is a close only under v5 (v4 has no such channel). */
export function decodeFrame(msg: Buffer, protocol: RemoteCommandProtocol): Frame {
  if (msg.length === 0) return { type: 'invalid', reason: 'empty message' };
  const id = msg[0]!;
  if (id === CLOSE_SIGNAL && protocol === PROTOCOL_V5) {
    if (msg.length !== 2 || msg[1]! > Channel.Resize) return { type: 'invalid', reason: 'malformed close message' };
    return { type: 'close', channel: msg[1] as Channel };
  }
  if (id > Channel.Resize) return { type: 'invalid', reason: `unknown channel ${id}` };
  return { type: 'data', channel: id as Channel, data: msg.subarray(1) };
}

/** A resize message (channel 4): `{"Width":…,"Height":…}` as client-go's TerminalSize marshals it. */
export function decodeResize(data: Buffer): { width: number; height: number } | undefined {
  try {
    const v = JSON.parse(data.toString('utf8')) as { Width?: unknown; Height?: unknown };
    if (typeof v.Width !== 'number' || typeof v.Height !== 'number') return undefined;
    return { width: v.Width, height: v.Height };
  } catch {
    return undefined;
  }
}

export interface ExecStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason: string; message: string }[] };
}

/**
 * The status the kubelet writes on channel 3 when the command ends: Success for exit 0, else
 * NonZeroExitCode with the code as an ExitCode cause (client-go turns it into kubectl's exit code).
 */
export function exitStatus(code: number, command: string[]): ExecStatus {
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** A failure that is not the command's exit code (it could not be started, the container went away). */
export function failureStatus(message: string): ExecStatus {
  return { metadata: {}, status: 'Failure', message };
}
