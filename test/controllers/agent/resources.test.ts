// The agent's store transforms: a CiliumEndpoint, CiliumIdentity or CiliumNode keeps exactly what
// the agent reads (ipcache, named ports, Hubble lookups, identity allocation, node routes) and
// loses the rest, so the caches cost little per remote pod.
import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from '../../../controllers/agent/canonical-json.js';
import { cepPrefixes, nodePrefixes } from '../../../controllers/agent/ipcache.js';
import { cepNamedPorts } from '../../../controllers/agent/named-ports.js';
import { trimCep, trimCiliumNode, trimIdentity } from '../../../controllers/agent/resources.js';

const managedFields = [{ manager: 'cilium-agent', operation: 'Update', fieldsV1: { 'f:status': {} } }];

const cep = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumEndpoint',
  metadata: {
    name: 'web-1',
    namespace: 'shop',
    uid: 'u-1',
    resourceVersion: '42',
    creationTimestamp: '2026-12-04T00:00:00Z',
    labels: { app: 'web' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'web-1', uid: 'p-1' }],
    managedFields,
  },
  status: {
    id: 1234,
    identity: { id: 70001, labels: ['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=shop'] },
    networking: { addressing: [{ ipv4: '10.1.2.3' }, { ipv6: 'fd00::3' }], node: '192.168.0.2' },
    'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
    state: 'ready',
    encryption: {},
    policy: { ingress: { enforcing: true }, egress: { enforcing: false } },
  },
};

describe('store transforms', () => {
  it('a CiliumEndpoint keeps its key, version, age, identity id, IPv4 addresses and named ports', () => {
    const t = trimCep(cep as never);
    expect(t).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumEndpoint',
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        resourceVersion: '42',
        creationTimestamp: '2026-12-04T00:00:00Z',
      },
      status: {
        identity: { id: 70001 },
        networking: { addressing: [{ ipv4: '10.1.2.3' }] },
        'named-ports': [{ name: 'http', port: 8080, protocol: 'TCP' }],
      },
    });
    // what the readers derive is the same from the trimmed object
    expect(cepPrefixes(t)).toEqual(cepPrefixes(cep as never));
    expect(cepNamedPorts(t)).toEqual(cepNamedPorts(cep as never));
    expect(JSON.stringify(t).length).toBeLessThan(JSON.stringify(cep).length / 2);
  });

  it("this node's CiliumEndpoint keeps its whole status as canonical JSON, another node's does not", () => {
    const labelled = (node: string) => ({ ...cep, metadata: { ...cep.metadata, labels: { 'cilium.io/node': node } } });
    const mine = trimCep(labelled('node-1') as never, 'node-1');
    expect(mine.localStatus).toBe(canonicalJson(cep.status));
    // the key order of the API's copy does not matter
    const reordered = Object.fromEntries(Object.entries(cep.status).reverse());
    expect(canonicalJson(reordered)).toBe(mine.localStatus);
    expect(trimCep(labelled('node-2') as never, 'node-1').localStatus).toBeUndefined();
    expect(trimCep(cep as never, 'node-1').localStatus).toBeUndefined();
    expect(trimCep(labelled('node-1') as never).localStatus).toBeUndefined();
  });

  it('a CiliumEndpoint without status or identity stays without', () => {
    const bare = { apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint', metadata: { name: 'x', namespace: 'y' } };
    expect(trimCep(bare)).toEqual(bare);
    expect(cepPrefixes(trimCep({ ...bare, status: { networking: { addressing: [{ ipv4: '10.0.0.1' }] } } }))).toEqual(
      [],
    );
  });

  it('a CiliumIdentity keeps its id and security labels, not the duplicate metadata labels', () => {
    const id = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: '70001', resourceVersion: '7', labels: { app: 'web' }, managedFields },
      'security-labels': { 'k8s:app': 'web' },
    };
    expect(trimIdentity(id)).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumIdentity',
      metadata: { name: '70001', resourceVersion: '7' },
      'security-labels': { 'k8s:app': 'web' },
    });
  });

  it('a CiliumNode keeps metadata and spec, drops status and managedFields', () => {
    const node = {
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'node-2', labels: { zone: 'a' }, managedFields },
      spec: { addresses: [{ type: 'InternalIP', ip: '192.168.0.2' }], ipam: { podCIDRs: ['10.2.0.0/24'] } },
      status: { ipam: { used: { '10.2.0.5': { owner: 'x' } } } },
    };
    const t = trimCiliumNode(node);
    expect(t).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNode',
      metadata: { name: 'node-2', labels: { zone: 'a' } },
      spec: node.spec,
    });
    expect(nodePrefixes(t)).toEqual(['192.168.0.2/32']);
  });
});
