// The agent's hubble-* configuration keys and the observer's flow rate.
import { describe, expect, it } from '@jest/globals';
import { buildFrame } from '../../datapath/packet.js';
import { HubbleErrorCode } from '../../hubble/errors.js';
import { HubbleObserver } from '../../hubble/observer.js';
import { hubbleConfig } from '../../hubble/options.js';
import { resolver } from './fixtures.js';

describe('hubbleConfig', () => {
  it('defaults follow upstream', () => {
    expect(hubbleConfig({})).toEqual({
      enabled: true,
      ringCapacity: 4095,
      metrics: [],
      metricsSpec: '',
      unsupportedMetrics: [],
      listen: { unixSocket: '/var/run/cilium/hubble.sock', tcp: ':4244' },
    });
  });

  it('reads every key; metrics turn the metrics server on at :9965', () => {
    expect(
      hubbleConfig({
        'hubble-event-buffer-capacity': '8191',
        'hubble-metrics': 'drop,tcp flow:sourceContext=namespace',
        'hubble-listen-address': '',
        'hubble-socket-path': '/run/h.sock',
        'enable-hubble': 'false',
      }),
    ).toEqual({
      enabled: false,
      ringCapacity: 8191,
      metrics: ['drop', 'tcp', 'flow'],
      metricsSpec: 'drop,tcp flow:sourceContext=namespace',
      unsupportedMetrics: [],
      listen: { unixSocket: '/run/h.sock', metrics: ':9965' },
    });
    expect(hubbleConfig({ 'hubble-flow-buffer-size': '63' }).ringCapacity).toBe(63);
  });

  it('bad values are coded errors naming the key', () => {
    expect(() => hubbleConfig({ 'hubble-event-buffer-capacity': '4096' })).toThrow(
      expect.objectContaining({
        code: HubbleErrorCode.BadCapacity,
        message: expect.stringMatching(/^hubble-event-buffer-capacity "4096"/),
      }),
    );
    expect(() => hubbleConfig({ 'hubble-metrics': 'drop,dorp' })).toThrow(
      expect.objectContaining({
        code: HubbleErrorCode.BadMetric,
        message: expect.stringMatching(/^unsupported hubble metric "dorp"/),
      }),
    );
  });

  it("serves upstream's L7 metrics; kafka and flows-to-world are reported, not fatal (a config written for upstream still starts)", () => {
    const c = hubbleConfig({
      'hubble-metrics': 'dns:query;ignoreAAAA drop tcp flow icmp httpV2:exemplars=true kafka flows-to-world:port',
    });
    expect(c.metrics).toEqual(['dns', 'drop', 'tcp', 'flow', 'icmp', 'httpV2']);
    expect(c.unsupportedMetrics).toEqual(['kafka', 'flows-to-world']);
  });

  it('refuses an L7 metric option it cannot honour, naming it', () => {
    expect(() => hubbleConfig({ 'hubble-metrics': 'httpV2:labelsContext=source_ip' })).toThrow(
      expect.objectContaining({
        code: HubbleErrorCode.BadMetric,
        message: expect.stringContaining('httpV2: option "labelsContext" is not supported'),
      }),
    );
    expect(() => hubbleConfig({ 'hubble-metrics': 'dns:sourceContext=podd' })).toThrow(
      /sourceContext "podd" is not a context/,
    );
    expect(() => hubbleConfig({ 'hubble-metrics': 'http,httpV2' })).toThrow(/enable one of them/);
  });
});

describe('flows_rate', () => {
  it('is flows per second over the last minute', () => {
    let t = 1_700_000_000_000;
    const obs = new HubbleObserver({ nodeName: 'n', resolver: resolver(), now: () => t, uuids: false });
    const data = buildFrame({ src: '10.1.0.1', dst: '10.1.0.2', proto: 'udp' });
    const e = {
      type: 'drop' as const,
      source: 11,
      hash: 0,
      lenOrig: 0,
      ipv6: false,
      data,
      reason: 133,
      reasonName: '',
      srcLabel: 1001,
      dstLabel: 2002,
      ifindex: 1,
    };
    for (let s = 0; s < 30; s++) {
      for (let i = 0; i < 4; i++) obs.observe(e);
      t += 1000;
    }
    expect(obs.status().flows_rate).toBeCloseTo(120 / 60);
    t += 44_000; // now is the 74th second: the window (14, 74] holds seconds 15..29
    expect(obs.status().flows_rate).toBeCloseTo(60 / 60);
    t += 60_000;
    expect(obs.status().flows_rate).toBe(0);
    obs.close();
  });
});
