// What a stream receives before its backend connection is open, bounded like a streamed request body
// (request-body.ts): past the bound nothing more is queued and the caller fails the stream with a clear error,
// instead of holding whatever the control plane sends while a backend handshake hangs.

/** Counted per queued item on top of its bytes, so a flood of empty frames is bounded too. */
export const PRE_OPEN_ITEM_OVERHEAD = 64;

export class PreOpenQueue<T> {
  #items: T[] = [];
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held (payloads plus the per-item overhead). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Queue an item of `bytes` payload. False, queuing nothing, when that would pass the bound. */
  push(item: T, bytes: number): boolean {
    const next = this.#bytes + bytes + PRE_OPEN_ITEM_OVERHEAD;
    if (next > this.maxBytes) return false;
    this.#items.push(item);
    this.#bytes = next;
    return true;
  }

  /** Everything queued, in order; the queue is empty afterwards. */
  take(): T[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }

  /** The error a stream fails with when `push` refused. */
  overflowMessage(): string {
    return `more than ${this.maxBytes} bytes sent before the backend connection opened; stream closed`;
  }
}
