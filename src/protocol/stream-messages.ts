// WebSocket and stream relay messages (protocol.md §3.8, §4; deviations W1–W5).
//
// Data travels as `proxy_websocket_data` (alias `ws_data`) with `data` = base64 of [1-byte opcode][payload]
// (1 text, 2 binary, 8 close, 9 ping, 10 pong) in both directions.
//
// Stream ids: for `proxy_websocket_start`/`ws_start` the id is `payload.stream_id` (required); for upgrades that
// arrive as `proxy_request` the id is the request id. Inbound data/close resolve the id as
// `payload.request_id` ▸ `payload.stream_id` ▸ top-level `request_id`.
//
// Negotiated extensions (ours; a control plane that does not send them gets upstream behaviour):
//  - `raw_frames: true` on `proxy_websocket_start`: relay WebSocket frames byte-exact (no channel translation,
//    W4), so kubectl keeps exit codes, stderr and v5 half-close.
//  - `raw_upgrade: true` on an upgrade `proxy_request`: the agent replays the HTTP upgrade request verbatim to
//    the target (Kubernetes API or Service) over TCP/TLS, answers `proxy_response` with the target's status and
//    headers (101 on success; the target's error otherwise, W2), then relays the upgraded connection's bytes
//    as opcode-2 `proxy_websocket_data` in both directions until `proxy_websocket_close`. Because the client's
//    handshake travels unchanged, this carries WebSocket (any subprotocol) and SPDY/3.1 alike — every
//    kubectl from 1.27 on.
import type { InboundMessage } from './envelope.ts';

export const OPCODE = { text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;
const OPCODES = new Set<number>(Object.values(OPCODE));

/** Default exec/attach/port-forward subprotocols offered when the control plane names none (W3: v5 first). */
export const DEFAULT_STREAM_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export function streamIdOf(m: InboundMessage): string | undefined {
  const p = m.payload;
  if (typeof p.request_id === 'string' && p.request_id) return p.request_id;
  if (typeof p.stream_id === 'string' && p.stream_id) return p.stream_id;
  return m.requestId;
}

export interface Frame {
  opcode: number;
  payload: Uint8Array;
}

/**
 * Decode inbound `data`. With `normalise` (application relay, §3.8 step 6): when the first byte is not an opcode
 * and `message_type` is, the payload is raw and the opcode comes from `message_type`.
 */
export function decodeFrameData(p: Record<string, unknown>, normalise: boolean): Frame | string {
  if (typeof p.data !== 'string') return 'data must be a base64 string';
  const bytes = new Uint8Array(Buffer.from(p.data, 'base64'));
  const mt = typeof p.message_type === 'number' ? p.message_type : undefined;
  if (bytes.length === 0) return mt !== undefined && OPCODES.has(mt) ? { opcode: mt, payload: bytes } : 'empty data without message_type';
  if (OPCODES.has(bytes[0]!)) return { opcode: bytes[0]!, payload: bytes.subarray(1) };
  if (normalise && mt !== undefined && OPCODES.has(mt)) return { opcode: mt, payload: bytes };
  return `first byte ${bytes[0]} is not a WebSocket opcode`;
}

export function encodeFrameData(opcode: number, payload: Uint8Array): string {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = opcode;
  out.set(payload, 1);
  return out.toString('base64');
}

/** Channel translation (upstream default, §4.3): is this subprotocol a Kubernetes channel protocol? */
export function isChannelProtocol(p: string): boolean {
  return p === 'channel.k8s.io' || p.endsWith('.channel.k8s.io');
}

/** Path rules of `proxy_websocket_start` (§4.1): a Kubernetes API path, no %, \, CR, LF; `..` removed, `//` collapsed. */
export function sanitiseStreamPath(path: string): string | null {
  if (!path || /[%\\\r\n]/.test(path)) return null;
  const cleaned = path.replace(/\.\./g, '').replace(/\/{2,}/g, '/');
  const ok = ['/api/', '/apis/', '/version', '/healthz', '/readyz', '/livez', '/openapi/'].some((p) => cleaned.startsWith(p)) || cleaned === '/api' || cleaned === '/apis';
  return ok ? cleaned : null;
}

/** Largest close reason a WebSocket close frame carries (RFC 6455 §5.5: 125-byte control payload − 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Codes an endpoint may send (RFC 6455 §7.4): 1000–1003, 1007–1014, 3000–4999; not 1004–1006, 1015 or unassigned ones. */
export function isSendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/**
 * The arguments for `WebSocket.close()` from a relayed close frame's payload (`[u16 code][reason]`): a code
 * the runtime refuses becomes 1000, and the reason is cut to 123 UTF-8 bytes on a character boundary.
 */
export function closeFrameArgs(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1000, reason: '' };
  const raw = (payload[0]! << 8) | payload[1]!;
  let reason = Buffer.from(payload.buffer, payload.byteOffset + 2, Math.min(payload.length - 2, MAX_CLOSE_REASON_BYTES)).toString('utf8');
  // A multi-byte character cut in half decodes as U+FFFD (3 bytes): trim whole characters until it fits.
  while (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
  return { code: isSendableCloseCode(raw) ? raw : 1000, reason };
}
