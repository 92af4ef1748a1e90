// The wire contract: upstream's packages, message names and field numbers (api/v1/*/*.proto). A
// renumbered field would silently break upstream clients, so every number we rely on is pinned.
import { describe, expect, it } from '@jest/globals';
import { enumNames, fieldNumbers, observerService, peerService } from '../../hubble/proto.js';

describe('Hubble protos', () => {
  it('flow.Flow keeps upstream field numbers', () => {
    expect(fieldNumbers('flow.Flow')).toMatchObject({
      time: 1,
      uuid: 34,
      verdict: 2,
      drop_reason: 3,
      ethernet: 4,
      IP: 5,
      l4: 6,
      source: 8,
      destination: 9,
      Type: 10,
      node_name: 11,
      source_names: 13,
      destination_names: 14,
      l7: 15,
      reply: 16,
      event_type: 19,
      source_service: 20,
      destination_service: 21,
      traffic_direction: 22,
      policy_match_type: 23,
      trace_observation_point: 24,
      drop_reason_desc: 25,
      is_reply: 26,
      debug_capture_point: 27,
      interface: 28,
      proxy_port: 29,
      trace_context: 30,
      sock_xlate_point: 31,
      socket_cookie: 32,
      cgroup_id: 33,
      Summary: 100000,
    });
    expect(fieldNumbers('flow.Endpoint')).toEqual({
      ID: 1,
      identity: 2,
      namespace: 3,
      labels: 4,
      pod_name: 5,
      workloads: 6,
    });
    expect(fieldNumbers('flow.IP')).toEqual({ source: 1, destination: 2, ipVersion: 3, encrypted: 4 });
    expect(fieldNumbers('flow.Layer4')).toEqual({ TCP: 1, UDP: 2, ICMPv4: 3, ICMPv6: 4, SCTP: 5 });
    expect(fieldNumbers('flow.TCPFlags')).toEqual({
      FIN: 1,
      SYN: 2,
      RST: 3,
      PSH: 4,
      ACK: 5,
      URG: 6,
      ECE: 7,
      CWR: 8,
      NS: 9,
    });
    expect(fieldNumbers('flow.LostEvent')).toEqual({ source: 1, num_events_lost: 2, cpu: 3 });
    expect(fieldNumbers('flow.HTTP')).toEqual({ code: 1, method: 2, url: 3, protocol: 4, headers: 5 });
    expect(fieldNumbers('flow.DNS')).toEqual({
      query: 1,
      ips: 2,
      ttl: 3,
      cnames: 4,
      observation_source: 5,
      rcode: 6,
      qtypes: 7,
      rrtypes: 8,
    });
  });

  it('flow.FlowFilter keeps upstream field numbers', () => {
    expect(fieldNumbers('flow.FlowFilter')).toEqual({
      uuid: 29,
      source_ip: 1,
      source_pod: 2,
      source_fqdn: 7,
      source_label: 10,
      source_service: 16,
      source_workload: 26,
      destination_ip: 3,
      destination_pod: 4,
      destination_fqdn: 8,
      destination_label: 11,
      destination_service: 17,
      destination_workload: 27,
      traffic_direction: 30,
      verdict: 5,
      event_type: 6,
      http_status_code: 9,
      protocol: 12,
      source_port: 13,
      destination_port: 14,
      reply: 15,
      dns_query: 18,
      source_identity: 19,
      destination_identity: 20,
      http_method: 21,
      http_path: 22,
      http_url: 31,
      http_header: 32,
      tcp_flags: 23,
      node_name: 24,
      ip_version: 25,
      trace_id: 28,
    });
  });

  it('observer messages keep upstream field numbers', () => {
    expect(fieldNumbers('observer.GetFlowsRequest')).toMatchObject({
      number: 1,
      first: 9,
      follow: 3,
      blacklist: 5,
      whitelist: 6,
      since: 7,
      until: 8,
    });
    expect(fieldNumbers('observer.GetFlowsResponse')).toEqual({
      flow: 1,
      node_status: 2,
      lost_events: 3,
      node_name: 1000,
      time: 1001,
    });
    expect(fieldNumbers('observer.GetAgentEventsRequest')).toEqual({
      number: 1,
      first: 9,
      follow: 2,
      since: 7,
      until: 8,
    });
    expect(fieldNumbers('observer.ServerStatusResponse')).toMatchObject({
      num_flows: 1,
      max_flows: 2,
      seen_flows: 3,
      uptime_ns: 4,
      num_connected_nodes: 5,
      num_unavailable_nodes: 6,
      unavailable_nodes: 7,
      version: 8,
    });
    expect(fieldNumbers('observer.Node')).toEqual({
      name: 1,
      version: 2,
      address: 3,
      state: 4,
      tls: 5,
      uptime_ns: 6,
      num_flows: 7,
      max_flows: 8,
      seen_flows: 9,
    });
    expect(fieldNumbers('relay.NodeStatusEvent')).toEqual({ state_change: 1, node_names: 2, message: 3 });
    expect(fieldNumbers('peer.ChangeNotification')).toEqual({ name: 1, address: 2, type: 3, tls: 4 });
    expect(fieldNumbers('flow.AgentEvent')).toMatchObject({
      type: 1,
      unknown: 100,
      agent_start: 101,
      policy_update: 102,
      endpoint_regenerate: 103,
      endpoint_update: 104,
      ipcache_update: 105,
    });
  });

  it('enums keep upstream values', () => {
    const v = enumNames('flow.Verdict');
    expect([...v]).toEqual([
      [0, 'VERDICT_UNKNOWN'],
      [1, 'FORWARDED'],
      [2, 'DROPPED'],
      [3, 'ERROR'],
      [4, 'AUDIT'],
      [5, 'REDIRECTED'],
      [6, 'TRACED'],
      [7, 'TRANSLATED'],
    ]);
    const d = enumNames('flow.DropReason');
    expect([d.get(133), d.get(181), d.get(165), d.get(155), d.get(189), d.get(193)]).toEqual([
      'POLICY_DENIED',
      'POLICY_DENY',
      'NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION',
      'CT_MAP_INSERTION_FAILED',
      'AUTH_REQUIRED',
      'UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP',
    ]);
    expect(enumNames('flow.TraceObservationPoint').get(101)).toBe('TO_ENDPOINT');
    expect([...enumNames('flow.LostEventSource').values()]).toEqual([
      'UNKNOWN_LOST_EVENT_SOURCE',
      'PERF_EVENT_RING_BUFFER',
      'OBSERVER_EVENTS_QUEUE',
      'HUBBLE_RING_BUFFER',
    ]);
    expect([...enumNames('relay.NodeState').values()]).toEqual([
      'UNKNOWN_NODE_STATE',
      'NODE_CONNECTED',
      'NODE_UNAVAILABLE',
      'NODE_GONE',
      'NODE_ERROR',
    ]);
    expect([...enumNames('peer.ChangeNotificationType').values()]).toEqual([
      'UNKNOWN',
      'PEER_ADDED',
      'PEER_DELETED',
      'PEER_UPDATED',
    ]);
  });

  it('services have upstream paths', () => {
    expect(
      Object.values(observerService)
        .map((m) => m.path)
        .sort(),
    ).toEqual(
      ['GetAgentEvents', 'GetDebugEvents', 'GetFlows', 'GetNamespaces', 'GetNodes', 'ServerStatus'].map(
        (n) => `/observer.Observer/${n}`,
      ),
    );
    expect(peerService.Notify!.path).toBe('/peer.Peer/Notify');
  });
});
