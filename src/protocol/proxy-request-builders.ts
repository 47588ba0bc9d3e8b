// The `proxy_request`s the hub sends (protocol.md §3.1, §3.2), built in one place against one wire type
// (ProxyRequestPayload): a kubectl request, an app request of the public gateway, and a raw upgrade. Pure.
//
// kubectl request body rule (one rule, always): the gateway reads the whole client body first (bounded by
// MAX_REQUEST_BODY; Kubernetes itself refuses bodies over 3 MiB), then
//   * empty              → no `body` key;
//   * ≤ INLINE_BODY_MAX  → `body` = base64, `body_encoding: "base64"`;
//   * larger             → `body_binary: true`, `body_size`, and the binary request frame (§3.2) that the caller
//                          must send right after the JSON message on the same socket.
// Streamed request bodies (`use_streaming` + `proxy_request_chunk`) are not used: every Kubernetes request has a
// bounded body, and a buffered body keeps the agent's read loop free (deviation P4).
import { encodeIdFrame } from './binary-frame.ts';
import { forwardRawRequestHeaders, type HeaderMap } from './http-headers.ts';
import type { ProxyRequestPayload } from './wire-messages.ts';

export const INLINE_BODY_MAX = 256 * 1024;
export const MAX_REQUEST_BODY = 64 * 1024 * 1024;

/**
 * Client headers the agent must not see: the user's hub token (replaced by the cluster's ServiceAccount
 * token), Host (the agent would try it against its ingress route cache, §3.4 step 1), the body framing (the
 * agent's HTTP client recomputes it), and Accept-Encoding (the tunnel compresses on its own, §3.7; the hub
 * answers the client with an identity body and a correct Content-Length).
 */
export const KUBE_REQUEST_DROP = ['authorization', 'host', 'x-forwarded-host', 'content-length', 'accept-encoding', 'expect'];

export interface OutboundInput {
  requestId: string;
  method: string;
  path: string;
  query: string;
  /** node's `req.rawHeaders`: [name, value, name, value, …] with the client's casing. */
  rawHeaders: readonly string[];
  /** The cluster's ServiceAccount token (secret). Empty: no Authorization is sent. */
  serviceToken: string;
  body: Uint8Array;
  streaming: boolean;
  /** The session's agent advertised `binary_chunks` (src/protocol/extensions.ts). */
  binaryChunks: boolean;
}

export interface OutboundRequest {
  payload: ProxyRequestPayload;
  /** Binary request frame to send immediately after the JSON message, or null. */
  frame: Uint8Array<ArrayBuffer> | null;
}

/**
 * A kubectl request's payload as an object: the reference form. The kube gateway writes the same envelope as text in
 * one pass (ProxyRequestWriter, proxy-request-text.ts); test/protocol/proxy-request-text.test.ts holds the two equal.
 */
export function buildProxyRequest(i: OutboundInput): OutboundRequest {
  const headers = forwardRawRequestHeaders(i.rawHeaders, KUBE_REQUEST_DROP);
  if (i.serviceToken) headers.Authorization = [`Bearer ${i.serviceToken}`];
  const payload: ProxyRequestPayload = {
    method: i.method.toUpperCase(),
    path: i.path,
    query: i.query,
    headers,
    supports_response_streaming: i.streaming,
  };
  // Our extension (src/protocol/proxy-messages.ts), only for an agent that advertised it: large answers come as
  // binary chunk frames.
  if (i.binaryChunks) payload.binary_chunks = true;
  let frame: Uint8Array<ArrayBuffer> | null = null;
  if (i.body.length > INLINE_BODY_MAX) {
    payload.body_binary = true;
    payload.body_size = i.body.length;
    frame = encodeIdFrame(i.requestId, i.body);
  } else if (i.body.length > 0) {
    payload.body = Buffer.from(i.body.buffer, i.body.byteOffset, i.body.byteLength).toString('base64');
    payload.body_encoding = 'base64';
  }
  return { payload, frame };
}

export interface ServiceTarget {
  namespace: string;
  name: string;
  port: number;
}

export type AppBody = { kind: 'none' } | { kind: 'inline'; bytes: Uint8Array } | { kind: 'stream' };

/**
 * The public gateway's `proxy_request` for an app. Responses are always streamed (apps may answer with SSE or
 * long polls) in binary chunk frames with credit (`binary_chunks`, flow-control.ts); request bodies travel
 * inline when small and known, else as `proxy_request_chunk`s (`use_streaming`).
 */
export function appProxyRequest(r: {
  method: string;
  path: string;
  query: string;
  headers: HeaderMap;
  service: ServiceTarget;
  body: AppBody;
  /** The session's agent advertised `binary_chunks` (src/protocol/extensions.ts). */
  binaryChunks: boolean;
}): ProxyRequestPayload {
  const payload: ProxyRequestPayload = {
    method: r.method.toUpperCase(),
    path: r.path,
    query: r.query,
    headers: r.headers,
    ...serviceFields(r.service),
    supports_response_streaming: true,
  };
  if (r.binaryChunks) payload.binary_chunks = true;
  if (r.body.kind === 'inline' && r.body.bytes.length > 0) {
    payload.body = Buffer.from(r.body.bytes.buffer, r.body.bytes.byteOffset, r.body.bytes.byteLength).toString('base64');
    payload.body_encoding = 'base64';
  } else if (r.body.kind === 'stream') payload.use_streaming = true;
  return payload;
}

/** The fields that name a Service target (§3.4 rule 3). */
export function serviceFields(s: ServiceTarget): Pick<ProxyRequestPayload, 'service_name' | 'namespace' | 'service_port'> {
  return { service_name: s.name, namespace: s.namespace, service_port: s.port };
}

/**
 * An upgrade `proxy_request` with the negotiated raw upgrade (stream-messages.ts): the agent replays the request
 * to the Kubernetes API, or to the Service when `service` is given.
 */
export function rawUpgradeRequest(r: { method: string; path: string; query: string; headers: HeaderMap; service?: ServiceTarget }): ProxyRequestPayload {
  return { method: r.method, path: r.path, query: r.query, headers: r.headers, is_websocket: true, raw_upgrade: true, ...(r.service ? serviceFields(r.service) : {}) };
}

/** An app WebSocket `proxy_request` without raw upgrade (upstream's application relay, §3.8). */
export function appWebSocketRequest(r: { path: string; query: string; headers: HeaderMap; service: ServiceTarget }): ProxyRequestPayload {
  return { method: 'GET', path: r.path, query: r.query, headers: r.headers, ...serviceFields(r.service), is_websocket: true };
}
