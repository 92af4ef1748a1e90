// stream.ts's batched writes over real gRPC on loopback: the grpc-js in use exposes the call's
// HTTP/2 stream where the batching expects it (else every stream silently takes the slow path),
// and batched, framed messages reach a stock grpc-js client whole and in order, with the end status.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { HubbleClient } from '../../hubble/client.js';
import { observerService } from '../../hubble/proto.js';
import { BATCH_BYTES, rawStreamOf, writeStream } from '../../hubble/stream.js';
import { frameResponse } from '../../hubble/wire.js';
import type { GetFlowsResponse } from '../../hubble/types.js';

const server = new grpc.Server();
let address = '';
const fastPath: boolean[] = [];
const COUNT = 5000;

function response(i: number): GetFlowsResponse {
  return {
    flow: { verdict: 'FORWARDED', node_name: 'node-a', l4: { TCP: { source_port: i % 65536, destination_port: 80 } } },
    node_name: 'node-a',
    time: { seconds: 1_700_000_000 + i, nanos: 0 },
  };
}

beforeAll(async () => {
  server.addService(observerService, {
    GetFlows: (call: grpc.ServerWritableStream<{ number?: number }, unknown>) => {
      fastPath.push(rawStreamOf(call) !== undefined);
      const n = Number(call.request.number ?? 0);
      void writeStream(
        call,
        async function* (signal) {
          for (let i = 0; i < n && !signal.aborted; i++) {
            yield response(i);
            // a pause now and then: batches end both by size and by the end of a turn
            if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 5));
          }
          if (n === 7) throw new Error('source failed');
        },
        (r) => frameResponse(r),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => {
  server.forceShutdown();
});

describe('writeStream with a serializer', () => {
  it('takes the batched path with this grpc-js', async () => {
    const client = new HubbleClient(address);
    for await (const _ of client.getFlows({ number: 1 })) void _;
    client.close();
    expect(fastPath).toEqual([true]);
  });

  it(`delivers ${COUNT} messages (more than one ${BATCH_BYTES}-byte batch) whole and in order`, async () => {
    const client = new HubbleClient(address);
    const got: GetFlowsResponse[] = [];
    for await (const r of client.getFlows({ number: COUNT })) got.push(r);
    client.close();
    expect(got).toHaveLength(COUNT);
    got.forEach((r, i) => expect(r).toMatchObject(response(i)));
  });

  it('ends with the error status after the messages already written', async () => {
    const client = new HubbleClient(address);
    const got: GetFlowsResponse[] = [];
    await expect(
      (async () => {
        for await (const r of client.getFlows({ number: 7 })) got.push(r);
      })(),
    ).rejects.toThrow(/source failed/);
    client.close();
    expect(got).toHaveLength(7);
  });
});
