import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { valuesFromFlags } from '../../cmd/cilium/set-values.js';

describe('cilium install --set / --values', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cilium-ts-set-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('coerces by the schema type of the path, as helm --set does', () => {
    expect(
      valuesFromFlags(
        [],
        [
          'operator.replicas=3',
          'hubble.relay.enabled=false',
          'ipam.operator.clusterPoolIPv4PodCIDRList={10.1.0.0/16,10.2.0.0/16}',
          'cluster.name=east',
        ],
      ),
    ).toEqual({
      operator: { replicas: 3 },
      hubble: { relay: { enabled: false } },
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ['10.1.0.0/16', '10.2.0.0/16'] } },
      cluster: { name: 'east' },
    });
    expect(valuesFromFlags([], ['hubble.metrics.enabled={}'])).toEqual({ hubble: { metrics: { enabled: [] } } });
  });

  it('--values files apply in order, then --set wins', () => {
    writeFileSync(join(dir, 'a.yaml'), 'operator:\n  replicas: 4\ncluster:\n  name: a\n');
    writeFileSync(join(dir, 'b.yaml'), 'cluster:\n  name: b\n');
    expect(valuesFromFlags([join(dir, 'a.yaml'), join(dir, 'b.yaml')], ['operator.replicas=1'])).toEqual({
      operator: { replicas: 1 },
      cluster: { name: 'b' },
    });
  });

  it('refuses unknown paths, wrong types and values the schema refuses', () => {
    expect(() => valuesFromFlags([], ['operator.replica=2'])).toThrow(/operator\.replica: no such value/);
    expect(() => valuesFromFlags([], ['operator.replicas=two'])).toThrow(/an integer is expected/);
    expect(() => valuesFromFlags([], ['debug.enabled=yes'])).toThrow(/true or false is expected/);
    expect(() => valuesFromFlags([], ['operator.replicas=0'])).toThrow(/operator\/replicas/);
    expect(() => valuesFromFlags([], ['operator.replicas'])).toThrow(/expected path=value/);
    writeFileSync(join(dir, 'bad.yaml'), 'hubble:\n  relay:\n    enable: true\n');
    expect(() => valuesFromFlags([join(dir, 'bad.yaml')], [])).toThrow(/invalid install values/);
  });
});
