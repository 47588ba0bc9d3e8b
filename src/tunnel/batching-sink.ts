// The agent's writer side of frame batches (src/protocol/frame-batch.ts): in front of the socket, once the control
// plane accepted them (`frame_batches`), the small binary messages written in one event-loop turn wait and leave
// together at the end of the turn (`setImmediate`), as one message. Anything else (a text message, a large binary
// one) first sends what waits, so the order on the wire is the order of the writes. Until enabled it passes every
// write through at once, as the socket itself would.
import { setImmediate } from 'node:timers';
import { FrameBatchBuilder, MAX_BATCHED_MESSAGE_BYTES } from '../protocol/frame-batch.ts';
import type { FrameSink } from './transport.ts';

export class BatchingSink implements FrameSink {
  readonly #inner: FrameSink;
  readonly #batch = new FrameBatchBuilder();
  #enabled = false;
  #scheduled = false;
  /** Batches (of two messages or more) sent, and the messages in them: diagnostics and tests. */
  batches = 0;
  batchedMessages = 0;
  readonly #flushLater = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(inner: FrameSink) {
    this.#inner = inner;
  }

  /** The control plane accepts frame batches on this socket. */
  enable(): void {
    this.#enabled = true;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  send(data: string | Uint8Array<ArrayBuffer> | ArrayBuffer): void {
    if (this.#enabled && typeof data !== 'string') {
      const m = data instanceof Uint8Array ? data : new Uint8Array(data);
      if (m.length > 0 && m.length <= MAX_BATCHED_MESSAGE_BYTES && this.#inner.open) {
        if (!this.#batch.fits(m.length)) this.flush();
        this.#batch.add(m);
        if (!this.#scheduled) {
          this.#scheduled = true;
          setImmediate(this.#flushLater);
        }
        return;
      }
    }
    this.flush();
    this.#inner.send(data);
  }

  /** Send what waits now (before a close, or before a write that must not overtake it). */
  flush(): void {
    const n = this.#batch.count;
    const out = this.#batch.take();
    if (!out) return;
    if (n > 1) {
      this.batches++;
      this.batchedMessages += n;
    }
    if (this.#inner.open) this.#inner.send(out);
  }

  /** The socket's queue plus what waits here (the bulk scheduler's low-water mark sees both). */
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount + this.#batch.bytes;
  }

  get open(): boolean {
    return this.#inner.open;
  }
}
