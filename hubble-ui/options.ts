// Every option of the hubble-ui process, with its default in one place. The environment variable
// names are upstream's where upstream has one (backend/internal/config: FLOWS_API_ADDR, …).

export interface HubbleUiOptions {
  /**
   * Where the page and its API are served, `host:port` (`:8081` = every address). Upstream's
   * frontend container listens on 8081 and its Service maps port 80 to it; `0` picks a free port.
   */
  listen: string;
  /** hubble-relay's gRPC address (`host:port` or `unix:///path`); Helm's `hubble-relay:80`. Env FLOWS_API_ADDR. */
  relayAddress: string;
  /** A kubeconfig file; default: in-cluster service account, else $KUBECONFIG. */
  kubeconfig?: string;
  /**
   * The sub-path the UI is served under behind a proxy (Helm `hubble.ui.baseUrl`), with slashes
   * at both ends. Requests arrive with or without it.
   */
  baseUrl: string;
  /** Flows are sent to the browser in batches at most this often (ms): fewer, larger SSE messages. */
  batchMs: number;
  /**
   * At most this many flows per batch per browser; the rest are counted as skipped and the page
   * shows the count. Bounds the work a flood causes in the page (250 per 100 ms → 2,500 flows/s,
   * what a page on a small machine parses and draws without falling behind).
   */
  maxBatch: number;
  /**
   * For a page that acknowledges batches (`api/events?ack=1`): at most this many flows sent and
   * not yet processed by the page; past it, flows are skipped (and counted) until it catches up.
   * Without it, the socket's and the browser's buffers hold seconds of flows a slow page has not
   * read yet, and the table falls that far behind. Counted in flows, not batches: at a trickle a
   * slow page (a busy laptop) misses nothing; at 2,000 flows/s 1,000 is half a second.
   */
  maxUnackedFlows: number;
  /** Past flows asked of relay when a browser connects (upstream's GET_FLOWS_LAST is 10,000; the page keeps fewer). */
  initialFlows: number;
  /** ServerStatus/GetNodes and the namespace list are refreshed this often (ms); upstream polls every 5 s. */
  statusIntervalMs: number;
  /** First and largest delay (ms) before re-opening a flow stream relay broke; doubles in between. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** Policies, identities and endpoints read for an explanation are reused this long (ms). */
  clusterStateTtlMs: number;
  /** Where the bundled page lives (index.html, app.js, app.css); default: `web/` next to the compiled server. */
  staticDir?: string;
}

export const defaultHubbleUiOptions: HubbleUiOptions = {
  listen: ':8081',
  relayAddress: 'hubble-relay:80',
  baseUrl: '/',
  batchMs: 100,
  maxBatch: 250,
  maxUnackedFlows: 1000,
  initialFlows: 1000,
  statusIntervalMs: 2000,
  reconnectMinMs: 250,
  reconnectMaxMs: 5000,
  clusterStateTtlMs: 1000,
};
