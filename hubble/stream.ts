// Pumping an async generator into a gRPC server stream: respects the client's flow control (waits
// for 'drain' when the write buffer is full, so a slow client is lapped by the ring and told so
// with a LostEvent instead of growing our memory), stops when the client goes away, and turns
// errors into gRPC statuses.
import type * as grpc from '@grpc/grpc-js';
import { toGrpcError } from './errors.js';

export async function writeStream<T>(
  call: grpc.ServerWritableStream<unknown, unknown>,
  source: (signal: AbortSignal) => AsyncGenerator<T>,
): Promise<void> {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  call.on('cancelled', abort);
  call.on('close', abort);
  call.on('error', abort);
  try {
    for await (const item of source(ac.signal)) {
      if (ac.signal.aborted) break;
      if (!call.write(item))
        await new Promise<void>((resolve) => {
          const done = (): void => {
            call.off('drain', done);
            ac.signal.removeEventListener('abort', done);
            resolve();
          };
          call.on('drain', done);
          ac.signal.addEventListener('abort', done, { once: true });
        });
    }
    if (!ac.signal.aborted) call.end();
  } catch (e) {
    // grpc-js sends a stream's error status when the handler emits 'error' on the call
    if (!ac.signal.aborted) call.emit('error', toGrpcError(e));
  } finally {
    call.off('cancelled', abort);
    call.off('close', abort);
    call.off('error', abort);
  }
}
