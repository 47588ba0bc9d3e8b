// Builds the `proxy_request` the hub sends to an agent for one kubectl request (protocol.md §3.1, §3.2). Pure.
//
// Request body rule (one rule, always): the gateway reads the whole client body first (bounded by
// MAX_REQUEST_BODY; Kubernetes itself refuses bodies over 3 MiB), then
//   * empty              → no `body` key;
//   * ≤ INLINE_BODY_MAX  → `body` = base64, `body_encoding: "base64"`;
//   * larger             → `body_binary: true`, `body_size`, and the binary request frame (§3.2) that the caller
//                          must send right after the JSON message on the same socket.
// Streamed request bodies (`use_streaming` + `proxy_request_chunk`) are not used: every Kubernetes request has a
// bounded body, and a buffered body keeps the agent's read loop free (deviation P4).
import { encodeRequestBodyFrame } from '../../protocol/binary-frame.ts';
import { canonicalHeaderName, forwardRequestHeaders, type HeaderMap } from '../../protocol/http-headers.ts';

export const INLINE_BODY_MAX = 256 * 1024;
export const MAX_REQUEST_BODY = 64 * 1024 * 1024;

/**
 * Client headers the agent must not see: the user's hub token (replaced by the cluster's ServiceAccount
 * token), Host (the agent would try it against its ingress route cache, §3.4 step 1), the body framing (the
 * agent's HTTP client recomputes it), and Accept-Encoding (the tunnel compresses on its own, §3.7; the hub
 * answers the client with an identity body and a correct Content-Length).
 */
const DROP = ['authorization', 'host', 'x-forwarded-host', 'content-length', 'accept-encoding', 'expect'];

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
  payload: Record<string, unknown>;
  /** Binary request frame to send immediately after the JSON message, or null. */
  frame: Uint8Array<ArrayBuffer> | null;
}

/** rawHeaders → map with Go-canonical names, values in arrival order. */
export function rawHeadersToMap(raw: readonly string[]): HeaderMap {
  const out: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = canonicalHeaderName(raw[i]!);
    const list = out[name] ?? [];
    list.push(raw[i + 1]!);
    out[name] = list;
  }
  return out;
}

export function buildProxyRequest(i: OutboundInput): OutboundRequest {
  const headers = forwardRequestHeaders(rawHeadersToMap(i.rawHeaders), { drop: DROP });
  if (i.serviceToken) headers.Authorization = [`Bearer ${i.serviceToken}`];
  const payload: Record<string, unknown> = {
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
    frame = encodeRequestBodyFrame(i.requestId, i.body);
  } else if (i.body.length > 0) {
    payload.body = Buffer.from(i.body.buffer, i.body.byteOffset, i.body.byteLength).toString('base64');
    payload.body_encoding = 'base64';
  }
  return { payload, frame };
}
