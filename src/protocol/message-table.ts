// The one table of JSON message types, both directions (protocol.md §2.5, §2.6). The agent's dispatchers, its
// metric labels, the `supported_types` it advertises and docs/protocol-messages.md are derived from it; the
// `satisfies` clauses make the compiler refuse a type that is sent (wire-messages.ts) but missing here, or listed
// here but not sendable.
import type { AgentToHubType, HubToAgentType } from './wire-messages.ts';

/** How the agent treats a hub → agent type. */
export type AgentHandling =
  /** Handled by the session itself (registration, liveness, errors, yamux offer). */
  | 'session'
  /** Handed to the HTTP relay or the stream relay (src/tunnel/dispatch.ts). */
  | 'relay'
  /** Answered with a refusal: L4 tunnels are disabled in this build (T1). */
  | 'refused'
  /** Counted and ignored (logged). */
  | 'ignored';

/** How the hub treats an agent → hub type. */
export type HubHandling =
  /** The agent endpoint (registration, heartbeat, liveness, fallback warnings). */
  | 'endpoint'
  /** An answer to a `proxy_request`: applied to its exchange (src/hub/kube-gateway/agent-answer.ts). */
  | 'answer'
  /** Stream data or close: to the upgrade or stream relay of its id. */
  | 'stream'
  /** Not used by the hub: delivered to listeners, none of which reads it. */
  | 'unused';

export interface MessageInfo {
  /** protocol.md section. */
  spec: string;
  /** What the message means and what the receiver may assume. */
  summary: string;
  /** `ours`: a negotiated or hub extension a control plane that does not know it never sends. */
  origin: 'upstream' | 'ours';
}

export interface ToAgentInfo extends MessageInfo {
  agent: AgentHandling;
  /** Listed in upstream's `protocol_fallback.supported_types` (§2.5.8); that list is kept as upstream sends it. */
  advertised: boolean;
  /** Another name for the same message. */
  aliasOf?: HubToAgentType;
}

export interface ToHubInfo extends MessageInfo {
  hub: HubHandling;
}

/** Hub (control plane) → agent. Order: upstream's dispatch table (§2.6), then ours. */
export const HUB_TO_AGENT = {
  register_success: { spec: '§2.5.1', agent: 'session', advertised: true, origin: 'upstream', summary: 'Answer to `register` with the same request id; a non-empty `cluster_id` is required.' },
  register_in_progress: { spec: '§2.6', agent: 'session', advertised: true, origin: 'upstream', summary: 'Registration is pending: the agent extends its wait up to a cap.' },
  heartbeat_ack: { spec: '§7', agent: 'session', advertised: true, origin: 'upstream', summary: 'A heartbeat arrived; logged only.' },
  pong: { spec: '§2.4', agent: 'session', advertised: true, origin: 'upstream', summary: 'Answer to a JSON `ping`; logged only.' },
  ping: { spec: '§2.4', agent: 'session', advertised: true, origin: 'upstream', summary: 'Application-level ping: answered with `pong` (same request id, payload `timestamp`).' },
  proxy_request: { spec: '§3.1', agent: 'relay', advertised: true, origin: 'upstream', summary: 'One HTTP request (or an upgrade) to the Kubernetes API or a Service; answered by `proxy_response`/`proxy_error` or the streamed writer.' },
  proxy_request_chunk: { spec: '§3.3', agent: 'relay', advertised: true, origin: 'upstream', summary: 'A piece of a streamed request body (`data` or `chunk`, base64).' },
  proxy_request_stream_end: { spec: '§3.3', agent: 'relay', advertised: true, origin: 'upstream', summary: 'End of a streamed request body.' },
  proxy_cancel: { spec: '§3.1', agent: 'relay', advertised: true, origin: 'upstream', summary: 'Abort the backend call of a request (P2); at most one answer follows.' },
  proxy_stream_data: { spec: '§2.6', agent: 'ignored', advertised: true, origin: 'upstream', summary: 'Unused by this agent (P5: upstream crashes on it after a 101); counted and ignored.' },
  proxy_websocket_start: { spec: '§4.1', agent: 'relay', advertised: true, origin: 'upstream', summary: 'Open a kubectl-style stream to the Kubernetes API (`stream_id` required).' },
  proxy_websocket_data: { spec: '§4.3', agent: 'relay', advertised: true, origin: 'upstream', summary: 'Stream data: base64 of [opcode][payload].' },
  proxy_websocket_close: { spec: '§4.4', agent: 'relay', advertised: true, origin: 'upstream', summary: 'Close a stream (id: `request_id` ▸ `stream_id` ▸ top-level `request_id`).' },
  ws_start: { spec: '§4.1', agent: 'relay', advertised: true, origin: 'upstream', aliasOf: 'proxy_websocket_start', summary: 'Alias of `proxy_websocket_start`.' },
  ws_data: { spec: '§4.3', agent: 'relay', advertised: true, origin: 'upstream', aliasOf: 'proxy_websocket_data', summary: 'Alias of `proxy_websocket_data`.' },
  ws_close: { spec: '§4.4', agent: 'relay', advertised: true, origin: 'upstream', aliasOf: 'proxy_websocket_close', summary: 'Alias of `proxy_websocket_close`.' },
  error: { spec: '§2.6', agent: 'session', advertised: true, origin: 'upstream', summary: '`error` text; "not registered" or "cluster not found" make the agent register again (L2).' },
  gateway_hello: { spec: '§5.1', agent: 'session', advertised: false, origin: 'upstream', summary: 'Yamux offer on the gateway socket; this agent continues with the JSON protocol.' },
  tcp_tunnel_start: { spec: '§5.4', agent: 'refused', advertised: false, origin: 'upstream', summary: 'JSON L4 tunnel: answered `tcp_tunnel_close` `tunnels_disabled` (T1).' },
  tcp_tunnel_data: { spec: '§5.4', agent: 'refused', advertised: false, origin: 'upstream', summary: 'JSON L4 tunnel: answered `tcp_tunnel_close` `tunnels_disabled` (T1).' },
  tcp_tunnel_close: { spec: '§5.4', agent: 'ignored', advertised: false, origin: 'upstream', summary: 'JSON L4 tunnel close: nothing to close.' },
  udp_tunnel_data: { spec: '§5.4', agent: 'ignored', advertised: false, origin: 'upstream', summary: 'JSON L4 datagram: counted `tunnels_disabled` and dropped.' },
  proxy_window: { spec: 'flow-control.ts', agent: 'relay', advertised: false, origin: 'ours', summary: 'Credit for a request\'s binary response chunks (`increment`, bytes; negotiated `binary_chunks`).' },
  frame_batches: { spec: 'frame-batch.ts', agent: 'session', advertised: false, origin: 'ours', summary: 'The control plane accepts frame batches on this socket (sent once, to agents that list `frame_batches`): the agent may put several binary messages in one.' },
} as const satisfies Record<HubToAgentType, ToAgentInfo>;

/** Agent → hub (control plane). */
export const AGENT_TO_HUB = {
  register: { spec: '§2.5.1', hub: 'endpoint', origin: 'upstream', summary: 'Controller socket only; answered `register_success` with the same request id, or `error`.' },
  heartbeat: { spec: '§7', hub: 'endpoint', origin: 'upstream', summary: 'Cluster status; answered `heartbeat_ack`, or `error` "cluster not found".' },
  ping: { spec: '§2.4', hub: 'endpoint', origin: 'upstream', summary: 'Answered with `pong` (same request id); this agent never sends a JSON ping.' },
  pong: { spec: '§2.4', hub: 'endpoint', origin: 'upstream', summary: 'Answer to a JSON `ping`.' },
  protocol_fallback: { spec: '§2.5.8', hub: 'endpoint', origin: 'upstream', summary: 'The agent did not understand a type (once per type per session); logged.' },
  gateway_hello_ack: { spec: '§5.1', hub: 'unused', origin: 'upstream', summary: 'Yamux acceptance; this agent never sends it.' },
  proxy_response: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'A whole answer: `status`, `headers`, `body` (base64 or base64 gzip per `encoding`).' },
  proxy_error: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'The request failed: `error` text.' },
  proxy_response_header: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'Start of a streamed answer: `status`, `headers`.' },
  proxy_response_chunk: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'A piece of a streamed answer (`data`, base64).' },
  proxy_response_end: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'End of a streamed answer.' },
  proxy_response_abort: { spec: '§3.5', hub: 'answer', origin: 'upstream', summary: 'A streamed answer broke after its header: `error` text.' },
  proxy_websocket_data: { spec: '§4.3', hub: 'stream', origin: 'upstream', summary: 'Stream data: base64 of [opcode][payload].' },
  proxy_websocket_close: { spec: '§4.4', hub: 'stream', origin: 'upstream', summary: 'The stream ended (`code`, `reason` when known).' },
  backpressure: { spec: '§3.8', hub: 'unused', origin: 'upstream', summary: 'A stream\'s queue toward its backend is full (`reason: "channel_full"`).' },
  tcp_tunnel_data: { spec: '§5.4', hub: 'unused', origin: 'upstream', summary: 'JSON L4 tunnel data; this agent never sends it.' },
  tcp_tunnel_close: { spec: '§5.4', hub: 'unused', origin: 'upstream', summary: 'JSON L4 tunnel refused or closed (`reason`, `error`).' },
  udp_tunnel_data: { spec: '§5.4', hub: 'unused', origin: 'upstream', summary: 'JSON L4 datagram; this agent never sends it.' },
} as const satisfies Record<AgentToHubType, ToHubInfo>;

const toAgentEntries = Object.entries(HUB_TO_AGENT) as [HubToAgentType, ToAgentInfo][];

/** Upstream's `supported_types` list, in upstream's order, as the agent sends it in `protocol_fallback` (§2.5.8). */
export const SUPPORTED_INBOUND_TYPES: readonly HubToAgentType[] = toAgentEntries.filter(([, i]) => i.advertised).map(([t]) => t);

/** Every type the agent dispatches (no `protocol_fallback` for these): metric label values besides `other`. */
export const AGENT_INBOUND_TYPES: ReadonlySet<string> = new Set(toAgentEntries.map(([t]) => t));

/** Types the agent's session handles itself (src/tunnel/control-handlers.ts); the others go to the relays' dispatcher. */
export type SessionType = { [K in HubToAgentType]: (typeof HUB_TO_AGENT)[K]['agent'] extends 'session' ? K : never }[HubToAgentType];
/** Types the relays' dispatcher handles, refuses or ignores (src/tunnel/dispatch.ts). */
export type RelayType = Exclude<HubToAgentType, SessionType>;

export function isHubToAgentType(t: string): t is HubToAgentType {
  return Object.hasOwn(HUB_TO_AGENT, t);
}

/** A type for the relays' dispatcher: known, and not one the session handles itself. */
export function isRelayType(t: string): t is RelayType {
  return isHubToAgentType(t) && HUB_TO_AGENT[t].agent !== 'session';
}

/** Agent → hub types that answer a `proxy_request` (the hub's exchange dispatcher). */
export type AnswerType = { [K in AgentToHubType]: (typeof AGENT_TO_HUB)[K]['hub'] extends 'answer' ? K : never }[AgentToHubType];

export function isAnswerType(t: string): t is AnswerType {
  return isAgentToHubType(t) && AGENT_TO_HUB[t].hub === 'answer';
}

export function isAgentToHubType(t: string): t is AgentToHubType {
  return Object.hasOwn(AGENT_TO_HUB, t);
}
