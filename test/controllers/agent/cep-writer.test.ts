// The CiliumEndpoint writer: a status is written once and again only when it changed, and a
// restarted agent does not rewrite the statuses the API already shows (at 1,000 endpoints that
// was 2,000 requests right after every restart, under the rounds of the propagation benchmark).
import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { CepWriter } from '../../../controllers/agent/cep-writer.js';
import type { Endpoint } from '../../../controllers/agent/endpoint-state.js';
import { Store, type KubeClient } from '../../../controllers/framework/index.js';
import { cepStoreOptions, type CepObject } from '../../../controllers/agent/resources.js';

const endpoint: Endpoint = {
  id: 7,
  attachmentId: 'a-7',
  containerId: 'c-7',
  containerIfName: 'eth0',
  hostIfName: 'lxc7',
  ifindex: 17,
  mac: '02:00:00:00:00:07',
  hostMac: '02:00:00:00:00:70',
  ipv4: '10.0.0.7',
  podName: 'web-7',
  namespace: 'shop',
  podUid: 'p-7',
  identity: 70001,
  identityLabels: ['k8s:app=web'],
  state: 'ready',
};

/** Records the requests; a patch's status is what the API would then hold. */
function recordingClient() {
  const calls: string[] = [];
  const held = new Map<string, unknown>();
  const client = {
    create: async (_r: unknown, o: { metadata: { namespace: string; name: string } }) => {
      calls.push(`create ${o.metadata.namespace}/${o.metadata.name}`);
      return o;
    },
    patch: async (_r: unknown, name: string, ns: string, body: { status: unknown }) => {
      calls.push(`patch ${ns}/${name}`);
      held.set(`${ns}/${name}`, body.status);
      return body;
    },
  } as unknown as KubeClient;
  return { client, calls, held };
}

function writer(client: KubeClient, cache?: Store<CepObject>, enforcing: () => boolean = () => false) {
  return new CepWriter({
    client,
    hub: { enforcing },
    log: pino({ level: 'silent' }),
    nodeName: 'node-1',
    nodeIp: () => '192.168.0.2',
    isLive: () => true,
    ...(cache ? { cached: (key: string) => cache.get(key) } : {}),
  });
}

/** The informer's copy of what the API holds after the first agent's writes, keys in another order. */
function cacheHolding(status: unknown, node = 'node-1'): Store<CepObject> {
  const cache = new Store<CepObject>(cepStoreOptions('node-1'));
  const reversed = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .reverse()
            .map(([k, x]) => [k, reversed(x)]),
        )
      : v;
  cache.apply({
    type: 'Apply',
    object: {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: { name: 'web-7', namespace: 'shop', labels: { 'cilium.io/node': node } },
      status: reversed(status) as CepObject['status'],
    },
  });
  return cache;
}

describe('CepWriter', () => {
  it('writes a status once, and again only when it changed', async () => {
    const { client, calls } = recordingClient();
    const w = writer(client);
    await w.write(endpoint);
    await w.write(endpoint);
    expect(calls).toEqual(['create shop/web-7', 'patch shop/web-7']);
    await w.write({ ...endpoint, state: 'regenerating' });
    expect(calls).toEqual(['create shop/web-7', 'patch shop/web-7', 'create shop/web-7', 'patch shop/web-7']);
  });

  it('a restarted agent writes nothing when the cached CEP already shows the status', async () => {
    const first = recordingClient();
    await writer(first.client).write(endpoint);
    const second = recordingClient();
    const restarted = writer(second.client, cacheHolding(first.held.get('shop/web-7')));
    await restarted.write(endpoint);
    expect(second.calls).toEqual([]);
    // …and still writes a later change
    await restarted.write({ ...endpoint, state: 'regenerating' });
    expect(second.calls).toEqual(['create shop/web-7', 'patch shop/web-7']);
  });

  it('a restarted agent writes a status that changed while it was down', async () => {
    const first = recordingClient();
    await writer(first.client).write(endpoint);
    const second = recordingClient();
    // the endpoint is now enforcing: the cached status is stale
    await writer(second.client, cacheHolding(first.held.get('shop/web-7')), () => true).write(endpoint);
    expect(second.calls).toEqual(['create shop/web-7', 'patch shop/web-7']);
  });

  it("a CEP labelled with another node's name is written, whatever its status", async () => {
    const first = recordingClient();
    await writer(first.client).write(endpoint);
    const second = recordingClient();
    await writer(second.client, cacheHolding(first.held.get('shop/web-7'), 'node-2')).write(endpoint);
    expect(second.calls).toEqual(['create shop/web-7', 'patch shop/web-7']);
  });

  it('a refresh after a policy change writes only the endpoints whose enforcement changed', async () => {
    const { client, calls } = recordingClient();
    let enforcing = false;
    const w = writer(client, undefined, () => enforcing);
    await w.write(endpoint);
    calls.length = 0;
    await w.refresh(endpoint);
    expect(calls).toEqual([]);
    enforcing = true;
    await w.refresh(endpoint);
    expect(calls).toEqual(['create shop/web-7', 'patch shop/web-7']);
    await w.refresh(endpoint);
    expect(calls).toHaveLength(2);
    // a refresh of an endpoint never written writes it
    await w.refresh({ ...endpoint, id: 8, podName: 'web-8' });
    expect(calls).toEqual(['create shop/web-7', 'patch shop/web-7', 'create shop/web-8', 'patch shop/web-8']);
  });
});
