// Authentication, the TokenRequest API, RBAC enforcement, the review APIs and the 401/403 bodies
// of the devcluster API server, against kubectl 1.32 and raw HTTPS, with the install's own RBAC
// (dist/install.yaml) applied. Each case names the kube-apiserver behaviour it pins.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { KubeClient } from '../../controllers/framework/index.js';
import { ProjectedToken, refreshDelayMs, writeTokenFileKubeconfig } from '../../devcluster/auth-tokens.js';
import type { Devcluster } from '../../devcluster/cluster.js';
import { applyInstallObjects } from '../../devcluster/install-rbac.js';
import { writeKubeconfig } from '../../devcluster/apiserver/kubeconfig.js';
import { Kubectl, startDevcluster } from '../e2e/harness.js';

let cluster: Devcluster;
let kubectl: Kubectl;
let admin: KubeClient;
let agent: Agent;

interface Res {
  status: number;
  json: Record<string, unknown>;
}

function call(
  method: string,
  path: string,
  o: { token?: string; body?: unknown; cert?: { cert: string; key: string } } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
    if (o.token) headers.Authorization = `Bearer ${o.token}`;
    const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
    const a = o.cert ? new Agent({ ca: cluster.tls.caCert, cert: o.cert.cert, key: o.cert.key }) : agent;
    const req = request(`${cluster.url}${path}`, { method, agent: a, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          json = { text };
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function saToken(name: string, body: Record<string, unknown> = {}, namespace = 'kube-system'): Promise<string> {
  const r = await call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    token: adminToken(),
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: body },
  });
  expect(r.status).toBe(201);
  return (r.json.status as { token: string }).token;
}

const adminToken = (): string => (readFileSync(cluster.kubeconfig, 'utf8').match(/token: (\S+)/) ?? [])[1] ?? '';

/** A kubeconfig for `token` next to the admin's. */
function tokenKubeconfig(name: string, token: string): string {
  const path = join(cluster.dir, `${name}.kubeconfig`);
  writeKubeconfig(path, { server: cluster.url, caCert: cluster.tls.caCert, token });
  return path;
}

beforeAll(async () => {
  cluster = await startDevcluster('auth');
  kubectl = new Kubectl(cluster);
  agent = new Agent({ ca: cluster.tls.caCert, keepAlive: false });
  admin = KubeClient.fromFile(cluster.kubeconfig);
  await applyInstallObjects(admin);
}, 60_000);

afterAll(async () => {
  kubectl?.stopAll();
  admin?.close();
  agent?.destroy();
  await cluster?.stop();
});

describe('authentication', () => {
  it('401 without credentials except on the public health and version paths (system:public-info-viewer)', async () => {
    // kubectl prompts for a username when its user has no credential at all, so a wrong token stands in for it
    const r = await kubectl.run(['--kubeconfig', tokenKubeconfig('wrong', 'not-a-token'), 'get', 'pods']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'error: You must be logged in to the server (the server has asked for the client to provide credentials)',
    );
    const anon = await call('GET', '/api/v1/pods');
    expect(anon).toEqual({
      status: 401,
      json: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Unauthorized',
        reason: 'Unauthorized',
        code: 401,
      },
    });
    for (const p of ['/healthz', '/livez', '/readyz', '/version']) expect((await call('GET', p)).status).toBe(200);
    // discovery is system:discovery's, bound to system:authenticated only
    expect((await call('GET', '/apis')).status).toBe(401);
    expect((await call('GET', '/api/v1/pods', { token: 'not-a-token' })).status).toBe(401);
  });

  it('the admin kubeconfig works as before (group system:masters)', async () => {
    expect(await kubectl.ok(['get', 'ns', '-o', 'name'])).toMatch(/namespace\/kube-system/);
    const who = JSON.parse(await kubectl.ok(['auth', 'whoami', '-o', 'json'])) as {
      status: { userInfo: { groups: string[] } };
    };
    expect(who.status.userInfo.groups).toEqual(expect.arrayContaining(['system:masters', 'system:authenticated']));
  });

  it('TokenRequest issues a JWT with the claims kube-apiserver puts in (pkg/serviceaccount/claims.go)', async () => {
    const pod = await admin.create(
      { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'bound', namespace: 'kube-system' },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      },
    );
    const token = await saToken('cilium', {
      audiences: ['https://kubernetes.default.svc.cluster.local', 'extra'],
      expirationSeconds: 700,
      boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'bound', uid: (pod.metadata as { uid?: string }).uid },
    });
    const claims = decodeJwt(token);
    const sa = await admin.get(
      { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
      'cilium',
      'kube-system',
    );
    expect(claims).toMatchObject({
      iss: 'https://kubernetes.default.svc.cluster.local',
      sub: 'system:serviceaccount:kube-system:cilium',
      aud: ['https://kubernetes.default.svc.cluster.local', 'extra'],
      'kubernetes.io': {
        namespace: 'kube-system',
        serviceaccount: { name: 'cilium', uid: (sa.metadata as { uid?: string }).uid },
        pod: { name: 'bound', uid: (pod.metadata as { uid?: string }).uid },
      },
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(700);
    expect(claims.nbf).toBe(claims.iat);
    expect(decodeProtectedHeader(token).kid).toBeTruthy();
    const who = await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { token, body: {} });
    expect((who.json.status as { userInfo: unknown }).userInfo).toMatchObject({
      username: 'system:serviceaccount:kube-system:cilium',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
      extra: { 'authentication.kubernetes.io/pod-name': ['bound'] },
    });
    // a token bound to a Pod stops working once the Pod is gone
    await admin.delete(
      { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
      'bound',
      'kube-system',
      {},
    );
    await admin
      .delete({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true }, 'bound', 'kube-system', {})
      .catch(() => undefined);
    const fresh = await saToken('cilium', { audiences: ['nobody-else'] });
    expect((await call('GET', '/api/v1/nodes', { token: fresh })).status).toBe(401); // wrong audience
  });

  it('refuses lifetimes under 10 minutes (422) and unknown ServiceAccounts (404)', async () => {
    const short = await call('POST', '/api/v1/namespaces/kube-system/serviceaccounts/cilium/token', {
      token: adminToken(),
      body: { spec: { expirationSeconds: 60 } },
    });
    expect(short.status).toBe(422);
    expect(short.json.message).toBe(
      'TokenRequest.authentication.k8s.io "cilium" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
    );
    const missing = await call('POST', '/api/v1/namespaces/kube-system/serviceaccounts/nope/token', {
      token: adminToken(),
      body: {},
    });
    expect(missing.status).toBe(404);
    expect(missing.json.message).toBe('serviceaccounts "nope" not found');
  });

  it('x509 client certificates from the cluster CA: CN is the user, O the groups', async () => {
    const pki = join(cluster.dir, 'pki');
    const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: pki, stdio: 'ignore' });
    run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'jane.key']);
    run(['req', '-new', '-key', 'jane.key', '-subj', '/CN=jane/O=devs/O=ops', '-out', 'jane.csr']);
    writeFileSync(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    run([
      'x509',
      '-req',
      '-in',
      'jane.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'client.ext',
      '-out',
      'jane.crt',
    ]);
    const cert = {
      cert: readFileSync(join(pki, 'jane.crt'), 'utf8'),
      key: readFileSync(join(pki, 'jane.key'), 'utf8'),
    };
    const who = await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { cert, body: {} });
    expect((who.json.status as { userInfo: unknown }).userInfo).toEqual({
      username: 'jane',
      groups: ['devs', 'ops', 'system:authenticated'],
    });
    const denied = await call('GET', '/api/v1/namespaces/default/pods', { cert });
    expect(denied.json.message).toBe(
      'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "default"',
    );
  });
});

describe('etcd', () => {
  it('listens on loopback over TLS and refuses clients without a certificate of its own CA', async () => {
    expect(cluster.etcd.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = (o: { cert?: string; key?: string }): Promise<string> =>
      new Promise((resolve) => {
        const req = request(`${cluster.etcd.endpoint}/health`, { ca: cluster.etcdTls.caCert, ...o }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => (t += d.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${t}`));
        });
        req.on('error', (e) => resolve(`error ${e.message}`));
        req.end();
      });
    expect(await health({ cert: cluster.etcdTls.clientCert, key: cluster.etcdTls.clientKey })).toMatch(
      /^200 .*"health":"true"/,
    );
    expect(await health({})).toMatch(/^error /);
    // a certificate of the cluster CA (what users get) does not open etcd
    const pki = join(cluster.dir, 'pki');
    expect(
      await health({
        cert: readFileSync(join(pki, 'server.crt'), 'utf8'),
        key: readFileSync(join(pki, 'server.key'), 'utf8'),
      }),
    ).toMatch(/^error /);
  });
});

describe('RBAC with the install roles', () => {
  it('kubectl auth can-i as the agent answers as a real server (SelfSubjectAccessReview)', async () => {
    const kc = tokenKubeconfig('agent', await saToken('cilium'));
    const can = async (...args: string[]): Promise<string> => {
      const r = await kubectl.run(['--kubeconfig', kc, 'auth', 'can-i', ...args]);
      return r.stdout.trim();
    };
    expect(await can('get', 'secrets', '-n', 'kube-system')).toBe('no');
    expect(await can('delete', 'ciliumnetworkpolicies.cilium.io')).toBe('no');
    expect(await can('list', 'pods', '-A')).toBe('yes');
    expect(await can('create', 'selfsubjectaccessreviews.authorization.k8s.io')).toBe('yes');
  });

  it("a denied request gets kube-apiserver's 403 Status word for word (responsewriters/errors.go)", async () => {
    const token = await saToken('cilium');
    const r = await call('GET', '/api/v1/namespaces/kube-system/secrets/foo', { token });
    expect(r).toEqual({
      status: 403,
      json: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'secrets "foo" is forbidden: User "system:serviceaccount:kube-system:cilium" cannot get resource "secrets" in API group "" in the namespace "kube-system"',
        reason: 'Forbidden',
        details: { name: 'foo', kind: 'secrets' },
        code: 403,
      },
    });
    const del = await call('DELETE', '/apis/cilium.io/v2/ciliumnetworkpolicies', { token });
    expect(del.json.message).toBe(
      'ciliumnetworkpolicies.cilium.io is forbidden: User "system:serviceaccount:kube-system:cilium" cannot deletecollection resource "ciliumnetworkpolicies" in API group "cilium.io" at the cluster scope',
    );
    const path = await call('GET', '/metrics', { token });
    expect(path.json).toMatchObject({
      message: 'forbidden: User "system:serviceaccount:kube-system:cilium" cannot get path "/metrics"',
      details: {},
    });
    const kr = await kubectl.run([
      '--kubeconfig',
      tokenKubeconfig('agent2', token),
      'get',
      'secrets',
      '-n',
      'kube-system',
    ]);
    expect(kr.stderr).toContain(
      'Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:kube-system:cilium" cannot list resource "secrets" in API group "" in the namespace "kube-system"',
    );
  });

  it('SubjectAccessReview answers for another user, with the allowing binding as the reason', async () => {
    const r = await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      token: adminToken(),
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'system:serviceaccount:kube-system:cilium-operator',
          groups: ['system:serviceaccounts'],
          resourceAttributes: {
            verb: 'get',
            group: 'coordination.k8s.io',
            resource: 'leases',
            namespace: 'kube-system',
            name: 'cilium-operator-resource-lock',
          },
        },
      },
    });
    expect(r.status).toBe(201);
    expect(r.json.status).toEqual({
      allowed: true,
      reason:
        'RBAC: allowed by RoleBinding "cilium-operator/kube-system" of Role "cilium-operator" to ServiceAccount "cilium-operator/kube-system"',
    });
    const agentToken = await saToken('cilium');
    expect(
      (await call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { token: agentToken, body: {} }))
        .status,
    ).toBe(403);
  });
});

describe('projected tokens', () => {
  it.each([
    ["3607 s (a pod's kube-api-access token): at 80 %", 3607_000, 2885_600],
    ["600 s (kube's shortest): at 80 %", 600_000, 480_000],
    ['120 s (a soak): early enough for clients re-reading once a minute', 120_000, 50_000],
    ['48 h: once 24 h old', 48 * 3600_000, 24 * 3600_000],
  ])('a token of %s is refreshed', (_what, lifetimeMs, delayMs) => {
    expect(refreshDelayMs(lifetimeMs)).toBe(delayMs);
  });

  it('ProjectedToken writes the token file and rotates it; the framework client re-reads tokenFile', async () => {
    const path = join(cluster.dir, 'tokens', 'cilium', 'token');
    const t = await ProjectedToken.start({ client: admin, namespace: 'kube-system', serviceAccount: 'cilium', path });
    try {
      const first = readFileSync(path, 'utf8');
      expect(decodeJwt(first).sub).toBe('system:serviceaccount:kube-system:cilium');
      const kc = join(cluster.dir, 'agent-tokenfile.kubeconfig');
      writeTokenFileKubeconfig(kc, { server: cluster.url, caCert: cluster.tls.caCert, tokenFile: path });
      const client = KubeClient.fromFile(kc, { tokenRefreshMs: 0 });
      const nodes = { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false };
      await client.list(nodes);
      // the file now holds garbage: the next request reads it and is refused, the rotation heals it
      writeFileSync(path, 'garbage');
      await expect(client.list(nodes)).rejects.toMatchObject({ status: 401 });
      await t.refresh();
      expect(readFileSync(path, 'utf8')).not.toBe(first);
      await client.list(nodes);
      expect(t.rotations).toBe(2);
      client.close();
      // kubectl (client-go) reads tokenFile too
      expect((await kubectl.run(['--kubeconfig', kc, 'get', 'nodes'])).code).toBe(0);
    } finally {
      t.stop();
    }
  });
});
