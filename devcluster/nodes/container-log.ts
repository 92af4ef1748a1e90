// A container's log as the kubelet and its runtime keep it: one file per container instance
// (`<pod dir>/<container>/<restartCount>.log`) in the CRI logging format, a line per write of a
// stream: `<RFC 3339 time> <stdout|stderr> <F|P> <text>` (P: a partial line continued by the next
// entry), see https://github.com/kubernetes/design-proposals-archive/blob/main/node/kubelet-cri-logging.md.
// The reader serves `kubectl logs` (tailLines, sinceTime, timestamps, limitBytes, follow).
// `<pod dir>/<container>.log` keeps the plain output of every instance, for people and older tests.
import { closeSync, existsSync, mkdirSync, openSync, readSync, fstatSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

export const CONTAINER_LOG_DEFAULTS = {
  /** How often a follower looks for new lines (the file is written by this same process). */
  followPollMs: 100,
  /** Read buffer of the reader. */
  chunkBytes: 64 * 1024,
};

export const containerLogPath = (podDir: string, container: string, instance: number): string =>
  join(podDir, container, `${instance}.log`);

/** CRI log files whose instance may still write (its pipes are open): what a follower waits on. */
const writing = new Set<string>();
export const stillWriting = (path: string): boolean => writing.has(path);

/** Writes one container instance's stdout and stderr into its CRI log file and the plain log. */
export class ContainerLogWriter {
  private readonly cri: number;
  private readonly plain: number;
  private open = 2;
  private readonly path: string;

  constructor(podDir: string, container: string, instance: number) {
    mkdirSync(join(podDir, container), { recursive: true });
    this.path = containerLogPath(podDir, container, instance);
    // a new instance starts a new file ('w': a same-named earlier pod's file of that index goes)
    this.cri = openSync(this.path, 'w');
    writing.add(this.path);
    this.plain = openSync(join(podDir, `${container}.log`), 'a');
  }

  /** Takes both pipes of a child; the files close when both ended. */
  attach(stdout: Readable | null, stderr: Readable | null): void {
    for (const [s, name] of [
      [stdout, 'stdout'],
      [stderr, 'stderr'],
    ] as const) {
      if (!s) {
        this.ended();
        continue;
      }
      s.on('data', (d: Buffer) => this.write(name, d));
      s.on('close', () => this.ended());
    }
  }

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    writeSync(this.plain, data);
    const time = new Date().toISOString();
    let start = 0;
    const entries: string[] = [];
    while (start < data.length) {
      const nl = data.indexOf(10, start);
      const end = nl === -1 ? data.length : nl;
      entries.push(`${time} ${stream} ${nl === -1 ? 'P' : 'F'} ${data.subarray(start, end).toString('utf8')}\n`);
      start = end + 1;
    }
    writeSync(this.cri, entries.join(''));
  }

  private ended(): void {
    if (--this.open > 0) return;
    writing.delete(this.path);
    closeSync(this.cri);
    closeSync(this.plain);
  }
}

export interface LogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  /** The text with its newline when the entry ends a line (F), without when partial (P). */
  text: string;
}

/** Parses CRI log lines; a malformed line is skipped (a crash can leave half a line). */
export function parseEntries(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
    if (!m) continue;
    out.push({ time: m[1]!, stream: m[2] as 'stdout' | 'stderr', text: m[3] === 'F' ? `${m[4]}\n` : m[4]! });
  }
  return out;
}

export interface LogReadOptions {
  /** Only the last N lines (kubectl --tail). */
  tailLines?: number;
  /** Only entries at or after this time (sinceSeconds / sinceTime). */
  since?: Date;
  /** Prefix every line with its RFC 3339 time. */
  timestamps?: boolean;
  /** Stop after this many bytes. */
  limitBytes?: number;
  /** Keep reading new entries while `running()` says the instance lives. */
  follow?: boolean;
}

/** What a reader hands out: text to send, and whether it ended by limitBytes. */
export interface LogSink {
  write(text: string): void;
  /** True once the client went away: the reader stops. */
  closed(): boolean;
}

/**
 * Streams one instance's log to `sink` as the kubelet's ReadLogs does: the tail and the since
 * filter apply to what is there, then (follow) new entries until `running()` is false and the
 * file is drained.
 */
export async function readContainerLog(
  path: string,
  o: LogReadOptions,
  sink: LogSink,
  running: () => boolean,
): Promise<void> {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r');
  let sent = 0;
  const emit = (entries: LogEntry[]): boolean => {
    for (const e of entries) {
      if (o.since && Date.parse(e.time) < o.since.getTime()) continue;
      let text = o.timestamps ? `${e.time} ${e.text}` : e.text;
      if (o.limitBytes !== undefined) {
        const left = o.limitBytes - sent;
        if (left <= 0) return false;
        if (Buffer.byteLength(text) > left) text = Buffer.from(text).subarray(0, left).toString('utf8');
      }
      sent += Buffer.byteLength(text);
      sink.write(text);
      if (o.limitBytes !== undefined && sent >= o.limitBytes) return false;
    }
    return true;
  };
  try {
    let pos = 0;
    let carry = '';
    const readMore = (): LogEntry[] => {
      const buf = Buffer.allocUnsafe(CONTAINER_LOG_DEFAULTS.chunkBytes);
      let text = carry;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        text += buf.subarray(0, n).toString('utf8');
      }
      // a line still being written stays for the next round
      const cut = text.lastIndexOf('\n');
      carry = text.slice(cut + 1);
      return parseEntries(text.slice(0, cut + 1));
    };
    let first = readMore();
    if (o.tailLines !== undefined) first = tail(first, o.tailLines);
    if (!emit(first) || !o.follow) return;
    for (;;) {
      if (sink.closed()) return;
      const alive = running();
      if (fstatSync(fd).size > pos || carry) {
        if (!emit(readMore())) return;
      }
      if (!alive && fstatSync(fd).size <= pos) return;
      await new Promise((r) => setTimeout(r, CONTAINER_LOG_DEFAULTS.followPollMs));
    }
  } finally {
    closeSync(fd);
  }
}

/** The entries of the last `n` lines (a line may be several partial entries). */
export function tail(entries: LogEntry[], n: number): LogEntry[] {
  if (n <= 0) return [];
  let lines = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i]!.text.endsWith('\n')) {
      lines++;
      // the (n+1)th line from the end ends here: everything after it is the tail
      if (lines > n) return entries.slice(i + 1);
    }
  }
  return entries;
}
