// Unit tests of the API server's pure parts: the k8s JSONPath dialect, HumanDuration, Table
// rows, label and field selectors.
import { describe, expect, it } from '@jest/globals';
import { jsonPathFirst } from '../../devcluster/apiserver/jsonpath.js';
import type { ResourceInfo } from '../../devcluster/apiserver/resources.js';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from '../../devcluster/apiserver/selectors.js';
import { humanDuration, toTable, wantsTable } from '../../devcluster/apiserver/table.js';

const node = {
  metadata: { name: 'n1', creationTimestamp: new Date(Date.now() - 90_000).toISOString() },
  spec: {
    addresses: [
      { type: 'InternalIP', ip: '192.168.1.10' },
      { type: 'CiliumInternalIP', ip: '10.0.0.1' },
    ],
  },
  status: {
    conditions: [
      { type: 'Ready', status: 'True' },
      { type: 'Valid', status: 'False' },
    ],
    'visibility-policy-status': 'ok',
  },
};

describe('JSONPath (k8s dialect)', () => {
  it('evaluates fields, indexes, wildcards, quoted keys and filters', () => {
    expect(jsonPathFirst(node, '.metadata.name')).toBe('n1');
    expect(jsonPathFirst(node, '{.metadata.name}')).toBe('n1');
    expect(jsonPathFirst(node, '.spec.addresses[1].ip')).toBe('10.0.0.1');
    expect(jsonPathFirst(node, '.spec.addresses[-1].type')).toBe('CiliumInternalIP');
    expect(jsonPathFirst(node, '.spec.addresses[*].ip')).toBe('192.168.1.10');
    expect(jsonPathFirst(node, '.spec.addresses[?(@.type=="CiliumInternalIP")].ip')).toBe('10.0.0.1');
    expect(jsonPathFirst(node, ".status.conditions[?(@.type=='Valid')].status")).toBe('False');
    expect(jsonPathFirst(node, ".status['visibility-policy-status']")).toBe('ok');
    expect(jsonPathFirst(node, '.status.visibility-policy-status')).toBe('ok');
    expect(jsonPathFirst(node, '.status.missing.deeper')).toBeUndefined();
    expect(jsonPathFirst(node, '.spec.addresses[7].ip')).toBeUndefined();
  });
});

describe('HumanDuration', () => {
  it('matches apimachinery util/duration', () => {
    const s = 1000;
    expect(humanDuration(-5 * s)).toBe('<invalid>');
    expect(humanDuration(-500)).toBe('0s');
    expect(humanDuration(59 * s)).toBe('59s');
    expect(humanDuration(119 * s)).toBe('119s');
    expect(humanDuration(150 * s)).toBe('2m30s');
    expect(humanDuration(180 * s)).toBe('3m');
    expect(humanDuration(45 * 60 * s)).toBe('45m');
    expect(humanDuration(3 * 3600 * s + 20 * 60 * s)).toBe('3h20m');
    expect(humanDuration(5 * 3600 * s)).toBe('5h');
    expect(humanDuration(30 * 3600 * s)).toBe('30h');
    expect(humanDuration(3 * 86400 * s + 4 * 3600 * s)).toBe('3d4h');
    expect(humanDuration(100 * 86400 * s)).toBe('100d');
    expect(humanDuration(3 * 365 * 86400 * s + 10 * 86400 * s)).toBe('3y10d');
    expect(humanDuration(9 * 365 * 86400 * s)).toBe('9y');
  });
});

describe('Table', () => {
  const r = {
    group: 'cilium.io',
    version: 'v2',
    kind: 'CiliumNode',
    listKind: 'CiliumNodeList',
    plural: 'ciliumnodes',
    singular: 'ciliumnode',
    namespaced: false,
    shortNames: [],
    categories: [],
    statusSubresource: true,
    builtin: false,
    storagePrefix: 'cilium.io/ciliumnodes',
    columns: [
      { name: 'CiliumInternalIP', type: 'string', jsonPath: '.spec.addresses[?(@.type=="CiliumInternalIP")].ip' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Ready', type: 'boolean', jsonPath: '.status.missing', priority: 1 },
    ],
  } as ResourceInfo;
  it('renders printer columns with types and PartialObjectMetadata rows', () => {
    // Created 30 min ago: the age reads "30m" for a whole minute, whatever the machine's load.
    const aged = {
      ...node,
      metadata: { ...node.metadata, creationTimestamp: new Date(Date.now() - 30 * 60_000).toISOString() },
    };
    const t = toTable(r, [aged], { resourceVersion: '7' }, { includeObject: 'Metadata', withColumns: true }) as {
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(t.columnDefinitions.map((c) => `${c.name}/${c.priority}`)).toEqual([
      'Name/0',
      'CiliumInternalIP/0',
      'Age/0',
      'Ready/1',
    ]);
    expect(t.rows[0]?.cells).toEqual(['n1', '10.0.0.1', '30m', null]);
    expect(t.rows[0]?.object.kind).toBe('PartialObjectMetadata');
    const noCols = toTable(r, [node], {}, { includeObject: 'None', withColumns: false });
    expect(noCols.columnDefinitions).toBeUndefined();
  });
  it('is chosen by the Accept header kubectl sends', () => {
    expect(
      wantsTable(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      ),
    ).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });
});

describe('selectors', () => {
  it('parses and matches label selectors like labels.Parse', () => {
    const sel = parseLabelSelector('app in (web, api),tier!=db,!legacy,env');
    expect(matchLabels(sel, { app: 'web', tier: 'front', env: 'prod' })).toBe(true);
    expect(matchLabels(sel, { app: 'web', tier: 'db', env: 'prod' })).toBe(false);
    expect(matchLabels(sel, { app: 'web', env: 'prod', legacy: 'y' })).toBe(false);
    expect(matchLabels(sel, { app: 'cache', env: 'prod' })).toBe(false);
    expect(matchLabels(parseLabelSelector('a notin (x)'), {})).toBe(true);
    expect(matchLabels(parseLabelSelector('a==1'), { a: '1' })).toBe(true);
    expect(matchLabels(parseLabelSelector(''), undefined)).toBe(true);
    expect(() => parseLabelSelector('a in x')).toThrow(/unable to parse requirement/);
  });
  it('supports metadata.name, metadata.namespace and spec.nodeName for pods', () => {
    const pod = { metadata: { name: 'p', namespace: 'ns1' }, spec: { nodeName: 'node-1' } };
    expect(
      matchFields(parseFieldSelector('metadata.name=p,metadata.namespace!=ns2', 'ciliumnetworkpolicies', 'X'), pod),
    ).toBe(true);
    expect(matchFields(parseFieldSelector('spec.nodeName=node-1', 'pods', 'Pod'), pod)).toBe(true);
    expect(matchFields(parseFieldSelector('spec.nodeName==node-2', 'pods', 'Pod'), pod)).toBe(false);
    expect(() => parseFieldSelector('spec.nodeName=x', 'configmaps', 'ConfigMap')).toThrow(
      /field label not supported: spec.nodeName/,
    );
  });
});
