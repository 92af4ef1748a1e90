// The API server's non-resource endpoints and protocol details: version, health, bearer token,
// legacy and aggregated discovery, OpenAPI v3, error bodies, Table output for built-ins,
// deletecollection, propagation policies and CRD name conflicts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request, Agent } from 'node:https';
import type { Devcluster } from '../../devcluster/cluster.js';
import { eventually, startDevcluster } from '../e2e/harness.js';

let cluster: Devcluster;
let agent: Agent;
const TOKEN = 'sekret';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

function call(
  method: string,
  path: string,
  o: { body?: unknown; ct?: string; accept?: string; token?: string | null } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      Accept: o.accept ?? 'application/json',
      'Content-Type': o.ct ?? 'application/json',
    };
    if (o.token !== null) headers.Authorization = `Bearer ${o.token ?? TOKEN}`;
    const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    // Node sends DELETE bodies without framing unless told the length.
    if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
    const req = request(`${cluster.url}${path}`, { method, agent, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          /* text bodies */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const crd = (plural: string, kind: string, shortNames: string[] = []): unknown => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${plural}.example.io` },
  spec: {
    group: 'example.io',
    scope: 'Namespaced',
    names: { plural, kind, shortNames },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { size: { type: 'integer', default: 1 } } } },
          },
        },
      },
    ],
  },
});

/** Opens a watch and collects its events until `until` is satisfied (or 20 s pass). */
function watchRaw(
  path: string,
  until: (events: { type: string; object: Record<string, unknown> }[]) => boolean,
): Promise<{ type: string; object: Record<string, unknown> }[]> {
  return new Promise((resolve, reject) => {
    const events: { type: string; object: Record<string, unknown> }[] = [];
    const req = request(`${cluster.url}${path}`, { agent, headers: { Authorization: `Bearer ${TOKEN}` } }, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)) as { type: string; object: Record<string, unknown> });
          buf = buf.slice(nl + 1);
        }
        if (until(events)) {
          clearTimeout(t);
          req.destroy();
          resolve(events);
        }
      });
      res.on('end', () => resolve(events));
    });
    const t = setTimeout(() => {
      req.destroy();
      resolve(events);
    }, 20_000);
    req.on('error', (e) => (events.length ? resolve(events) : reject(e)));
    req.end();
  });
}

beforeAll(async () => {
  cluster = await startDevcluster('server', { token: TOKEN });
  agent = new Agent({ ca: cluster.tls.caCert, keepAlive: false });
}, 60_000);

afterAll(async () => {
  agent?.destroy();
  await cluster?.stop();
});

describe('devcluster API server', () => {
  it('answers /version with v1.32 and health endpoints without a token; resources need the token', async () => {
    const v = await call('GET', '/version', { token: null });
    expect(v.json).toMatchObject({ major: '1', minor: '32', gitVersion: expect.stringMatching(/^v1\.32\./) });
    for (const p of ['/healthz', '/livez', '/readyz']) expect((await call('GET', p, { token: null })).text).toBe('ok');
    const denied = await call('GET', '/api/v1/namespaces', { token: null });
    expect(denied.status).toBe(401);
    expect(denied.json).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect((await call('GET', '/api/v1/namespaces', { token: 'wrong' })).status).toBe(401);
    expect((await call('GET', '/api/v1/namespaces')).status).toBe(200);
  });

  it('counts requests at /metrics: apiserver_request_total by verb, resource, scope and code, and by user', async () => {
    const metrics = async () => {
      const r = await call('GET', '/metrics', { accept: 'text/plain' });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      return r.text;
    };
    /** The value of the series whose labels include all of `want` (0 when there is none). */
    const value = (text: string, name: string, want: Record<string, string>) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && Object.entries(want).every(([k, v]) => l.includes(`${k}="${v}"`)))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const ns = `metrics-${Date.now().toString(36)}`;
    const before = await metrics();
    const list = { verb: 'LIST', resource: 'namespaces', scope: 'cluster', code: '200' };
    const created = { verb: 'POST', resource: 'namespaces', scope: 'cluster', code: '201' };
    const missing = { verb: 'GET', resource: 'namespaces', scope: 'resource', code: '404' };
    expect((await call('GET', '/api/v1/namespaces')).status).toBe(200);
    expect((await call('POST', '/api/v1/namespaces', { body: { metadata: { name: ns } } })).status).toBe(201);
    expect((await call('GET', `/api/v1/namespaces/${ns}-not-there`)).status).toBe(404);
    expect((await call('GET', '/api/v1/namespaces', { token: null })).status).toBe(401);
    const after = await metrics();
    expect(after).toContain('# TYPE apiserver_request_total counter');
    for (const [series, n] of [
      [list, 1],
      [created, 1],
      [missing, 1],
    ] as const)
      expect(value(after, 'apiserver_request_total', series) - value(before, 'apiserver_request_total', series)).toBe(
        n,
      );
    expect(after).toMatch(
      /apiserver_request_total\{verb="POST",dry_run="",group="",version="v1",resource="namespaces",subresource="",scope="cluster",component="apiserver",code="201"\} \d+/,
    );
    // The unauthenticated one counts too, with no resource (nothing was understood of it).
    const u401 = { resource: '', code: '401' };
    expect(value(after, 'apiserver_request_total', u401) - value(before, 'apiserver_request_total', u401)).toBe(1);
    // Who asked: the token's user, every request of it (the /metrics reads included).
    const byUser = (text: string) =>
      value(text, 'devcluster_apiserver_user_requests_total', { verb: 'POST', code: '201' });
    expect(byUser(after) - byUser(before)).toBe(1);
    expect(after).toMatch(/devcluster_apiserver_user_requests_total\{user="[^"]+",verb="POST",code="201"\} \d+/);
  });

  it('serves legacy and aggregated discovery, and the CRD groups appear once established', async () => {
    const legacy = await call('GET', '/apis');
    expect(legacy.json.kind).toBe('APIGroupList');
    const agg = await call('GET', '/apis', {
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(agg.headers['content-type']).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(agg.json.kind).toBe('APIGroupDiscoveryList');
    const core = await call('GET', '/api', {
      accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList',
    });
    const coreRes = (
      (core.json.items as { versions: { resources: { resource: string; scope: string }[] }[] }[])[0]?.versions[0]
        ?.resources ?? []
    ).map((r) => `${r.resource}/${r.scope}`);
    expect(coreRes).toEqual(
      expect.arrayContaining(['pods/Namespaced', 'namespaces/Cluster', 'nodes/Cluster', 'configmaps/Namespaced']),
    );
    expect(
      (
        await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
          body: crd('widgets', 'Widget', ['wd']),
        })
      ).status,
    ).toBe(201);
    await eventually(
      async () => (await call('GET', '/apis/example.io/v1')).status === 200,
      20_000,
      'example.io/v1 served',
    );
    const list = (await call('GET', '/apis/example.io/v1')).json as {
      resources: { name: string; shortNames?: string[] }[];
    };
    expect(list.resources.map((r) => r.name)).toEqual(['widgets']);
    expect(list.resources[0]?.shortNames).toEqual(['wd']);
    const openapi = (await call('GET', '/openapi/v3')).json as { paths: Record<string, { serverRelativeURL: string }> };
    const url = openapi.paths['apis/example.io/v1']?.serverRelativeURL ?? '';
    expect(url).toMatch(/^\/openapi\/v3\/apis\/example\.io\/v1\?hash=[0-9A-F]+$/);
    const doc = (await call('GET', url)).json as {
      components: { schemas: Record<string, { 'x-kubernetes-group-version-kind': unknown }> };
    };
    expect(doc.components.schemas['io.example.v1.Widget']?.['x-kubernetes-group-version-kind']).toEqual([
      { group: 'example.io', version: 'v1', kind: 'Widget' },
    ]);
  });

  it('refuses a CRD whose names clash (NamesAccepted=False) and a CRD without a schema (422)', async () => {
    const clash = { ...(crd('gadgets', 'Gadget', ['wd']) as object) };
    expect(
      (await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: clash })).status,
    ).toBe(201);
    await eventually(
      async () => {
        const c = (await call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.io'))
          .json as { status?: { conditions?: { type: string; status: string }[] } };
        return (c.status?.conditions ?? []).some((x) => x.type === 'NamesAccepted' && x.status === 'False');
      },
      20_000,
      'NamesAccepted=False',
    );
    expect((await call('GET', '/apis/example.io/v1/namespaces/default/gadgets')).status).toBe(404);
    // The first CRD keeps its names when it is reconciled again (here: after a label change).
    await call('PATCH', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io', {
      body: { metadata: { labels: { touched: 'yes' } } },
      ct: 'application/merge-patch+json',
    });
    await cluster.apiserver.crds.idle();
    const widgets = (await call('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.io'))
      .json as { status: { conditions: { type: string; status: string }[] } };
    expect(widgets.status.conditions.map((c) => `${c.type}=${c.status}`)).toEqual([
      'NamesAccepted=True',
      'Established=True',
    ]);
    expect((await call('GET', '/apis/example.io/v1/namespaces/default/widgets')).status).toBe(200);
    const noSchema = crd('things', 'Thing') as { spec: { versions: { schema?: unknown }[] } };
    delete noSchema.spec.versions[0]?.schema;
    const r = await call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: noSchema });
    expect(r.status).toBe(422);
    expect((r.json.details as { causes: { field: string }[] }).causes.map((c) => c.field)).toContain(
      'spec.versions[0].schema.openAPIV3Schema',
    );
  });

  it('defaults custom resources, and returns kube-shaped errors', async () => {
    const base = '/apis/example.io/v1/namespaces/default/widgets';
    const w = await call('POST', base, {
      body: { apiVersion: 'example.io/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: {} },
    });
    expect(w.status).toBe(201);
    expect(w.json.spec).toEqual({ size: 1 });
    const missing = await call('GET', `${base}/nope`);
    expect(missing.json).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'widgets.example.io "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', group: 'example.io', kind: 'widgets' },
      code: 404,
    });
    const badNs = await call('POST', '/apis/example.io/v1/namespaces/absent/widgets', {
      body: { metadata: { name: 'x' } },
    });
    expect(badNs.json).toMatchObject({ reason: 'NotFound', message: 'namespaces "absent" not found', code: 404 });
    const badName = await call('POST', base, { body: { metadata: { name: 'Bad_Name' } } });
    expect(badName.status).toBe(422);
    expect(badName.json.message).toMatch(
      /^Widget\.example\.io "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    const noRv = await call('PUT', `${base}/w1`, { body: { metadata: { name: 'w1' }, spec: {} } });
    expect(noRv.status).toBe(422);
    expect(noRv.json.message).toContain(
      'metadata.resourceVersion: Invalid value: 0x0: must be specified for an update',
    );
    // Built-ins take unconditional updates (no resourceVersion), as helm's release Secrets need.
    expect(
      (
        await call('POST', '/api/v1/namespaces/default/secrets', {
          body: { metadata: { name: 'rel' }, data: { a: 'YQ==' } },
        })
      ).status,
    ).toBe(201);
    const put = await call('PUT', '/api/v1/namespaces/default/secrets/rel', {
      body: { metadata: { name: 'rel', labels: { status: 'deployed' } }, data: { a: 'Yg==' } },
    });
    expect(put.status).toBe(200);
    expect((put.json.metadata as { labels: Record<string, string> }).labels).toEqual({ status: 'deployed' });
    const smp = await call('PATCH', `${base}/w1`, { body: {}, ct: 'application/strategic-merge-patch+json' });
    expect(smp.status).toBe(415);
    expect((await call('DELETE', '/api/v1/namespaces/default')).status).toBe(403);
  });

  it('prints Tables for built-ins and deletes collections by selector', async () => {
    for (const [name, node] of [
      ['p1', 'n1'],
      ['p2', 'n2'],
      ['p3', 'n1'],
    ]) {
      const r = await call('POST', '/api/v1/namespaces/default/pods', {
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, labels: { app: 'x' } },
          spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] },
          status: { phase: 'Running', podIP: '10.0.0.1' },
        },
      });
      expect(r.status).toBe(201);
    }
    const t = await call('GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn1', {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    expect(t.json.kind).toBe('Table');
    expect((t.json.rows as { cells: unknown[] }[]).map((r) => r.cells[0])).toEqual(['p1', 'p3']);
    expect((t.json.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual([
      'Name',
      'Ready',
      'Status',
      'Restarts',
      'Age',
      'IP',
      'Node',
    ]);
    expect((t.json.rows as { cells: unknown[] }[])[0]?.cells.slice(0, 4)).toEqual(['p1', '0/1', 'Running', 0]);
    // A scheduler binds an unplaced pod once; a second binding is a conflict.
    await call('POST', '/api/v1/namespaces/default/pods', {
      body: { metadata: { name: 'unbound' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    const bind = await call('POST', '/api/v1/namespaces/default/pods/unbound/binding', {
      body: {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: 'unbound' },
        target: { apiVersion: 'v1', kind: 'Node', name: 'n2' },
      },
    });
    expect(bind.json).toMatchObject({ kind: 'Status', status: 'Success' });
    expect(
      ((await call('GET', '/api/v1/namespaces/default/pods/unbound')).json.spec as { nodeName: string }).nodeName,
    ).toBe('n2');
    expect(
      (await call('POST', '/api/v1/namespaces/default/pods/unbound/binding', { body: { target: { name: 'n1' } } }))
        .status,
    ).toBe(409);
    await call('DELETE', '/api/v1/namespaces/default/pods/unbound');
    await call('POST', '/api/v1/namespaces/default/events', {
      body: {
        metadata: { name: 'p1.1' },
        involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' },
        reason: 'Scheduled',
        message: 'assigned',
        type: 'Normal',
        lastTimestamp: new Date(Date.now() - 30 * 60_000).toISOString(),
      },
    });
    const ev = await call('GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dp1', {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    expect((ev.json.columnDefinitions as { name: string }[]).map((c) => c.name)).toEqual([
      'Name',
      'Last Seen',
      'Type',
      'Reason',
      'Object',
      'Message',
    ]);
    expect((ev.json.rows as { cells: unknown[] }[])[0]?.cells).toEqual([
      'p1.1',
      '30m',
      'Normal',
      'Scheduled',
      'pod/p1',
      'assigned',
    ]);
    const del = await call(
      'DELETE',
      '/api/v1/namespaces/default/pods?labelSelector=app%3Dx&fieldSelector=spec.nodeName%3Dn1',
    );
    expect((del.json.items as unknown[]).length).toBe(2);
    const left = (await call('GET', '/api/v1/namespaces/default/pods')).json.items as { metadata: { name: string } }[];
    expect(left.map((p) => p.metadata.name)).toEqual(['p2']);
  });

  it('defaults Services and allocates ClusterIPs; default/kubernetes holds 10.96.0.1', async () => {
    const k8s = (await call('GET', '/api/v1/namespaces/default/services/kubernetes')).json as {
      spec: { clusterIP: string; ports: { port: number; targetPort: number }[] };
    };
    expect(k8s.spec.clusterIP).toBe('10.96.0.1');
    expect(k8s.spec.ports).toEqual([{ name: 'https', port: 443, protocol: 'TCP', targetPort: cluster.apiserver.port }]);
    const mk = (name: string, spec: Record<string, unknown>): Promise<Res> =>
      call('POST', '/api/v1/namespaces/default/services', {
        body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec },
      });
    const a = (await mk('svc-a', { ports: [{ port: 80 }] })).json as {
      spec: {
        type: string;
        clusterIP: string;
        clusterIPs: string[];
        ports: { protocol: string; targetPort: number }[];
      };
    };
    expect(a.spec).toMatchObject({
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    expect(
      ((await mk('svc-b', { ports: [{ port: 53, protocol: 'UDP' }] })).json.spec as { clusterIP: string }).clusterIP,
    ).toBe('10.96.0.11');
    expect(((await mk('headless', { clusterIP: 'None' })).json.spec as { clusterIP: string }).clusterIP).toBe('None');
    const taken = await mk('svc-c', { clusterIP: '10.96.0.10' });
    expect(taken.status).toBe(422);
    expect(taken.json.message).toContain('provided IP is already allocated');
    const fixed = await mk('svc-d', { clusterIP: '10.96.5.5' });
    expect((fixed.json.spec as { clusterIP: string }).clusterIP).toBe('10.96.5.5');
  });

  it('allocates node ports from 30000-32767 to NodePort Services, lowest free first, and refuses taken or out-of-range ones', async () => {
    const mk = (name: string, spec: Record<string, unknown>): Promise<Res> =>
      call('POST', '/api/v1/namespaces/default/services', {
        body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec },
      });
    const ports = (r: Res) => (r.json.spec as { ports: { nodePort?: number }[] }).ports.map((p) => p.nodePort);
    const fixed = await mk('np-fixed', { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] });
    expect(ports(fixed)).toEqual([30001]);
    const two = await mk('np-two', { type: 'NodePort', ports: [{ port: 80 }, { port: 53, protocol: 'UDP' }] });
    expect(ports(two)).toEqual([30000, 30002]);
    expect(ports(await mk('np-cluster', { ports: [{ port: 80 }] }))).toEqual([undefined]);
    const taken = await mk('np-taken', { type: 'NodePort', ports: [{ port: 80, nodePort: 30002 }] });
    expect(taken.status).toBe(422);
    expect(taken.json.message).toContain('provided port is already allocated');
    const out = await mk('np-out', { type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] });
    expect(out.status).toBe(422);
    expect(out.json.message).toContain('The range of valid ports is 30000-32767');
  });

  it('turns label changes into ADDED/DELETED on a selector watch, and sends the initial-events-end bookmark', async () => {
    const cms = '/api/v1/namespaces/default/configmaps';
    const start = ((await call('GET', cms)).json.metadata as { resourceVersion: string }).resourceVersion;
    const w = watchRaw(`${cms}?watch=1&labelSelector=team%3Dblue&resourceVersion=${start}`, (ev) => ev.length >= 3);
    await new Promise((r) => setTimeout(r, 100));
    await call('POST', cms, { body: { metadata: { name: 'sel', labels: { team: 'red' } } } });
    await call('PATCH', `${cms}/sel`, {
      body: { metadata: { labels: { team: 'blue' } } },
      ct: 'application/merge-patch+json',
    });
    await call('PATCH', `${cms}/sel`, { body: { data: { a: '1' } }, ct: 'application/merge-patch+json' });
    await call('PATCH', `${cms}/sel`, {
      body: { metadata: { labels: { team: 'green' } } },
      ct: 'application/merge-patch+json',
    });
    expect((await w).map((e) => `${e.type} ${(e.object.metadata as { name: string }).name}`)).toEqual([
      'ADDED sel',
      'MODIFIED sel',
      'DELETED sel',
    ]);

    const initial = await watchRaw(
      `${cms}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dsel`,
      (ev) => ev.some((e) => e.type === 'BOOKMARK'),
    );
    expect(initial.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
    expect((initial[1]?.object.metadata as { annotations: Record<string, string> }).annotations).toEqual({
      'k8s.io/initial-events-end': 'true',
    });
    expect((await call('GET', `${cms}?watch=1&sendInitialEvents=true`)).status).toBe(422);
  });

  it('replays from its history what a live watch saw: selector transitions, deletions, the same objects', async () => {
    const cms = '/api/v1/namespaces/default/configmaps';
    const start = ((await call('GET', cms)).json.metadata as { resourceVersion: string }).resourceVersion;
    const watchFrom = (rv: string, n: number) =>
      watchRaw(`${cms}?watch=1&labelSelector=team%3Dblue&resourceVersion=${rv}`, (ev) => ev.length >= n);
    const live = watchFrom(start, 4);
    await new Promise((r) => setTimeout(r, 100));
    const patch = (body: unknown) => call('PATCH', `${cms}/replay`, { body, ct: 'application/merge-patch+json' });
    await call('POST', cms, { body: { metadata: { name: 'replay', labels: { team: 'blue' } }, data: { a: '1' } } });
    await patch({ data: { a: '2' } });
    await patch({ metadata: { labels: { team: 'red' } } });
    await patch({ metadata: { labels: { team: 'blue' } }, data: { a: '3' } });
    await call('DELETE', `${cms}/replay`);
    const seen = await live;
    const replayed = await watchFrom(start, 5);
    const shown = (evs: { type: string; object: Record<string, unknown> }[]) =>
      evs.map((e) => {
        const m = e.object.metadata as { name: string; resourceVersion: string; labels: Record<string, string> };
        return `${e.type} ${m.name} ${m.labels.team} a=${(e.object.data as { a: string }).a} rv=${m.resourceVersion}`;
      });
    expect(shown(replayed).map((s) => s.replace(/ rv=\d+$/, ''))).toEqual([
      'ADDED replay blue a=1',
      'MODIFIED replay blue a=2',
      'DELETED replay red a=2',
      'ADDED replay blue a=3',
      'DELETED replay blue a=3',
    ]);
    // The live watch was cut after four events; the replay shows the same four, resourceVersions too.
    expect(shown(replayed).slice(0, 4)).toEqual(shown(seen).slice(0, 4));
  });

  it('lists at an exact older revision, and a watch from a future revision ends with a 504 Timeout', async () => {
    const cms = '/api/v1/namespaces/default/configmaps';
    const created = await call('POST', cms, { body: { metadata: { name: 'exact' }, data: { v: '1' } } });
    const rv = (created.json.metadata as { resourceVersion: string }).resourceVersion;
    await call('PATCH', `${cms}/exact`, { body: { data: { v: '2' } }, ct: 'application/merge-patch+json' });
    const then = await call(
      'GET',
      `${cms}?fieldSelector=metadata.name%3Dexact&resourceVersion=${rv}&resourceVersionMatch=Exact`,
    );
    expect((then.json.items as { data: { v: string } }[])[0]?.data.v).toBe('1');
    expect((then.json.metadata as { resourceVersion: string }).resourceVersion).toBe(rv);
    expect((await call('GET', `${cms}?resourceVersionMatch=Exact`)).status).toBe(400);
    const future = await watchRaw(`${cms}?watch=1&resourceVersion=${Number(rv) + 100000}`, (ev) => ev.length > 0);
    expect(future[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 504, reason: 'Timeout' } });
  });

  it('expires a continue token once its revision is compacted away', async () => {
    for (const n of ['pg-1', 'pg-2', 'pg-3'])
      await call('POST', '/api/v1/namespaces/default/configmaps', {
        body: { metadata: { name: n, labels: { pg: 'y' } } },
      });
    const first = await call('GET', '/api/v1/namespaces/default/configmaps?labelSelector=pg%3Dy&limit=2');
    const token = (first.json.metadata as { continue: string }).continue;
    expect((first.json.items as unknown[]).length).toBe(2);
    const second = await call(
      'GET',
      `/api/v1/namespaces/default/configmaps?labelSelector=pg%3Dy&limit=2&continue=${encodeURIComponent(token)}`,
    );
    expect((second.json.items as { metadata: { name: string } }[]).map((i) => i.metadata.name)).toEqual(['pg-3']);
    await call('POST', '/api/v1/namespaces/default/configmaps', { body: { metadata: { name: 'pg-4' } } });
    await cluster.apiserver.compact();
    const gone = await call(
      'GET',
      `/api/v1/namespaces/default/configmaps?labelSelector=pg%3Dy&limit=2&continue=${encodeURIComponent(token)}`,
    );
    expect(gone.status).toBe(410);
    expect(gone.json).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
  });

  it('refuses new objects in a terminating namespace (403) while finalizers hold it', async () => {
    await call('POST', '/api/v1/namespaces', { body: { metadata: { name: 'ending' } } });
    await call('POST', '/api/v1/namespaces/ending/configmaps', {
      body: { metadata: { name: 'held', finalizers: ['example.io/hold'] } },
    });
    expect((await call('DELETE', '/api/v1/namespaces/ending')).status).toBe(202);
    await eventually(
      async () =>
        (
          (await call('GET', '/api/v1/namespaces/ending/configmaps/held')).json.metadata as
            { deletionTimestamp?: string } | undefined
        )?.deletionTimestamp !== undefined,
      20_000,
      'held configmap deleting',
    );
    const refused = await call('POST', '/api/v1/namespaces/ending/configmaps', {
      body: { metadata: { name: 'late' } },
    });
    expect(refused.status).toBe(403);
    expect(refused.json.message).toBe(
      'configmaps "late" is forbidden: unable to create new content in namespace ending because it is being terminated',
    );
    expect(((await call('GET', '/api/v1/namespaces/ending')).json.status as { phase: string }).phase).toBe(
      'Terminating',
    );
    await call('PATCH', '/api/v1/namespaces/ending/configmaps/held', {
      body: { metadata: { finalizers: null } },
      ct: 'application/merge-patch+json',
    });
    await eventually(
      async () => (await call('GET', '/api/v1/namespaces/ending')).status === 404,
      20_000,
      'namespace gone',
    );
  });

  it('honours Foreground and Orphan propagation for ownerReferences', async () => {
    const mk = async (name: string, owner?: { name: string; uid: string }): Promise<string> => {
      const r = await call('POST', '/api/v1/namespaces/default/configmaps', {
        body: {
          metadata: {
            name,
            ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', ...owner }] } : {}),
          },
        },
      });
      return (r.json.metadata as { uid: string }).uid;
    };
    const fg = await mk('fg-owner');
    await mk('fg-child', { name: 'fg-owner', uid: fg });
    const d = await call('DELETE', '/api/v1/namespaces/default/configmaps/fg-owner', {
      body: { propagationPolicy: 'Foreground' },
    });
    expect(d.status).toBe(202);
    expect((d.json.metadata as { finalizers: string[] }).finalizers).toContain('foregroundDeletion');
    await eventually(
      async () => (await call('GET', '/api/v1/namespaces/default/configmaps/fg-owner')).status === 404,
      20_000,
      'foreground owner gone',
    );
    expect((await call('GET', '/api/v1/namespaces/default/configmaps/fg-child')).status).toBe(404);

    const or = await mk('or-owner');
    await mk('or-child', { name: 'or-owner', uid: or });
    await call('DELETE', '/api/v1/namespaces/default/configmaps/or-owner?propagationPolicy=Orphan');
    await eventually(
      async () => (await call('GET', '/api/v1/namespaces/default/configmaps/or-owner')).status === 404,
      20_000,
      'orphaning owner gone',
    );
    const child = await call('GET', '/api/v1/namespaces/default/configmaps/or-child');
    expect(child.status).toBe(200);
    expect((child.json.metadata as { ownerReferences?: unknown }).ownerReferences).toBeUndefined();
  });
});
