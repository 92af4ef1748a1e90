// FlowFilter semantics: AND across fields, OR within a field, whitelist minus blacklist.
import { describe, expect, it } from '@jest/globals';
import { HubbleErrorCode } from '../../hubble/errors.js';
import { compileFilter, compileFilters, parseSelector } from '../../hubble/filter.js';
import type { Flow, FlowFilter } from '../../hubble/types.js';

const drop: Flow = {
  verdict: 'DROPPED',
  drop_reason_desc: 'POLICY_DENIED',
  IP: { source: '10.1.0.1', destination: '10.1.0.2', ipVersion: 'IPv4' },
  l4: { TCP: { source_port: 40000, destination_port: 81, flags: { SYN: true } } },
  source: {
    ID: 11,
    identity: 1001,
    namespace: 'demo',
    pod_name: 'frontend-7d9f',
    labels: ['k8s:app=frontend', 'k8s:io.kubernetes.pod.namespace=demo'],
    workloads: [{ name: 'frontend', kind: 'Deployment' }],
  },
  destination: {
    ID: 12,
    identity: 2002,
    namespace: 'demo',
    pod_name: 'backend-55c4',
    labels: ['k8s:app=backend', 'k8s:tier=db'],
  },
  traffic_direction: 'INGRESS',
  event_type: { type: 1, sub_type: 133 },
  node_name: 'node-a',
  is_reply: { value: false },
  uuid: 'u-1',
};
const dns: Flow = {
  verdict: 'FORWARDED',
  IP: { source: 'fd01::1', destination: '2001:db8::53', ipVersion: 'IPv6' },
  l4: { UDP: { source_port: 5353, destination_port: 53 } },
  source: { identity: 1001, namespace: 'demo', pod_name: 'frontend-7d9f', labels: ['k8s:app=frontend'] },
  destination: { identity: 2, labels: ['reserved:world'] },
  traffic_direction: 'EGRESS',
  event_type: { type: 4, sub_type: 5 },
  node_name: 'kind/node-b',
  is_reply: { value: true },
};

const m = (ff: FlowFilter, f: Flow): boolean => compileFilter(ff)(f);

describe('FlowFilter', () => {
  it('an empty filter matches everything; set fields are ANDed, values ORed', () => {
    expect(m({}, drop)).toBe(true);
    expect(m({ verdict: ['DROPPED'], protocol: ['tcp'] }, drop)).toBe(true);
    expect(m({ verdict: ['DROPPED'], protocol: ['udp'] }, drop)).toBe(false);
    expect(m({ verdict: ['FORWARDED', 'DROPPED'] }, drop)).toBe(true);
    expect(m({ verdict: [2] }, drop)).toBe(true);
  });

  it('IPs exact or CIDR, v4 and v6', () => {
    expect(m({ source_ip: ['10.1.0.1'] }, drop)).toBe(true);
    expect(m({ source_ip: ['10.1.0.0/24'] }, drop)).toBe(true);
    expect(m({ destination_ip: ['10.9.0.0/16'] }, drop)).toBe(false);
    expect(m({ destination_ip: ['2001:db8::/32'] }, dns)).toBe(true);
    expect(m({ source_ip: ['fd01:0::1'] }, dns)).toBe(true);
    expect(() => compileFilter({ source_ip: ['10.1.0.0/33'] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
    expect(() => compileFilter({ source_ip: ['nope'] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
  });

  it('pods by "ns/prefix", "ns/" or bare prefix', () => {
    expect(m({ source_pod: ['demo/front'] }, drop)).toBe(true);
    expect(m({ source_pod: ['demo/'] }, drop)).toBe(true);
    expect(m({ source_pod: ['other/'] }, drop)).toBe(false);
    expect(m({ destination_pod: ['backend'] }, drop)).toBe(true);
    expect(m({ destination_pod: ['demo/'] }, dns)).toBe(false);
  });

  it('labels with selector syntax, with or without a source prefix', () => {
    expect(m({ source_label: ['app=frontend'] }, drop)).toBe(true);
    expect(m({ source_label: ['k8s:app=frontend'] }, drop)).toBe(true);
    expect(m({ source_label: ['reserved:app=frontend'] }, drop)).toBe(false);
    expect(m({ destination_label: ['app=backend,tier in (db, cache)'] }, drop)).toBe(true);
    expect(m({ destination_label: ['app=backend,tier!=db'] }, drop)).toBe(false);
    expect(m({ destination_label: ['!tier'] }, drop)).toBe(false);
    expect(m({ destination_label: ['reserved:world'] }, dns)).toBe(true);
    expect(parseSelector('a, b notin (x,y), !c')).toEqual([
      { key: 'a', op: 'exists', values: [] },
      { key: 'b', op: 'notin', values: ['x', 'y'] },
      { key: 'c', op: 'absent', values: [] },
    ]);
  });

  it('ports, protocol, direction, identity, node name, event type, TCP flags, reply, ip version, workload, uuid', () => {
    expect(m({ destination_port: ['81'] }, drop)).toBe(true);
    expect(m({ source_port: ['53'] }, dns)).toBe(false);
    expect(m({ protocol: ['UDP'] }, dns)).toBe(true);
    expect(m({ traffic_direction: ['EGRESS'] }, drop)).toBe(false);
    expect(m({ source_identity: [1001], destination_identity: [2002] }, drop)).toBe(true);
    expect(m({ node_name: ['node-*'] }, drop)).toBe(true);
    expect(m({ node_name: ['kind/'] }, dns)).toBe(true);
    expect(m({ node_name: ['kind/'] }, drop)).toBe(false);
    expect(m({ node_name: ['default/node-a'] }, drop)).toBe(true);
    expect(m({ event_type: [{ type: 1 }] }, drop)).toBe(true);
    expect(m({ event_type: [{ type: 1, match_sub_type: true, sub_type: 181 }] }, drop)).toBe(false);
    expect(m({ tcp_flags: [{ SYN: true }] }, drop)).toBe(true);
    expect(m({ tcp_flags: [{ SYN: true, ACK: true }] }, drop)).toBe(false);
    expect(m({ tcp_flags: [{ SYN: true }] }, dns)).toBe(false);
    expect(m({ reply: [true] }, dns)).toBe(true);
    expect(m({ reply: [true] }, drop)).toBe(false);
    expect(m({ ip_version: ['IPv6'] }, dns)).toBe(true);
    expect(m({ source_workload: [{ name: 'frontend', kind: '' }] }, drop)).toBe(true);
    expect(m({ source_workload: [{ name: '', kind: 'StatefulSet' }] }, drop)).toBe(false);
    expect(m({ uuid: ['u-1'] }, drop)).toBe(true);
  });

  it('L7 and service filters match nothing on L3/L4 flows; bad input is refused', () => {
    expect(m({ http_status_code: ['4+'] }, drop)).toBe(false);
    expect(m({ source_service: ['demo/backend'] }, drop)).toBe(false);
    expect(() => compileFilter({ destination_port: ['http'] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
    expect(() => compileFilter({ protocol: ['smtp'] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
    expect(() => compileFilter({ http_status_code: ['4xx'] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
    expect(() => compileFilter({ dns_query: ['('] })).toThrow(
      expect.objectContaining({ code: HubbleErrorCode.BadFilter }),
    );
  });

  it('services by "ns/name" or "ns/"', () => {
    const toSvc: Flow = { ...drop, destination_service: { namespace: 'demo', name: 'backend' } };
    expect(m({ destination_service: ['demo/backend'] }, toSvc)).toBe(true);
    expect(m({ destination_service: ['demo/'] }, toSvc)).toBe(true);
    expect(m({ destination_service: ['demo/back'] }, toSvc)).toBe(false);
    expect(m({ destination_service: ['other/backend'] }, toSvc)).toBe(false);
    expect(m({ source_service: ['demo/backend'] }, toSvc)).toBe(false);
  });

  it('whitelist (any) minus blacklist (any)', () => {
    const p = compileFilters([{ verdict: ['DROPPED'] }, { protocol: ['udp'] }], [{ node_name: ['kind/'] }]);
    expect(p(drop)).toBe(true);
    expect(p(dns)).toBe(false);
    expect(compileFilters([], [{ verdict: ['DROPPED'] }])(drop)).toBe(false);
    expect(compileFilters([], [{ verdict: ['DROPPED'] }])(dns)).toBe(true);
  });
});
