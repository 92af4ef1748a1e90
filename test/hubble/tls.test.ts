// Hubble's mutual TLS on loopback: an agent's Hubble server with the install's certificates
// (cdk8s/hubble-tls.ts) refuses a plaintext client, a TLS client without a certificate and one
// whose certificate another CA signed; relay with the right client certificate reaches it and
// streams its flows, relay trusting a wrong CA or expecting another cluster's name cannot. The
// certificate files may come after the server started (a Secret mounted late) and are picked up.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, hubbleServerWildcard, issueCertificate, type KeyPair } from '../../cdk8s/hubble-tls.js';
import { HubbleClient } from '../../hubble/client.js';
import { HubbleRelay } from '../../hubble/relay.js';
import { HubbleServer } from '../../hubble/server.js';
import { hubbleServerName, serverNameOptions, type TlsFiles } from '../../hubble/tls.js';
import type { GetFlowsResponse } from '../../hubble/types.js';
import { observeDrop, resolver } from './fixtures.js';

const CLUSTER = 'default';
let dir: string;
let ca: KeyPair;
let otherCa: KeyPair;
let server: HubbleServer;
const closers: (() => unknown)[] = [];

/** Writes a certificate, its key and a CA into files under the test directory. */
function files(name: string, pair: KeyPair, caPair: KeyPair): TlsFiles {
  const f = {
    certFile: join(dir, `${name}.crt`),
    keyFile: join(dir, `${name}.key`),
    caFiles: [join(dir, `${name}-ca.crt`)],
  };
  writeFileSync(f.certFile, pair.cert);
  writeFileSync(f.keyFile, pair.key);
  writeFileSync(f.caFiles[0]!, caPair.cert);
  return f;
}

function drop(s: HubbleServer, dport: number): void {
  observeDrop(s, dport);
}

/** ServerStatus through a client: 'ok' or the gRPC status name of the failure. */
async function status(client: HubbleClient): Promise<string> {
  closers.push(() => client.close());
  try {
    await client.serverStatus(3000);
    return 'ok';
  } catch (e) {
    return grpc.status[(e as grpc.ServiceError).code] ?? String(e);
  }
}

const nodeName = (node: string) => serverNameOptions(hubbleServerName(node, CLUSTER));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-hubble-tls-'));
  ca = generateCa(1);
  otherCa = generateCa(1);
  const serverFiles = files('server', issueCertificate(ca, [hubbleServerWildcard(CLUSTER)], 1), ca);
  server = new HubbleServer({ nodeName: 'node-a', resolver: resolver() });
  await server.listen({ tcp: '127.0.0.1:0', tls: serverFiles });
  for (let i = 0; i < 3; i++) drop(server, 2000 + i);
  server.setPeers([
    { name: 'node-a', address: server.tcpAddress!, tls: { server_name: hubbleServerName('node-a', CLUSTER) } },
  ]);
});

afterAll(async () => {
  for (const c of closers) await c();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Hubble server with mutual TLS', () => {
  it('refuses a plaintext client', async () => {
    expect(await status(new HubbleClient(server.tcpAddress!))).toBe('UNAVAILABLE');
  });

  it('refuses a TLS client without a certificate', async () => {
    const creds = grpc.credentials.createSsl(Buffer.from(ca.cert));
    expect(await status(new HubbleClient(server.tcpAddress!, nodeName('node-a'), creds))).toBe('UNAVAILABLE');
  });

  it('refuses a client certificate another CA signed', async () => {
    const rogue = issueCertificate(otherCa, ['*.hubble-relay.cilium.io'], 1);
    const creds = grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(rogue.key), Buffer.from(rogue.cert));
    expect(await status(new HubbleClient(server.tcpAddress!, nodeName('node-a'), creds))).toBe('UNAVAILABLE');
  });

  it("serves a client with the CA's client certificate, checking the node's name", async () => {
    const relayCert = issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1);
    const creds = () =>
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(relayCert.key), Buffer.from(relayCert.cert));
    expect(await status(new HubbleClient(server.tcpAddress!, nodeName('node-a'), creds()))).toBe('ok');
    // the same certificate checked against another cluster's name: the client refuses the server
    const wrongName = serverNameOptions(hubbleServerName('node-a', 'other-cluster'));
    expect(await status(new HubbleClient(server.tcpAddress!, wrongName, creds()))).toBe('UNAVAILABLE');
  });
});

describe('hubble-relay with mutual TLS', () => {
  const relayWith = (tls: TlsFiles, clusterName = CLUSTER) => {
    const relay = new HubbleRelay({ peerService: server.tcpAddress!, tls, clusterName, callTimeoutMs: 3000 });
    closers.push(() => relay.close());
    return relay;
  };

  it('connects with the right CA and streams the node flows', async () => {
    const relay = relayWith(files('relay', issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1), ca));
    let nodes = (await relay.getNodes()).nodes;
    for (let i = 0; i < 50 && nodes[0]?.state !== 'NODE_CONNECTED'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      nodes = (await relay.getNodes()).nodes;
    }
    expect(nodes.map((n) => [n.name, n.state])).toEqual([['node-a', 'NODE_CONNECTED']]);
    expect(nodes[0]!.tls).toEqual({ enabled: true, server_name: 'node-a.default.hubble-grpc.cilium.io' });
    const flows: GetFlowsResponse[] = [];
    for await (const r of relay.getFlows({ number: 10 })) if (r.flow) flows.push(r);
    expect(flows.map((f) => f.flow!.l4?.TCP?.destination_port)).toEqual([2000, 2001, 2002]);
  });

  it('cannot connect when it trusts a wrong CA', async () => {
    const relay = relayWith(files('relay-wrong-ca', issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1), otherCa));
    // the peer service itself is TLS: relay learns no node at all, and ServerStatus counts none
    await new Promise((r) => setTimeout(r, 500));
    expect(relay.nodes()).toEqual([]);
    const s = await relay.serverStatus();
    expect(s.num_connected_nodes).toEqual({ value: 0 });
  });

  it("cannot connect to a node of another cluster's name", async () => {
    const relay = new HubbleRelay({
      staticPeers: [{ name: 'node-a', address: server.tcpAddress! }],
      tls: files('relay-other', issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1), ca),
      clusterName: 'other-cluster',
      callTimeoutMs: 1000,
    });
    closers.push(() => relay.close());
    const s = await relay.serverStatus();
    expect({ connected: s.num_connected_nodes, unavailable: s.unavailable_nodes }).toEqual({
      connected: { value: 0 },
      unavailable: ['node-a'],
    });
  });

  it('a server whose certificate files appear later serves once it has read them', async () => {
    const late = join(dir, 'late');
    const lateFiles: TlsFiles = { certFile: `${late}.crt`, keyFile: `${late}.key`, caFiles: [`${late}-ca.crt`] };
    const s = new HubbleServer({ nodeName: 'node-late', resolver: resolver() });
    closers.push(() => s.close());
    await s.listen({ tcp: '127.0.0.1:0', tls: lateFiles });
    const relayCert = issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1);
    const creds = () =>
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(relayCert.key), Buffer.from(relayCert.cert));
    expect(await status(new HubbleClient(s.tcpAddress!, nodeName('node-late'), creds()))).toBe('UNAVAILABLE');
    files('late', issueCertificate(ca, [hubbleServerWildcard(CLUSTER)], 1), ca);
    await s.tlsWatcher!.refresh();
    expect(s.tlsWatcher!.lastError).toBeUndefined();
    expect(await status(new HubbleClient(s.tcpAddress!, nodeName('node-late'), creds()))).toBe('ok');
  });
});
