// Proxy L7 events for the Hubble tests: what the HTTP and DNS proxies emit for the fixtures' pods.
import type { DnsL7Event, HttpL7Event } from '../../hubble/types.js';
import { FRONTEND } from './fixtures.js';

/** frontend (10.1.0.1, endpoint 11) asks backend (10.1.0.2) GET /public through the proxy */
export function httpPair(path = '/public', code = 200, verdict: HttpL7Event['verdict'] = 'FORWARDED'): HttpL7Event[] {
  const base = {
    protocol: 'http' as const,
    endpoint: { id: FRONTEND.id, identity: FRONTEND.identity },
    source: { address: '10.1.0.1', port: 40000 },
    destination: { address: '10.1.0.2', port: 80 },
    method: 'GET',
    url: `http://backend.demo${path}`,
    protocolVersion: 'HTTP/1.1',
  };
  return [
    { ...base, kind: 'request', verdict },
    { ...base, kind: 'response', verdict, code, latencyNs: 3_400_000 },
  ];
}

/** frontend asks 10.96.0.10:53 (no pod) for api.example.test over UDP */
export function dnsPair(query = 'api.example.test.', rcode = 0, ips = ['10.9.9.9']): DnsL7Event[] {
  const base = {
    protocol: 'dns' as const,
    transport: 'udp' as const,
    endpoint: { id: FRONTEND.id, identity: FRONTEND.identity },
    source: { address: '10.1.0.1', port: 53000 },
    destination: { address: '10.96.0.10', port: 53 },
    query,
    qtypes: ['A'],
  };
  return [
    { ...base, kind: 'request', verdict: 'FORWARDED' },
    {
      ...base,
      kind: 'response',
      verdict: 'FORWARDED',
      rcode,
      ips: rcode ? [] : ips,
      ttl: 30,
      cnames: [],
      rrtypes: rcode ? [] : ['A'],
      latencyNs: 1_000_000,
    },
  ];
}
