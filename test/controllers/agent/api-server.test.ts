// The agent's REST server on hostile or careless input: the socket is 0660, bodies are capped
// (413), malformed requests are 400 with the field named (never 500), an endpoint can only use
// an address IPAM gave its pod, only the owner frees an address, and every refusal is logged
// with its reason.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { statSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupId } from '../../../controllers/agent/api/server.js';
import { AgentErrorCode } from '../../../controllers/agent/errors.js';
import { rawRequest, startRealApi, type RealApi } from './api-harness.js';

let api: RealApi;
const req = (method: string, path: string, body?: string | Buffer, headers?: Record<string, string>) =>
  rawRequest(api.socketPath, method, path, body, headers);

const changeRequest = (ip: string, over: Record<string, unknown> = {}) => ({
  'container-id': 'c1',
  'container-interface-name': 'eth0',
  'interface-name': 'lxc1',
  'interface-index': 7,
  mac: '02:00:00:00:00:01',
  'host-mac': '02:00:00:00:00:02',
  addressing: { ipv4: ip },
  'k8s-pod-name': 'web',
  'k8s-namespace': 'demo',
  ...over,
});

beforeAll(async () => {
  api = await startRealApi('10.77.0.0/29', { maxBodyBytes: 4096 });
});
afterAll(() => api?.close());

describe('the socket', () => {
  it('is mode 0660; without a `cilium` group it keeps root group and says so', () => {
    const st = statSync(api.socketPath);
    expect(st.mode & 0o777).toBe(0o660);
    if (groupId('cilium') === undefined) {
      expect(st.gid).toBe(0);
      expect(api.logs).toContainEqual(
        expect.objectContaining({ level: 'warn', msg: expect.stringContaining('socket group does not exist') }),
      );
    }
  });

  it('groupId reads /etc/group-style files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-group-'));
    try {
      writeFileSync(join(dir, 'group'), 'root:x:0:\ncilium:x:1234:alice\nbroken\n');
      expect(groupId('cilium', join(dir, 'group'))).toBe(1234);
      expect(groupId('nobody', join(dir, 'group'))).toBeUndefined();
      expect(groupId('cilium', join(dir, 'absent'))).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('malformed input is 400 (or 404/413), never 500', () => {
  const cases: [string, string, string, string | undefined, number, string][] = [
    ['non-JSON body', 'PUT', '/v1/endpoint/cni-attachment-id:c1:eth0', '{not json', 400, AgentErrorCode.BadRequest],
    ['JSON array body', 'PUT', '/v1/endpoint/cni-attachment-id:c1:eth0', '[]', 400, AgentErrorCode.BadRequest],
    ['JSON null body', 'PUT', '/v1/endpoint/cni-attachment-id:c1:eth0', 'null', 400, AgentErrorCode.BadRequest],
    [
      'missing fields',
      'PUT',
      '/v1/endpoint/cni-attachment-id:c1:eth0',
      '{"container-id":"c1"}',
      400,
      AgentErrorCode.BadRequest,
    ],
    ['bad %-escape in a path', 'GET', '/v1/endpoint/%E0%A4%A', undefined, 400, AgentErrorCode.BadRequest],
    ['bad %-escape in an IPAM release', 'DELETE', '/v1/ipam/%zz?owner=a/b', undefined, 400, AgentErrorCode.BadRequest],
    ['release of a non-address', 'DELETE', '/v1/ipam/not-an-ip?owner=a/b', undefined, 400, AgentErrorCode.BadRequest],
    ['release without owner', 'DELETE', '/v1/ipam/10.77.0.2', undefined, 400, AgentErrorCode.BadRequest],
    ['allocation without owner', 'POST', '/v1/ipam', undefined, 400, AgentErrorCode.BadRequest],
    [
      'allocation of an unserved family',
      'POST',
      '/v1/ipam?family=ipv6&owner=a/b',
      undefined,
      400,
      AgentErrorCode.BadRequest,
    ],
    ['owner with a newline', 'POST', '/v1/ipam?owner=a%0Ab', undefined, 400, AgentErrorCode.BadRequest],
    ['trace without peers', 'POST', '/v1/policy/trace', '{}', 400, AgentErrorCode.BadRequest],
    ['unknown route', 'GET', '/v1/nothing', undefined, 404, AgentErrorCode.NoRoute],
    ['unknown endpoint', 'GET', '/v1/endpoint/cni-attachment-id:x:eth0', undefined, 404, AgentErrorCode.NotFound],
    ['delete of an unknown endpoint', 'DELETE', '/v1/endpoint/12345', undefined, 404, AgentErrorCode.NotFound],
  ];
  it.each(cases)('%s', async (_what, method, path, body, status, code) => {
    const r = await req(method, path, body, body ? { 'content-type': 'application/json' } : {});
    expect(r).toMatchObject({ status, body: { code } });
  });

  it('a body over the cap is 413 (declared or streamed), a body under it is read', async () => {
    const big = Buffer.alloc(5000, 0x20);
    expect(await req('POST', '/v1/policy/trace', big)).toMatchObject({
      status: 413,
      body: { code: AgentErrorCode.TooLarge },
    });
    expect(await req('POST', '/v1/policy/trace', big, { 'transfer-encoding': 'chunked' })).toMatchObject({
      status: 413,
    });
    expect((await req('POST', '/v1/policy/trace', '{}')).status).toBe(400);
  });

  it('an endpoint id that is not its body’s attachment is refused', async () => {
    const r = await req('PUT', '/v1/endpoint/cni-attachment-id:other:eth0', JSON.stringify(changeRequest('10.77.0.2')));
    expect(r).toMatchObject({ status: 400, body: { code: AgentErrorCode.BadRequest } });
  });

  it('an interface name a kernel would not take is refused', async () => {
    const body = changeRequest('10.77.0.2', { 'container-interface-name': 'eth0\nx' });
    const r = await req(
      'PUT',
      `/v1/endpoint/${encodeURIComponent('cni-attachment-id:c1:eth0\nx')}`,
      JSON.stringify(body),
    );
    expect(r).toMatchObject({ status: 400, body: { code: AgentErrorCode.BadRequest } });
  });
});

describe('IPAM ownership', () => {
  it('an endpoint may only use an address allocated to its pod', async () => {
    const mine = await req('POST', '/v1/ipam?family=ipv4&owner=demo/web&container=c1');
    const theirs = await req('POST', '/v1/ipam?family=ipv4&owner=demo/db&container=c2');
    expect(mine.status).toBe(200);
    const myIp = (mine.body.address as { ipv4: string }).ipv4;
    const theirIp = (theirs.body.address as { ipv4: string }).ipv4;
    const id = '/v1/endpoint/cni-attachment-id:c1:eth0';
    // another pod's address, and an address nobody was given
    expect(await req('PUT', id, JSON.stringify(changeRequest(theirIp)))).toMatchObject({
      status: 403,
      body: { code: AgentErrorCode.IpNotOwned },
    });
    expect(await req('PUT', id, JSON.stringify(changeRequest('10.77.0.6')))).toMatchObject({
      status: 403,
      body: { code: AgentErrorCode.IpNotOwned },
    });
    // its own address passes the check (the pod does not exist here: 404 from the pod lookup)
    expect(await req('PUT', id, JSON.stringify(changeRequest(myIp)))).toMatchObject({
      status: 404,
      body: { code: AgentErrorCode.PodNotFound },
    });
    expect(api.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringContaining('endpoint refused: is allocated to demo/db'),
      }),
    );
    await req('DELETE', id);
  });

  it('only the owner frees an address; the router never', async () => {
    const r = await req('POST', '/v1/ipam?owner=demo/mine');
    const ip = (r.body.address as { ipv4: string }).ipv4;
    expect(await req('DELETE', `/v1/ipam/${ip}?owner=demo/thief`)).toMatchObject({
      status: 403,
      body: { code: AgentErrorCode.IpNotOwned },
    });
    expect(api.ipam.owner(ip)).toBe('demo/mine');
    expect(await req('DELETE', `/v1/ipam/${api.ipam.router}?owner=demo/mine`)).toMatchObject({ status: 403 });
    expect((await req('DELETE', `/v1/ipam/${ip}?owner=demo/mine`)).status).toBe(200);
    expect(api.ipam.owner(ip)).toBeUndefined();
    expect(await req('DELETE', `/v1/ipam/${ip}?owner=demo/mine`)).toMatchObject({ status: 404 });
    expect(api.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'API request refused',
        fields: expect.objectContaining({ status: 403, reason: `${ip} is not allocated to demo/thief` }),
      }),
    );
  });

  it('DELETE /ipam?owner&container frees what that container got and never used, nothing else', async () => {
    const a = await req('POST', '/v1/ipam?owner=demo/gone&container=old');
    const b = await req('POST', '/v1/ipam?owner=demo/gone&container=new');
    const [ipA, ipB] = [a, b].map((r) => (r.body.address as { ipv4: string }).ipv4);
    const r = await req('DELETE', '/v1/ipam?owner=demo/gone&container=old');
    expect(r).toMatchObject({ status: 200, body: { released: [ipA] } });
    expect(api.ipam.owner(ipB!)).toBe('demo/gone');
    await req('DELETE', '/v1/ipam?owner=demo/gone');
    expect(api.ipam.owner(ipB!)).toBeUndefined();
  });

  it('an exhausted pod CIDR is 503 AGENT_ERR_IPAM_EXHAUSTED', async () => {
    const got: string[] = [];
    let last;
    for (let i = 0; i < 8; i++) {
      last = await req('POST', `/v1/ipam?owner=demo/fill-${i}`);
      if (last.status !== 200) break;
      got.push((last.body.address as { ipv4: string }).ipv4);
    }
    expect(last).toMatchObject({ status: 503, body: { code: AgentErrorCode.IpamExhausted } });
    for (const [i, ip] of got.entries()) await req('DELETE', `/v1/ipam/${ip}?owner=demo/fill-${i}`);
  });
});
