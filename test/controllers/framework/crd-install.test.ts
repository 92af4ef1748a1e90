// ensureCrds against the devcluster: every CRD created and served in one call, nothing written when
// they are current, and only the CRD whose schema version label differs replaced.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CRDS, buildCrd } from '../../../crds/index.js';
import { CRDS_RESOURCE, KubeClient, ensureCrds, type KubeObject } from '../../../controllers/framework/index.js';
import { SCHEMA_VERSION_LABEL } from '../../../controllers/framework/crd-install.js';
import type { Devcluster } from '../../../devcluster/cluster.js';
import { startDevcluster } from '../../e2e/harness.js';

let cluster: Devcluster;
let client: KubeClient;
const crds = CRDS.map((d) => buildCrd(d) as KubeObject);
const names = crds.map((c) => c.metadata!.name!);

beforeAll(async () => {
  cluster = await startDevcluster('crd-install');
  client = KubeClient.fromFile(cluster.kubeconfig);
}, 120_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
});

describe('ensureCrds', () => {
  it('creates every missing CRD at once and returns once each is served', async () => {
    expect((await ensureCrds(client, crds, undefined, 60_000)).sort()).toEqual([...names].sort());
    for (const name of names) expect((await client.get<KubeObject>(CRDS_RESOURCE, name)).metadata?.name).toBe(name);
  }, 120_000);

  it('writes nothing when every CRD carries the same schema version', async () => {
    expect(await ensureCrds(client, crds)).toEqual([]);
  }, 60_000);

  it('replaces only the CRD whose schema version label differs', async () => {
    const [first, ...rest] = crds;
    const labels = { ...first!.metadata!.labels, [SCHEMA_VERSION_LABEL]: 'v9.9.9-test' };
    const upgraded = { ...first!, metadata: { ...first!.metadata, labels } } as KubeObject;
    expect(await ensureCrds(client, [upgraded, ...rest])).toEqual([first!.metadata!.name]);
    const stored = await client.get<KubeObject>(CRDS_RESOURCE, first!.metadata!.name!);
    expect(stored.metadata?.labels?.[SCHEMA_VERSION_LABEL]).toBe('v9.9.9-test');
  }, 60_000);
});
