// Frame batches (our extension `frame_batches`, src/protocol/extensions.ts): several binary WebSocket messages of the
// agent in one, so the answers of one event-loop turn cost one WebSocket frame, one TLS record and one `send` instead
// of one each (issue 14: Bun's WebSocket client writes every message with its own `sendto`; measured at c=64, hub
// −3.0 and agent −1.6 µs of CPU per request). Agent → control plane only, and only once the control plane sent
// `frame_batches` on that socket; a Go control plane never does, so it never sees one.
//
//   [00 00 FF] then, repeated: [u32 L][one binary message, L ≥ 1 bytes]   (big-endian, at least one entry)
//
// The tag cannot begin any other binary message of the agent: an HTTP frame starts with its request id's length
// (u16, never 0); a tagged yamux message with 00 00 and then a yamux header, whose first byte is its version, 0; an
// untagged yamux frame's third byte is the high byte of its flags, which only use the low four bits.
import { getUint32, putUint32 } from './binary-frame.ts';

export const BATCH_TAG_BYTES = 3;
/** Messages larger than this go on their own (a batch is for many small answers, not for bulk). */
export const MAX_BATCHED_MESSAGE_BYTES = 16 << 10;
/** A batch is sent once it would grow beyond this. */
export const MAX_BATCH_BYTES = 64 << 10;

export function isFrameBatch(data: Uint8Array): boolean {
  return data.length > BATCH_TAG_BYTES && data[0] === 0 && data[1] === 0 && data[2] === 0xff;
}

/** The messages of a batch (views into `data`), or why it is malformed. */
export function splitFrameBatch(data: Uint8Array): { ok: true; value: Uint8Array[] } | { ok: false; error: string } {
  if (!isFrameBatch(data)) return { ok: false, error: 'not a frame batch (tag 00 00 ff)' };
  const out: Uint8Array[] = [];
  let o = BATCH_TAG_BYTES;
  while (o < data.length) {
    if (o + 4 > data.length) return { ok: false, error: `frame batch truncated: ${data.length - o} bytes where an entry length was expected` };
    const n = getUint32(data, o);
    o += 4;
    if (n === 0) return { ok: false, error: 'frame batch entry of length 0' };
    if (o + n > data.length) return { ok: false, error: `frame batch entry of ${n} bytes runs past the end (${data.length - o} left)` };
    const m = data.subarray(o, o + n);
    if (isFrameBatch(m)) return { ok: false, error: 'frame batch inside a frame batch' };
    out.push(m);
    o += n;
  }
  if (!out.length) return { ok: false, error: 'empty frame batch' };
  return { ok: true, value: out };
}

/**
 * Builds batches in one reused buffer. `add` copies the message (writers reuse their buffers once `send` returns);
 * `take` hands out the batch, or the lone message as it is when only one was added, and starts the next.
 */
export class FrameBatchBuilder {
  #buf: Uint8Array<ArrayBuffer> | null = null;
  #len = BATCH_TAG_BYTES;
  #count = 0;

  /** Messages waiting. */
  get count(): number {
    return this.#count;
  }

  /** Bytes waiting (what `take` would return, without the tag and lengths). */
  get bytes(): number {
    return this.#count ? this.#len - BATCH_TAG_BYTES - 4 * this.#count : 0;
  }

  /** Whether `n` more bytes fit in this batch. */
  fits(n: number): boolean {
    return this.#len + 4 + n <= MAX_BATCH_BYTES;
  }

  add(m: Uint8Array): void {
    const n = m.length;
    const b = (this.#buf ??= newBatchBuffer());
    const o = this.#len;
    putUint32(b, o, n);
    b.set(m, o + 4);
    this.#len = o + 4 + n;
    this.#count++;
  }

  /** The batch (or lone message) to send, a view valid until the next `add`; null when nothing waits. */
  take(): Uint8Array<ArrayBuffer> | null {
    if (!this.#count) return null;
    const b = this.#buf!;
    const out = this.#count === 1 ? b.subarray(BATCH_TAG_BYTES + 4, this.#len) : b.subarray(0, this.#len);
    this.#len = BATCH_TAG_BYTES;
    this.#count = 0;
    return out;
  }
}

function newBatchBuffer(): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(MAX_BATCH_BYTES);
  b[2] = 0xff;
  return b;
}
