// The hubble CLI's TLS flags (upstream's names) against a real mutual-TLS Hubble server on
// loopback, as an agent serves :4244: observe with the install's CA, a client certificate and the
// node's server name works; without the CA, without a client certificate, with a wrong name or
// in plaintext it fails with a clear one-line error; flags that make no sense are refused before
// dialling; the flags default to upstream's HUBBLE_TLS* variables and `tls://` means --tls.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCa, hubbleServerWildcard, issueCertificate } from '../../cdk8s/hubble-tls.js';
import { cliTlsOptions, runHubbleCli } from '../../hubble/cli.js';
import { HubbleErrorCode } from '../../hubble/errors.js';
import { HubbleServer } from '../../hubble/server.js';
import { hubbleServerName } from '../../hubble/tls.js';
import { observeDrop, resolver } from './fixtures.js';

const CLUSTER = 'default';
const NODE_NAME = hubbleServerName('node-a', CLUSTER);
let dir: string;
let server: HubbleServer;
const f = (name: string) => join(dir, name);

async function run(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runHubbleCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out, err };
}

/** `hubble observe` against the server with these extra flags. */
const observe = (...flags: string[]) => run(['observe', '--server', server.tcpAddress!, '--timeout', '3000', ...flags]);
const clientCert = ['--tls-client-cert-file', '', '--tls-client-key-file', ''];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cilium-ts-hubble-cli-tls-'));
  const ca = generateCa(1);
  const serverCert = issueCertificate(ca, [hubbleServerWildcard(CLUSTER)], 1);
  const client = issueCertificate(ca, ['*.hubble-relay.cilium.io'], 1);
  const other = generateCa(1, 'another cluster CA');
  for (const [name, text] of [
    ['ca.crt', ca.cert],
    ['other-ca.crt', other.cert],
    ['server.crt', serverCert.cert],
    ['server.key', serverCert.key],
    ['client.crt', client.cert],
    ['client.key', client.key],
  ] as const)
    writeFileSync(f(name), text);
  clientCert[1] = f('client.crt');
  clientCert[3] = f('client.key');
  server = new HubbleServer({ nodeName: 'node-a', resolver: resolver() });
  await server.listen({
    tcp: '127.0.0.1:0',
    tls: { certFile: f('server.crt'), keyFile: f('server.key'), caFiles: [f('ca.crt')] },
  });
  for (let i = 0; i < 3; i++) observeDrop(server, 3000 + i);
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The destination ports of `-o json` lines (one flow each). */
const ports = (out: string[]) =>
  out.map((l) => (JSON.parse(l) as { l4?: { TCP?: { destinationPort?: number } } }).l4?.TCP?.destinationPort);

describe('hubble observe --tls against a mutual-TLS server', () => {
  it('works with the right CA, a client certificate and the node name', async () => {
    const r = await observe(
      '--tls',
      '--tls-ca-cert-files',
      f('ca.crt'),
      ...clientCert,
      '--tls-server-name',
      NODE_NAME,
      '-o',
      'json',
    );
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: [] });
    expect(ports(r.out)).toEqual([3000, 3001, 3002]);
  });

  it('several CA files (repeated or comma-separated), any one suffices', async () => {
    const r = await observe(
      '--tls',
      '--tls-ca-cert-files',
      `${f('other-ca.crt')},${f('ca.crt')}`,
      ...clientCert,
      '--tls-server-name',
      NODE_NAME,
    );
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: [] });
    expect(r.out).toHaveLength(3);
  });

  it('without the CA (system roots only) the handshake fails, and the error says so', async () => {
    const r = await observe('--tls', ...clientCert, '--tls-server-name', NODE_NAME);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(
      new RegExp(`^${HubbleErrorCode.Unavailable}: cannot reach 127\\.0\\.0\\.1:\\d+ over TLS: .*certificate`),
    );
    expect(r.err[0]).toContain('check --tls-ca-cert-files');
  });

  it('with a CA that did not sign the server certificate it fails', async () => {
    const r = await observe(
      '--tls',
      '--tls-ca-cert-files',
      f('other-ca.crt'),
      ...clientCert,
      '--tls-server-name',
      NODE_NAME,
    );
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/over TLS: .*certificate/);
  });

  it('without a client certificate the server refuses', async () => {
    const r = await observe('--tls', '--tls-ca-cert-files', f('ca.crt'), '--tls-server-name', NODE_NAME);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(new RegExp(`^${HubbleErrorCode.Unavailable}: cannot reach .* over TLS: `));
  });

  it("with another cluster's server name the client refuses the server", async () => {
    const r = await observe(
      '--tls',
      '--tls-ca-cert-files',
      f('ca.crt'),
      ...clientCert,
      '--tls-server-name',
      hubbleServerName('node-a', 'other'),
    );
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/over TLS: .*(altnames|does not match|Hostname)/i);
  });

  it('in plaintext it fails', async () => {
    const r = await observe();
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(new RegExp(`^${HubbleErrorCode.Unavailable}: cannot reach 127\\.0\\.0\\.1:\\d+: `));
  });

  it('--tls-allow-insecure accepts the server without checking its certificate', async () => {
    const r = await observe('--tls', '--tls-allow-insecure', ...clientCert);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: [] });
    expect(r.out).toHaveLength(3);
  });

  it("upstream's environment variables and the tls:// scheme", async () => {
    const env = {
      HUBBLE_TLS_CA_CERT_FILES: f('ca.crt'),
      HUBBLE_TLS_CLIENT_CERT_FILE: f('client.crt'),
      HUBBLE_TLS_CLIENT_KEY_FILE: f('client.key'),
      HUBBLE_TLS_SERVER_NAME: NODE_NAME,
    };
    const byEnv = await run(['observe', '--server', server.tcpAddress!], { ...env, HUBBLE_TLS: 'true' });
    expect({ code: byEnv.code, err: byEnv.err, n: byEnv.out.length }).toEqual({ code: 0, err: [], n: 3 });
    const byScheme = await run(['observe', '--server', `tls://${server.tcpAddress!}`], env);
    expect({ code: byScheme.code, err: byScheme.err, n: byScheme.out.length }).toEqual({ code: 0, err: [], n: 3 });
  });
});

describe('TLS flags refused before dialling', () => {
  it.each([
    [['--tls-ca-cert-files', '/x.crt'], '--tls-ca-cert-files given without --tls (TLS is off)'],
    [['--tls-server-name', 'a', '--tls-allow-insecure'], '--tls-allow-insecure, --tls-server-name given without --tls'],
    [['--tls', '--tls-client-cert-file', '/c.crt'], '--tls-client-cert-file and --tls-client-key-file go together'],
    [['--tls', '--tls-ca-cert-files', '/nonexistent/ca.crt'], '--tls-ca-cert-files /nonexistent/ca.crt: ENOENT'],
  ])('%j', async (flags, message) => {
    const r = await run(['status', '--server', '127.0.0.1:1', ...flags]);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toContain(`${HubbleErrorCode.Tls}: ${message}`);
  });

  it('a flag wins over its variable; a variable fills an absent flag', () => {
    expect(
      cliTlsOptions(
        { 'tls-server-name': 'flag' },
        { HUBBLE_TLS: '1', HUBBLE_TLS_SERVER_NAME: 'env', HUBBLE_TLS_CA_CERT_FILES: 'a,b' },
      ),
    ).toEqual({ tls: true, allowInsecure: false, caCertFiles: ['a', 'b'], serverName: 'flag' });
    expect(cliTlsOptions({}, {})).toEqual({ tls: false, allowInsecure: false, caCertFiles: [] });
  });
});
