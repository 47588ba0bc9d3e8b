// A streamed request body (protocol.md §3.3): chunks pushed from proxy_request_chunk messages, read by the
// backend fetch. The control plane has no flow control here, so the buffer is bounded (P4): past the bound
// the request fails with a clear error rather than holding unlimited memory or blocking the read loop.
export class RequestBodyStream {
  readonly stream: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  constructor(private readonly maxQueuedBytes: number) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.#controller = c;
        },
        // The reader gave up (the request was aborted, e.g. by an invalid chunk): later chunks and the end
        // message for this id must find the stream closed instead of enqueueing into a cancelled controller.
        cancel: () => {
          this.#closed = true;
        },
      },
      // With a zero high-water mark and byte sizing, -desiredSize is exactly the bytes queued and unread.
      { highWaterMark: 0, size: (c) => c?.byteLength ?? 0 },
    );
  }

  /** False once ended, failed or cancelled by its reader: nothing more is accepted. */
  get open(): boolean {
    return !this.#closed;
  }

  push(chunk: Uint8Array): void {
    if (this.#closed) return;
    const queued = -(this.#controller.desiredSize ?? 0);
    if (queued + chunk.byteLength > this.maxQueuedBytes) {
      this.fail(new Error(`streamed request body buffered beyond ${this.maxQueuedBytes} bytes: the backend is not reading`));
      return;
    }
    this.#controller.enqueue(chunk);
  }

  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.close();
  }

  fail(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.error(err);
  }
}
