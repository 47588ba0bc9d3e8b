// The two ways an answer travels back (protocol.md §3.5–3.7): one buffered message (JSON, or a binary frame
// at ≥ 10 KiB, gzip when it helps) or a stream of header/chunk/end messages. Both respect the socket's
// bufferedAmount: above the high-water mark the writer waits, so the backend read pauses (TCP backpressure)
// instead of queueing without limit, and other requests, pings and heartbeats keep flowing.
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { encodeIdFrameParts, encodeResponseFrame } from '../protocol/binary-frame.ts';
import { shouldCompress } from '../protocol/compression.ts';
import { type HeaderMap, headerValue } from '../protocol/http-headers.ts';
import { ProxyOut } from '../protocol/proxy-messages.ts';
import type { CreditWindow } from '../protocol/flow-control.ts';
import type { ProxyResponsePayload } from '../protocol/wire-messages.ts';
import { drained } from '../timing/drain.ts';
import { schedulerFor } from './outbound-scheduler.ts';
import type { SessionConnection } from './session.ts';
import { runtime } from '#runtime';

export interface WriterLimits {
  binaryThreshold: number;
  gzipMinBytes: number;
  highWaterBytes: number;
}

export type ResponseEncoding = 'json' | 'json_gzip' | 'binary' | 'binary_gzip' | 'stream' | 'empty';

export interface BufferedResult {
  encoding: ResponseEncoding;
  wireBytes: number;
  rawBytes: number;
  gzipSavedBytes: number;
}

/**
 * Wait until the tunnel socket's send buffer is below the mark (or the socket is gone / the request aborted). The
 * client WebSocket has no drain event on Bun: drained() paces its checks by the observed drain rate.
 */
async function drain(conn: SessionConnection, highWater: number, signal?: AbortSignal): Promise<void> {
  await drained(conn, highWater, signal);
}

const gzipAsync = promisify(gzipCb);
/** Bodies above this are compressed off the worker's event loop, so other requests keep flowing meanwhile. */
const GZIP_INLINE_MAX = 256 * 1024;

export async function gzip(body: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  // Level 6 up to 4 MiB (best ratio where it matters most), level 1 above (3× faster, bun-notes §8).
  const level = body.length > 4 << 20 ? 1 : 6;
  if (body.length <= GZIP_INLINE_MAX) return runtime.gzip(body, level);
  const z = await gzipAsync(body, { level });
  return new Uint8Array(z.buffer, z.byteOffset, z.byteLength) as Uint8Array<ArrayBuffer>;
}

/**
 * One buffered answer. Synchronous (a plain result, no promise) when nothing has to wait: no gzip and the socket
 * below its mark, i.e. nearly every small answer; a promise otherwise (issue 14: an async call and its await per
 * request were measurable at c=64). Callers `await` either.
 */
export function writeBuffered(
  conn: SessionConnection,
  requestId: string,
  status: number,
  headers: HeaderMap | null,
  body: Uint8Array<ArrayBuffer>,
  limits: WriterLimits,
): BufferedResult | Promise<BufferedResult> {
  const rawBytes = body.length;
  // The size first (shouldCompress's own first test): below it the header map is not searched at all.
  const compressible = headers !== null && rawBytes >= limits.gzipMinBytes && shouldCompress(headerValue(headers, 'content-type'), headerValue(headers, 'content-encoding'), rawBytes, limits.gzipMinBytes);
  if (!compressible && conn.bufferedAmount <= limits.highWaterBytes) return sendBuffered(conn, requestId, status, headers, body, body, limits);
  return writeBufferedLater(conn, requestId, status, headers, body, limits, compressible);
}

async function writeBufferedLater(
  conn: SessionConnection,
  requestId: string,
  status: number,
  headers: HeaderMap | null,
  body: Uint8Array<ArrayBuffer>,
  limits: WriterLimits,
  compressible: boolean,
): Promise<BufferedResult> {
  let payload = body;
  if (compressible) {
    const z = await gzip(body);
    if (z.length < body.length) payload = z;
  }
  if (conn.bufferedAmount > limits.highWaterBytes) await drain(conn, limits.highWaterBytes);
  return sendBuffered(conn, requestId, status, headers, body, payload, limits);
}

/** `payload` is `body` or its gzip (recognised as such when it is not `body` itself). */
function sendBuffered(conn: SessionConnection, requestId: string, status: number, headers: HeaderMap | null, body: Uint8Array<ArrayBuffer>, payload: Uint8Array<ArrayBuffer>, limits: WriterLimits): BufferedResult {
  const rawBytes = body.length;
  const gzipped = payload !== body;
  const saved = gzipped ? rawBytes - payload.length : 0;
  if (rawBytes >= limits.binaryThreshold) {
    const frame = encodeResponseFrame(requestId, status, headers, payload);
    if (conn.sendBinary(frame)) return { encoding: gzipped ? 'binary_gzip' : 'binary', wireBytes: frame.length, rawBytes, gzipSavedBytes: saved };
    // Upstream falls back to JSON when the binary send fails.
  }
  const msg: ProxyResponsePayload = { status, headers };
  if (rawBytes > 0) {
    msg.body = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64');
    msg.encoding = gzipped ? 'gzip' : 'base64';
  }
  conn.send({ type: 'proxy_response', payload: msg, requestId });
  return { encoding: rawBytes === 0 ? 'empty' : gzipped ? 'json_gzip' : 'json', wireBytes: rawBytes ? (msg.body as string).length : 0, rawBytes, gzipSavedBytes: saved };
}

/** Max bytes per `proxy_response_chunk`, as upstream's 32 KiB read buffer. */
export const STREAM_CHUNK_BYTES = 32 * 1024;
/** Max bytes per binary chunk frame (negotiated `binary_chunks`). */
export const BINARY_CHUNK_BYTES = 256 * 1024;

/**
 * Relay body parts as binary chunk frames (negotiated `binary_chunks`): each read is sent as soon as it
 * arrives (split at BINARY_CHUNK_BYTES). `first` are parts already read (a buffered response that switched to
 * streaming); they are coalesced into full chunks.
 */
/**
 * Spare buffers for bulk chunk frames (a frame of up to BINARY_CHUNK_BYTES and an id of up to 256 bytes). A frame
 * built in one goes back here once the scheduler handed it to the socket, whose `send` copies it (FrameSink), or once
 * it was dropped unsent. Without them every 256 KiB frame was a fresh 256 KiB allocation besides the body chunk fetch
 * itself allocates, so the tunnel worker collected every ≈ 3 MiB of a download (issue 14: GC pauses of 0.4–4 ms in
 * small requests' way). Bounded: at most MAX_SPARE_FRAMES kept; more frames in flight at once allocate as before.
 */
const SPARE_FRAME_BYTES = 2 + 256 + BINARY_CHUNK_BYTES;
const MAX_SPARE_FRAMES = 4;
const spareFrames: Uint8Array<ArrayBuffer>[] = [];

/** A frame buffer for a bulk frame of `n` bytes: a spare one, or a new one kept after use; null below 64 KiB. */
function takeSpareFrame(n: number): Uint8Array<ArrayBuffer> | null {
  if (n < 64 * 1024 || n > SPARE_FRAME_BYTES) return null;
  return spareFrames.pop() ?? new Uint8Array(SPARE_FRAME_BYTES);
}

function giveBackFrame(b: Uint8Array<ArrayBuffer> | null): void {
  if (b && spareFrames.length < MAX_SPARE_FRAMES) spareFrames.push(b);
}

/** Spare bulk frame buffers kept now (tests). */
export function spareFrameCount(): number {
  return spareFrames.length;
}

export async function writeBinaryChunks(
  conn: SessionConnection,
  requestId: string,
  first: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array> | null,
  signal: AbortSignal,
  window: CreditWindow,
): Promise<number> {
  let total = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (!pendingBytes) return;
    const parts = pending;
    const n = pendingBytes;
    pending = [];
    pendingBytes = 0;
    await window.take(n, signal);
    if (signal.aborted) throw signal.reason ?? new Error('cancelled');
    // Through the writer's scheduler: behind control and small messages, round-robin with other streams.
    // The frame is built from the parts directly (no concatenation first), in a spare buffer when it is large.
    const spare = takeSpareFrame(n + 2 + requestId.length * 3);
    try {
      await schedulerFor(conn).sendBulk(requestId, encodeIdFrameParts(requestId, parts, spare ?? undefined), signal);
    } finally {
      giveBackFrame(spare);
    }
    total += n;
  };
  const add = async (part: Uint8Array) => {
    // Cut where the frame fills up, so that no frame exceeds BINARY_CHUNK_BYTES.
    for (let off = 0; off < part.length; ) {
      const slice = part.subarray(off, off + BINARY_CHUNK_BYTES - pendingBytes);
      pending.push(slice);
      pendingBytes += slice.length;
      off += slice.length;
      if (pendingBytes >= BINARY_CHUNK_BYTES) await flush();
    }
  };
  for (const p of first) await add(p);
  if (reader)
    for (;;) {
      if (signal.aborted) throw signal.reason ?? new Error('cancelled');
      const { value, done } = await reader.read();
      if (done) break;
      if (!value?.length) continue;
      // Whatever a read returns goes out now: a watch event must not wait for the next one to fill a chunk.
      await add(value);
      await flush();
    }
  await flush();
  return total;
}

/** Relay a body as proxy_response_chunk messages; returns bytes relayed. Throws when the read fails. */
export async function writeStream(
  conn: SessionConnection,
  requestId: string,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limits: WriterLimits,
  signal: AbortSignal,
): Promise<number> {
  let total = 0;
  for (;;) {
    await drain(conn, limits.highWaterBytes, signal);
    if (signal.aborted) throw signal.reason ?? new Error('cancelled');
    const { value, done } = await reader.read();
    if (done) return total;
    if (!value?.length) continue;
    for (let off = 0; off < value.length; off += STREAM_CHUNK_BYTES) {
      const part = value.subarray(off, off + STREAM_CHUNK_BYTES);
      if (!conn.send({ type: 'proxy_response_chunk', payload: ProxyOut.chunk(part), requestId })) throw new Error('tunnel connection lost');
      total += part.length;
    }
  }
}
