// Binary WebSocket frames of the HTTP proxy (protocol.md §3.2, §3.6). Big-endian lengths.
//
// Id frame: [u16 L][request id, L bytes][bytes]. Two uses, told apart by direction and state:
//   - a request body (hub → agent, the message right after a `proxy_request` with `body_binary: true`, §3.2);
//   - a response body chunk (agent → hub, after a `proxy_response_header`, negotiated `binary_chunks`,
//     credit in flow-control.ts).
// Response frame (agent → hub, buffered responses ≥ 10 KiB):
//   [u16 L][request id][u32 status][u32 H][headers JSON, H bytes][body, raw or gzip]
// The response frame has no encoding flag (P6): a gzip body is recognised by its magic bytes 1f 8b.

export type FrameResult<T> = { ok: true; value: T } | { ok: false; error: string };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export interface IdFrame {
  requestId: string;
  body: Uint8Array<ArrayBuffer>;
}

const SMALL_FRAME_BYTES = 16 << 10;

/**
 * A frame buffer of `n` bytes that spans its whole ArrayBuffer, not zero-filled: the encoder writes every byte.
 * `new Uint8Array(n)` zero-fills first: 18 against 14 µs to build a 256 KiB bulk chunk frame (issue 14).
 */
function frameBuffer(n: number): Uint8Array<ArrayBuffer> {
  // Small frames (every small answer): a plain typed array, whose zero fill costs nothing at that size, where
  // allocUnsafeSlow makes an ArrayBuffer of its own at 0.4–0.5 µs (issue 14).
  if (n <= SMALL_FRAME_BYTES) return new Uint8Array(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, n);
}

/** Throws RangeError for an id over 65535 UTF-8 bytes (our ids are short; that would be a bug, not input). */
export function encodeIdFrame(requestId: string, body: Uint8Array): Uint8Array<ArrayBuffer> {
  return encodeIdFrameParts(requestId, [body]);
}

/**
 * An id frame whose body is `parts` one after the other (one copy of each part, no concatenation first). With `into`
 * large enough the frame is written there and a view of it returned (a caller's reused buffer), else into a new one.
 */
export function encodeIdFrameParts(requestId: string, parts: readonly Uint8Array[], into?: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const id = enc.encode(requestId);
  if (id.length > 0xffff) throw new RangeError('request id longer than 65535 bytes');
  let n = 2 + id.length;
  for (const p of parts) n += p.length;
  const out = into && into.length >= n ? into.subarray(0, n) : frameBuffer(n);
  out[0] = id.length >> 8;
  out[1] = id.length & 0xff;
  out.set(id, 2);
  let off = 2 + id.length;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Never throws: a short or truncated frame, or an id that is not UTF-8, is an error value. */
export function decodeIdFrame(frame: Uint8Array<ArrayBuffer>): FrameResult<IdFrame> {
  if (frame.length < 2) return { ok: false, error: 'binary body frame shorter than its length prefix' };
  const l = (frame[0]! << 8) | frame[1]!;
  if (frame.length < 2 + l) return { ok: false, error: `binary body frame truncated: id length ${l}, frame ${frame.length} bytes` };
  let requestId: string;
  try {
    requestId = dec.decode(frame.subarray(2, 2 + l));
  } catch {
    return { ok: false, error: 'binary body frame request id is not UTF-8' };
  }
  return { ok: true, value: { requestId, body: frame.subarray(2 + l) } };
}

export interface ResponseFrame {
  requestId: string;
  status: number;
  headers: Record<string, string[]> | null;
  body: Uint8Array<ArrayBuffer>;
}

/** Big-endian, read byte by byte: a DataView needs `frame.buffer` (and is one more object per frame; issue 14). */
export function getUint32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Big-endian, written byte by byte (see getUint32). */
export function putUint32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

export function encodeResponseFrame(requestId: string, status: number, headers: Record<string, string[]> | null, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const id = enc.encode(requestId);
  if (id.length > 0xffff) throw new RangeError('request id longer than 65535 bytes');
  const h = enc.encode(JSON.stringify(headers && Object.keys(headers).length ? headers : null));
  const out = frameBuffer(2 + id.length + 8 + h.length + body.length);
  // Big-endian fields written byte by byte: a DataView needs `out.buffer`, which a small typed array only gets
  // (allocated) when asked for it (issue 14).
  out[0] = id.length >> 8;
  out[1] = id.length & 0xff;
  out.set(id, 2);
  putUint32(out, 2 + id.length, status);
  putUint32(out, 6 + id.length, h.length);
  out.set(h, 10 + id.length);
  out.set(body, 10 + id.length + h.length);
  return out;
}

/** `knownId`: the id the caller already read with frameRequestId (not decoded again). */
export function decodeResponseFrame(frame: Uint8Array<ArrayBuffer>, knownId?: string): FrameResult<ResponseFrame> {
  if (frame.length < 2) return { ok: false, error: 'response frame too short' };
  const l = (frame[0]! << 8) | frame[1]!;
  if (frame.length < 10 + l) return { ok: false, error: 'response frame truncated before its header length' };
  const hl = getUint32(frame, 6 + l);
  if (frame.length < 10 + l + hl) return { ok: false, error: 'response frame truncated inside its headers' };
  try {
    const requestId = knownId ?? dec.decode(frame.subarray(2, 2 + l));
    const headers = JSON.parse(dec.decode(frame.subarray(10 + l, 10 + l + hl))) as Record<string, string[]> | null;
    if (headers !== null && (typeof headers !== 'object' || Array.isArray(headers))) return { ok: false, error: 'response frame headers are not an object' };
    return { ok: true, value: { requestId, status: getUint32(frame, 2 + l), headers, body: frame.subarray(10 + l + hl) } };
  } catch (e) {
    return { ok: false, error: `response frame undecodable: ${(e as Error).message}` };
  }
}

/** Peek the request id of a binary frame without decoding the rest (both layouts start the same way). */
export function frameRequestId(frame: Uint8Array<ArrayBuffer>): string | null {
  if (frame.length < 2) return null;
  const l = (frame[0]! << 8) | frame[1]!;
  if (frame.length < 2 + l) return null;
  try {
    return dec.decode(frame.subarray(2, 2 + l));
  } catch {
    return null;
  }
}

export function isGzip(body: Uint8Array): boolean {
  return body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
}
