// The browser API's messages, shared by the server and the page (types only: the page's bundle
// pulls in nothing of the server).
import type { Flow, NodeState } from '../hubble/types.js';

/** What the page shows in its header: relay, its nodes, the namespaces to choose from. */
export interface UiStatus {
  relay: 'connected' | 'unreachable';
  message?: string;
  nodes: { name: string; state: NodeState }[];
  numFlows?: number;
  seenFlows?: number;
  namespaces: string[];
  /** The API server could not be read (namespaces then come from the flows only). */
  apiServerError?: string;
}

/**
 * What a browser's feed sends (SSE events of the same `type`). A page that asks for flow control
 * (`api/events?ack=1`) is told its stream's id first and acknowledges each `flows` batch's `seq`
 * (POST api/ack): the server then sends only while the page has caught up (see FlowFeed).
 */
export type FeedEvent =
  | { type: 'stream'; id: string }
  | { type: 'flows'; flows: Flow[]; skipped: number; seq: number }
  | { type: 'relay'; state: 'connected' | 'unreachable'; message?: string; retryInMs?: number }
  | { type: 'node'; state: NodeState; nodes: string[]; message?: string }
  | { type: 'lost'; source: string; count: number }
  | { type: 'status'; status: UiStatus };

/** A rule of a policy: `CiliumNetworkPolicy/ns/name` and the field path inside it. */
export interface RuleRef {
  readonly policy: string;
  readonly path: string;
}

/** One side's policy: who selects its subject and what they say about this connection. */
export interface SideExplanation {
  readonly direction: 'egress' | 'ingress';
  /** `namespace/pod` of the subject (source on egress, destination on ingress), or why nothing enforces there. */
  readonly subject: string;
  readonly enforced: boolean;
  readonly selectedBy: readonly RuleRef[];
  readonly allowedBy: readonly RuleRef[];
  readonly deniedBy: readonly RuleRef[];
  readonly verdict: 'allow' | 'deny' | 'drop';
}

/** POST api/explain's answer. */
export interface Explanation {
  /** `policy`: the policy decides this connection; `other`: the verdict is not a policy decision. */
  readonly kind: 'policy' | 'other';
  /** One line for the detail pane: "denied by …", "no policy allows: default deny …", "allowed by …". */
  readonly reason: string;
  readonly source?: string;
  readonly destination?: string;
  readonly port?: number;
  readonly protocol?: string;
  /** Today's decision for a new connection, from the engine. */
  readonly verdict?: 'allowed' | 'dropped';
  /** Where it stops: the side whose policy drops it. */
  readonly at?: 'egress' | 'ingress';
  /** `deny`: a deny rule; `drop`: no rule allows (default deny). */
  readonly how?: 'deny' | 'drop';
  /** The rules that decided it: the deny rules, or the allow rules that let it through. */
  readonly decidedBy: readonly RuleRef[];
  readonly sides: readonly SideExplanation[];
  /** The flow's verdict differs from today's decision (recorded before a policy change). */
  readonly stale: boolean;
  /** For a default-deny drop: CiliumNetworkPolicy YAML allowing exactly this connection (checked in the engine). */
  readonly suggestedPolicy?: string;
  /** Why there is no suggestion, or what it does not cover. */
  readonly suggestionNote?: string;
}
