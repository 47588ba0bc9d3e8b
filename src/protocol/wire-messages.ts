// The outbound side of the wire, typed: every JSON message either end may send, as a discriminated union per
// direction (`AgentToHub`, `HubToAgent`). Both ends send through `send(m)`, so a misspelt type or field fails to
// compile where it is written. The receivers still validate (envelope.ts, proxy-messages.ts, response-decoders.ts):
// these types say what we send, not what a peer may send us. Each message's meaning and handling is in
// message-table.ts (the one list of message types) and docs/protocol-messages.md, generated from it.
import type { RegisterPayload, RegisterSuccess } from './control-messages.ts';
import { encodeEnvelope } from './envelope.ts';
import type { HeaderMap } from './http-headers.ts';

/** `proxy_request` as sent on the wire (§3.1): every key optional, aliases excluded (we send the canonical names). */
export interface ProxyRequestPayload {
  method?: string;
  path?: string;
  query?: string;
  headers?: HeaderMap;
  /** base64 when `body_encoding: "base64"`. */
  body?: string;
  body_encoding?: 'base64';
  /** The body follows as the next binary id frame (binary-frame.ts). */
  body_binary?: true;
  body_size?: number;
  /** The body follows as `proxy_request_chunk`s until `proxy_request_stream_end` (§3.3). */
  use_streaming?: true;
  supports_response_streaming?: boolean;
  service_name?: string;
  namespace?: string;
  service_port?: number;
  is_websocket?: boolean;
  /** RFC 3339 absolute deadline; wins over `timeout`. */
  deadline?: string;
  /** Milliseconds, or a Go duration string. */
  timeout?: number | string;
  /** Negotiated extensions (extensions.ts). */
  binary_chunks?: true;
  raw_upgrade?: true;
  raw_frames?: true;
}

/** `proxy_websocket_start` / `ws_start` (§4.1): a kubectl-style stream to the Kubernetes API. */
export interface StreamStartPayload {
  stream_id: string;
  method?: string;
  path: string;
  query?: string;
  protocol?: string;
  headers?: HeaderMap;
  raw_frames?: true;
}

/** `proxy_websocket_data` (both directions): `data` = base64 of [opcode][payload] (stream-messages.ts). */
export interface StreamDataPayload {
  stream_id: string;
  /** Sent beside `stream_id` by the application relay (§3.8), where upstream reads `request_id` first. */
  request_id?: string;
  data: string;
  message_type?: number;
}

/** `proxy_websocket_close` (both directions). */
export interface StreamClosePayload {
  stream_id: string;
  request_id?: string;
  code?: number;
  reason?: string;
}

export type Empty = Record<string, never>;

/** Payload of each message type the hub (a control plane) sends to an agent. */
export interface HubToAgentPayloads {
  register_success: RegisterSuccess;
  register_in_progress: Record<string, unknown>;
  heartbeat_ack: { cluster_id: string; received_at: string };
  /** `pipeops_*`: ours, src/protocol/yamux-hello.ts. */
  gateway_hello: { use_yamux?: boolean; yamux_config?: Record<string, unknown>; pipeops_yamux_framing?: string; pipeops_udp_datagrams?: string };
  ping: Empty;
  pong: { timestamp: string };
  /** Re-registration is triggered by "not registered" / "cluster not found" (§2.7, L2). */
  error: { error: string; cluster_uuid?: string };
  proxy_request: ProxyRequestPayload;
  proxy_request_chunk: { data: string };
  proxy_request_stream_end: Empty;
  proxy_cancel: Empty;
  proxy_window: { increment: number };
  /** Ours (src/protocol/frame-batch.ts): sent once per socket, to agents that list `frame_batches`. */
  frame_batches: Empty;
  proxy_stream_data: { data: string };
  proxy_websocket_start: StreamStartPayload;
  ws_start: StreamStartPayload;
  proxy_websocket_data: StreamDataPayload;
  ws_data: StreamDataPayload;
  proxy_websocket_close: StreamClosePayload;
  ws_close: StreamClosePayload;
  tcp_tunnel_start: Record<string, unknown>;
  tcp_tunnel_data: Record<string, unknown>;
  tcp_tunnel_close: Record<string, unknown>;
  udp_tunnel_data: Record<string, unknown>;
}

/** `protocol_fallback` (§2.5.8): upstream's literal values, our list of supported types. */
export interface ProtocolFallbackPayload {
  agent_version: 'pipeops-k8-agent';
  unknown_type: string;
  supported_types: string[];
  fallback_mode: 'legacy_proxy';
  protocol_version: '1.0';
  timestamp: string;
  original_request_id?: string;
}

/** `proxy_response` (§3.5): `body` base64 (`encoding: "base64"`) or base64(gzip) (`encoding: "gzip"`), absent when empty. */
export interface ProxyResponsePayload {
  status: number;
  headers: HeaderMap | null;
  body?: string;
  encoding?: 'base64' | 'gzip';
}

/** Payload of each message type an agent sends to the hub. */
export interface AgentToHubPayloads {
  register: RegisterPayload;
  /** Built by src/heartbeat/payload.ts (HeartbeatPayloadSchema, open-ended by design). */
  heartbeat: Record<string, unknown>;
  ping: Empty;
  pong: { timestamp: string };
  protocol_fallback: ProtocolFallbackPayload;
  gateway_hello_ack: { use_yamux: boolean; pipeops_yamux_framing?: string; pipeops_udp_datagrams?: string };
  proxy_response: ProxyResponsePayload;
  /** `request_id` repeated inside by some senders (upstream's stream errors). */
  proxy_error: { error: string; request_id?: string };
  proxy_response_header: { status: number; headers: HeaderMap | null };
  proxy_response_chunk: { data: string; encoding: 'base64'; size: number };
  proxy_response_end: Empty;
  proxy_response_abort: { error: string };
  proxy_websocket_data: StreamDataPayload;
  proxy_websocket_close: StreamClosePayload;
  backpressure: { request_id: string; reason: string };
  tcp_tunnel_data: Record<string, unknown>;
  tcp_tunnel_close: { reason: string; error?: string; bytes_sent?: number; bytes_received?: number; duration_ms?: number };
  udp_tunnel_data: Record<string, unknown>;
}

export type HubToAgentType = keyof HubToAgentPayloads;
export type AgentToHubType = keyof AgentToHubPayloads;

/** One message: `requestId` is the envelope's top-level `request_id` (omitted when empty). */
type MessageOf<P> = { [K in keyof P]: { type: K; payload: P[K]; requestId?: string } }[keyof P];

export type HubToAgent = MessageOf<HubToAgentPayloads>;
export type AgentToHub = MessageOf<AgentToHubPayloads>;

/** The JSON envelope text of an outbound message (envelope.ts). */
export function encodeMessage(m: HubToAgent | AgentToHub, now?: Date): string {
  return encodeEnvelope(m.type, m.payload as Record<string, unknown>, m.requestId, now);
}
