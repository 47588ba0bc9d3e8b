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

export async function writeBuffered(
  conn: SessionConnection,
  requestId: string,
  status: number,
  headers: HeaderMap | null,
  body: Uint8Array<ArrayBuffer>,
  limits: WriterLimits,
): Promise<BufferedResult> {
  const rawBytes = body.length;
  const compressible = headers ? shouldCompress(headerValue(headers, 'content-type'), headerValue(headers, 'content-encoding'), rawBytes, limits.gzipMinBytes) : false;
  let payload = body;
  let gzipped = false;
  if (compressible) {
    const z = await gzip(body);
    if (z.length < body.length) {
      payload = z;
      gzipped = true;
    }
  }
  await drain(conn, limits.highWaterBytes);
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

/** Bytes read from the backend ahead of the frame being sent (per stream). */
export const READ_AHEAD_BYTES = 1 << 20;

/**
 * Relay body parts as binary chunk frames (negotiated `binary_chunks`). The backend is read ahead of the sender (up
 * to READ_AHEAD_BYTES), so the next read overlaps the wait for credit and for the socket instead of following it;
 * whatever has been read goes out as soon as there is credit and room (a watch event never waits for the next one),
 * at most BINARY_CHUNK_BYTES per frame. `first` are parts already read (a buffered response that switched to
 * streaming).
 */
export async function writeBinaryChunks(
  conn: SessionConnection,
  requestId: string,
  first: Uint8Array[],
  reader: ReadableStreamDefaultReader<Uint8Array> | null,
  signal: AbortSignal,
  window: CreditWindow,
): Promise<number> {
  const ahead = new ReadAhead(first, reader);
  let total = 0;
  try {
    for (;;) {
      const parts = await ahead.take(BINARY_CHUNK_BYTES);
      if (!parts) break;
      if (signal.aborted) throw signal.reason ?? new Error('cancelled');
      let n = 0;
      for (const p of parts) n += p.length;
      await window.take(n, signal);
      if (signal.aborted) throw signal.reason ?? new Error('cancelled');
      // Through the writer's scheduler: behind control and small messages, round-robin with other streams.
      await schedulerFor(conn).sendBulk(requestId, encodeIdFrameParts(requestId, parts), signal);
      total += n;
    }
  } finally {
    ahead.stop();
  }
  return total;
}

/** Reads a body into a bounded queue while the sender waits; `take` hands out up to n bytes of what was read. */
class ReadAhead {
  readonly #queue: Uint8Array[];
  #bytes = 0;
  #ended: boolean;
  #failure: { error: unknown } | null = null;
  /** The sender waits for data. */
  #dataWaiter: (() => void) | null = null;
  /** The reader waits for room. */
  #roomWaiter: (() => void) | null = null;
  #stopped = false;

  constructor(first: Uint8Array[], reader: ReadableStreamDefaultReader<Uint8Array> | null) {
    this.#queue = first.filter((p) => p.length > 0);
    for (const p of this.#queue) this.#bytes += p.length;
    this.#ended = reader === null;
    if (reader) void this.#pump(reader);
  }

  async #pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        while (this.#bytes >= READ_AHEAD_BYTES && !this.#stopped) await new Promise<void>((r) => (this.#roomWaiter = r));
        if (this.#stopped) return;
        const { value, done } = await reader.read();
        if (done) break;
        if (!value?.length) continue;
        this.#queue.push(value);
        this.#bytes += value.length;
        this.#wakeSender();
      }
    } catch (e) {
      this.#failure = { error: e };
    } finally {
      this.#ended = true;
      this.#wakeSender();
    }
  }

  #wakeSender(): void {
    const w = this.#dataWaiter;
    this.#dataWaiter = null;
    w?.();
  }

  /** Up to `max` bytes as parts (views, never copies), or null at the end of the body; throws the read's failure. */
  async take(max: number): Promise<Uint8Array[] | null> {
    while (!this.#queue.length) {
      if (this.#failure) throw this.#failure.error;
      if (this.#ended) return null;
      await new Promise<void>((r) => (this.#dataWaiter = r));
    }
    const out: Uint8Array[] = [];
    let n = 0;
    while (this.#queue.length && n < max) {
      const p = this.#queue[0]!;
      const room = max - n;
      if (p.length <= room) {
        out.push(p);
        this.#queue.shift();
        n += p.length;
      } else {
        out.push(p.subarray(0, room));
        this.#queue[0] = p.subarray(room);
        n += room;
      }
    }
    this.#bytes -= n;
    const w = this.#roomWaiter;
    this.#roomWaiter = null;
    w?.();
    return out;
  }

  /** The sender is done (or failed): the reader stops at its next turn. */
  stop(): void {
    this.#stopped = true;
    const w = this.#roomWaiter;
    this.#roomWaiter = null;
    w?.();
  }
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
