// Every Hubble option with its default, in one place. Agent config keys map onto these:
// hubble-event-buffer-capacity → ringCapacity, hubble-metrics → metrics,
// hubble-listen-address → listen.tcp, hubble-socket-path → listen.unixSocket,
// hubble-disable-tls + hubble-tls-{cert,key,client-ca}-file(s) → listen.tls.
import { HubbleError, HubbleErrorCode } from './errors.js';
import { HubbleMetrics, parseMetricOptions, parseMetricsList, unsupportedMetrics, type MetricName } from './metrics.js';
import { isValidCapacity } from './ring.js';
import type { Resolver } from './resolver.js';
import type { TlsFiles } from './tls.js';

export interface HubbleOptions {
  /** this node's name, stamped on every flow and response */
  nodeName: string;
  /** endpoint / IP / identity lookups (the agent's caches) */
  resolver: Resolver;
  /** flows kept in memory, 2^n − 1 (upstream's hubble-event-buffer-capacity); default 4095 */
  ringCapacity: number;
  /** enabled metrics (upstream's hubble-metrics list); hubble_lost_events_total is always on */
  metrics: readonly MetricName[] | string;
  /** give each flow a random uuid; default true */
  uuids: boolean;
  /** wall clock in ms; default Date.now */
  now: () => number;
  /** a cumulative loss counter to poll (the kernel datapath's lost events); default none */
  lostEventsSource?: () => number;
  /** how often lostEventsSource is polled, ms; default 1000 */
  lostEventsPollMs: number;
  /** agent events kept for GetAgentEvents; default 1023 */
  agentEventsCapacity: number;
  /** reported in ServerStatus and GetNodes */
  version: string;
  /**
   * GetFlows `--follow` streams served at once; default 100. Each one is woken by every flow, so
   * they multiply the agent's CPU per event: one past the cap is refused with RESOURCE_EXHAUSTED
   * (HUBBLE_ERR_TOO_MANY_STREAMS) and counted in hubble_follow_streams_rejected_total. Raise it
   * only with CPU to spare; hubble-relay needs one stream per client following through it.
   */
  maxFollowStreams: number;
}

export const defaultHubbleOptions = {
  ringCapacity: 4095,
  metrics: [] as readonly MetricName[],
  uuids: true,
  now: Date.now,
  lostEventsPollMs: 1000,
  agentEventsCapacity: 1023,
  version: 'cilium-ts 0.1.0',
  maxFollowStreams: 100,
} satisfies Partial<HubbleOptions>;

export interface ListenOptions {
  /** a unix socket path (upstream /var/run/cilium/hubble.sock); an existing stale file is replaced */
  unixSocket?: string;
  /** "host:port" or ":port" (upstream :4244); port 0 picks a free one */
  tcp?: string;
  /** serve GET /metrics (Prometheus text) on "host:port" (upstream hubble-metrics-server :9965) */
  metrics?: string;
  /** mutual TLS on the TCP address (the unix socket stays plain, as upstream); absent = plaintext */
  tls?: TlsFiles;
}

export interface RelayOptions {
  /** where to find peers: an agent's Hubble address serving peer.Peer ("unix:///…" or "host:port") */
  peerService?: string;
  /**
   * mutual TLS to the nodes' Hubble servers (and to a TCP peer service): our client certificate,
   * and the CAs their certificates must chain to; absent = plaintext (upstream disable-client-tls)
   */
  tls?: TlsFiles;
  /** the cluster's name: a node's server name is `<node>.<cluster>.hubble-grpc.cilium.io` when its
   *  Peer notification does not say (upstream cluster-name, default "default") */
  clusterName: string;
  /** fixed peers instead of (or besides) the Peer service: name → address */
  staticPeers: { name: string; address: string }[];
  /** flows held per merge before the oldest is released; default 100 */
  sortBufferSize: number;
  /**
   * Longest a flow waits in the sort buffer while following, ms; default 5 (upstream 1 s). A flow
   * leaves at once when every node streaming has sent something as new; this timeout only holds
   * flows back while some node is quiet. Raise it when nodes' flows arrive out of order by more
   * (a slow link to some node); every `--follow` through relay waits up to this long per flow.
   */
  sortBufferDrainMs: number;
  /** first and longest reconnect delay, ms; default 200 → 10000 */
  backoffMinMs: number;
  backoffMaxMs: number;
  /** per-node deadline for unary calls (ServerStatus, GetNodes), ms; default 2000 */
  callTimeoutMs: number;
  /**
   * While a `--follow` request runs, how often relay looks for nodes that came back or joined and
   * adds their new flows to it, ms; default 1000. Lower it to see a restarted node sooner, at the
   * cost of one reachability check of every node per period and request.
   */
  followRejoinMs: number;
  version: string;
}

export const defaultRelayOptions: RelayOptions = {
  clusterName: 'default',
  staticPeers: [],
  sortBufferSize: 100,
  sortBufferDrainMs: 5,
  backoffMinMs: 200,
  backoffMaxMs: 10_000,
  callTimeoutMs: 2000,
  followRejoinMs: 1000,
  version: 'cilium-ts 0.1.0',
};

/** Hubble's part of the agent's configuration (upstream's cilium-config keys). */
export interface HubbleConfig {
  /** enable-hubble; default true */
  enabled: boolean;
  /** hubble-event-buffer-capacity; default 4095 */
  ringCapacity: number;
  /** hubble-metrics; default none */
  metrics: MetricName[];
  /** hubble-metrics as written, options included (what HubbleOptions.metrics takes) */
  metricsSpec: string;
  /** upstream metrics in hubble-metrics that cilium-ts cannot serve (log a warning) */
  unsupportedMetrics: string[];
  /** hubble-socket-path → unixSocket (default /var/run/cilium/hubble.sock), hubble-listen-address →
   *  tcp (default ":4244"; "" disables TCP), hubble-metrics-server → metrics (default ":9965" when
   *  any metric is enabled, else off) */
  listen: ListenOptions;
}

/** Reads and validates the hubble-* keys; a bad value is a HubbleError naming the key. */
export function hubbleConfig(config: Readonly<Record<string, string | undefined>>): HubbleConfig {
  const capRaw = config['hubble-event-buffer-capacity'] ?? config['hubble-flow-buffer-size'];
  const ringCapacity = capRaw === undefined || capRaw === '' ? defaultHubbleOptions.ringCapacity : Number(capRaw);
  if (!isValidCapacity(ringCapacity))
    throw new HubbleError(
      HubbleErrorCode.BadCapacity,
      `hubble-event-buffer-capacity "${capRaw}" is not 2^n-1 between 1 and 65535 (e.g. 4095)`,
    );
  const metricsSpec = config['hubble-metrics'] ?? '';
  const metrics = parseMetricsList(metricsSpec);
  // the L7 handlers' options are checked now, so a bad one stops the agent at start with its name
  new HubbleMetrics(metrics, undefined, parseMetricOptions(metricsSpec));
  const tcp = config['hubble-listen-address'] ?? ':4244';
  const unixSocket = config['hubble-socket-path'] ?? '/var/run/cilium/hubble.sock';
  const metricsServer = config['hubble-metrics-server'] ?? (metrics.length ? ':9965' : '');
  const enabled = !/^(false|0|no)$/i.test(config['enable-hubble'] ?? 'true');
  // upstream's code default is plaintext; the install turns TLS on
  const tlsOff = !/^(false|0|no)$/i.test(config['hubble-disable-tls'] ?? 'true');
  const tls: TlsFiles | undefined = tlsOff
    ? undefined
    : {
        certFile: config['hubble-tls-cert-file'] || '/var/lib/cilium/tls/hubble/server.crt',
        keyFile: config['hubble-tls-key-file'] || '/var/lib/cilium/tls/hubble/server.key',
        caFiles: (config['hubble-tls-client-ca-files'] || '/var/lib/cilium/tls/hubble/client-ca.crt')
          .split(/[\s,]+/)
          .filter(Boolean),
      };
  return {
    enabled,
    ringCapacity,
    metrics,
    metricsSpec,
    unsupportedMetrics: unsupportedMetrics(config['hubble-metrics'] ?? ''),
    listen: {
      ...(unixSocket ? { unixSocket } : {}),
      ...(tcp ? { tcp } : {}),
      ...(metricsServer ? { metrics: metricsServer } : {}),
      ...(tls && tcp ? { tls } : {}),
    },
  };
}
