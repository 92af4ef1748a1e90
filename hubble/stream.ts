// Pumping an async generator into a gRPC server stream: respects the client's flow control (waits
// for 'drain' when the write buffer is full, so a slow client is lapped by the ring and told so
// with a LostEvent instead of growing our memory), stops when the client goes away, and turns
// errors into gRPC statuses.
//
// Messages are framed here and written in batches. grpc-js writes one message per HTTP/2 write
// and starts the next only when the previous one's write callback ran, which capped a stream at
// about 40k messages/s whatever the message; a batch of framed messages (gRPC's 5-byte prefix,
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md "Length-Prefixed-Message") in
// one write is the same bytes on the wire. This needs the call's HTTP/2 stream, which grpc-js
// does not publish: when it is not where grpc-js 1.x keeps it, messages go through call.write().
import type * as grpc from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import { toGrpcError } from './errors.js';

/** Bytes gathered before a batch is written without waiting for the turn of the event loop to end. */
export const BATCH_BYTES = 64 * 1024;

interface RawStream {
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
  once(event: 'drain', fn: () => void): unknown;
  off(event: 'drain', fn: () => void): unknown;
  destroyed: boolean;
}

/** The HTTP/2 stream under a grpc-js server call, or undefined (another grpc-js, an interceptor). */
export function rawStreamOf(call: grpc.ServerWritableStream<unknown, unknown>): RawStream | undefined {
  const inner = (call as unknown as { call?: { stream?: Partial<RawStream> & { respond?: unknown } } }).call;
  const s = inner?.stream;
  if (!s || typeof s.write !== 'function' || typeof s.respond !== 'function' || typeof s.once !== 'function')
    return undefined;
  return s as RawStream;
}

export async function writeStream<T>(
  call: grpc.ServerWritableStream<unknown, unknown>,
  source: (signal: AbortSignal) => AsyncGenerator<T>,
  /** an item as gRPC's framed bytes (5-byte prefix and message; hubble/wire.ts) */
  frame?: (item: T) => Buffer,
): Promise<void> {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  call.on('cancelled', abort);
  call.on('close', abort);
  call.on('error', abort);
  const raw = frame ? rawStreamOf(call) : undefined;
  const batch: Buffer[] = [];
  let batchBytes = 0;
  let flushTimer: NodeJS.Immediate | undefined;
  let blocked: Promise<void> | undefined;
  const waitDrain = (s: { once(e: 'drain', f: () => void): unknown; off(e: 'drain', f: () => void): unknown }) =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        ac.signal.removeEventListener('abort', done);
        resolve();
      };
      s.once('drain', done);
      ac.signal.addEventListener('abort', done, { once: true });
    });
  const flush = (): void => {
    flushTimer = undefined;
    if (!raw || batch.length === 0 || ac.signal.aborted || raw.destroyed) return;
    const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
    batch.length = 0;
    batchBytes = 0;
    if (!raw.write(chunk)) blocked ??= waitDrain(raw).then(() => void (blocked = undefined));
  };
  try {
    if (raw) call.sendMetadata(new Metadata());
    for await (const item of source(ac.signal)) {
      if (ac.signal.aborted) break;
      if (raw) {
        const framed = frame!(item);
        batch.push(framed);
        batchBytes += framed.byteLength;
        // a follower's flow goes out at the end of this turn; a scan's fill a batch first
        if (batchBytes >= BATCH_BYTES) {
          if (flushTimer) clearImmediate(flushTimer);
          flush();
        } else flushTimer ??= setImmediate(flush);
        if (blocked) await blocked;
        continue;
      }
      if (!call.write(item)) await waitDrain(call);
    }
    if (flushTimer) clearImmediate(flushTimer);
    flush();
    if (!ac.signal.aborted) call.end();
  } catch (e) {
    if (flushTimer) clearImmediate(flushTimer);
    flush();
    // grpc-js sends a stream's error status when the handler emits 'error' on the call
    if (!ac.signal.aborted) call.emit('error', toGrpcError(e));
  } finally {
    call.off('cancelled', abort);
    call.off('close', abort);
    call.off('error', abort);
  }
}
