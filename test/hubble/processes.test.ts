// The two binaries as processes: hubble-relay (cmd/hubble-relay.ts) in front of an in-process
// Hubble server, and the hubble CLI (cmd/hubble.ts) asking it, as a user would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { buildFrame } from '../../datapath/packet.js';
import { HubbleServer } from '../../hubble/server.js';
import { resolver } from './fixtures.js';

const node = process.execPath;
let agent: HubbleServer;
let relay: ChildProcess | undefined;
let relayAddress = '';

function hubble(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      node,
      ['--import', 'tsx', 'cmd/hubble.ts', '--server', relayAddress, ...args],
      { timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  agent = new HubbleServer({ nodeName: 'proc-node', resolver: resolver() });
  const data = buildFrame({ src: '10.2.0.5', dst: '10.1.0.2', proto: 'tcp', dport: 5432 });
  agent.observe({
    type: 'drop',
    source: 12,
    hash: 0,
    lenOrig: data.length,
    ipv6: false,
    data,
    reason: 181,
    reasonName: 'POLICY_DENY',
    srcLabel: 3003,
    dstLabel: 2002,
    ifindex: 1,
  });
  await agent.listen({ tcp: '127.0.0.1:0' });
  // as the install's manifest runs it: `hubble-relay serve --flag=value`
  relay = spawn(
    node,
    [
      '--import',
      'tsx',
      'cmd/hubble-relay.ts',
      'serve',
      '--listen-address=127.0.0.1:0',
      '--static-peer',
      `proc-node=${agent.tcpAddress}`,
      // this agent serves plaintext (test/hubble/tls.test.ts covers mutual TLS)
      '--disable-client-tls',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  relayAddress = await new Promise<string>((resolve, reject) => {
    let buf = '';
    relay!.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    relay!.once('exit', (code) => reject(new Error(`hubble-relay exited ${code}: ${buf}`)));
  });
});

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    const exited = new Promise((r) => relay!.once('exit', r));
    relay.kill('SIGTERM');
    await exited;
  }
  await agent?.close();
});

describe('hubble and hubble-relay binaries', () => {
  it('hubble observe through the relay process shows the drop with its reason and pods', async () => {
    const r = await hubble('observe', '--verdict', 'DROPPED', '--to-pod', 'demo/backend');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /other\/client-1:40000 \(ID:3003\) <> demo\/backend-55c4:5432 \(ID:2002\) drop DROPPED \(POLICY_DENY\)/,
    );
  });

  it('hubble status and list nodes', async () => {
    const s = await hubble('status');
    expect(s.stdout).toContain('Connected Nodes: 1/1');
    const n = await hubble('list', 'nodes');
    expect(n.stdout).toMatch(/proc-node\s+Connected/);
  });

  it('hubble-relay refuses to start without peers (exit 2, coded message)', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(
        node,
        ['--import', 'tsx', 'cmd/hubble-relay.ts', '--listen-address', '127.0.0.1:0'],
        { timeout: 20_000 },
        (err, _o, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
      ),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HUBBLE_ERR_BAD_ARGS/);
  });

  it('hubble-relay refuses to start with TLS on (the default) but no certificate files', async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(
        node,
        ['--import', 'tsx', 'cmd/hubble-relay.ts', '--listen-address', '127.0.0.1:0', '--static-peer', 'n=127.0.0.1:1'],
        { timeout: 20_000, env: { ...process.env, HUBBLE_RELAY_DISABLE_CLIENT_TLS: '' } },
        (err, _o, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr }),
      ),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HUBBLE_ERR_BAD_ARGS: TLS to the nodes needs --tls-hubble-client-cert-file/);
  });
});
