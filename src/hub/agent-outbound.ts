// The hub → agent writer's scheduler (issue 14, fairness; the agent's counterpart is src/tunnel/outbound-scheduler.ts).
// One WebSocket carries every request to an agent, so bytes queued on it delay every message behind them. Control
// and request messages (proxy_request and its body frame, proxy_window, proxy_cancel, pings) are written at once,
// as before (text messages at the end of the event-loop turn, coalesced into one write: `sendOrdered`). Bulk stream data toward the agent (what a kubectl stream or an app WebSocket uploads) waits here
// instead and goes out round-robin between streams, one message at a time, only while the socket's buffer is at or
// below a low-water mark; a stream with more than `maxQueuedBytes` waiting tells its caller to pause its source
// (TCP backpressure to the client) until `whenWritable` calls back.

/** What the scheduler needs of the agent's socket (Bun's ServerWebSocket has all three). */
export interface OutboundSocket {
  send(data: string | Uint8Array<ArrayBuffer>): unknown;
  getBufferedAmount?(): number;
  /**
   * Runs `cb` with the socket corked: what it sends leaves in one write. With it, text messages of the ordered flow
   * are coalesced (see `sendOrdered`); a socket without it writes each at once.
   */
  cork?(cb: () => void): unknown;
}

export interface AgentOutboundOptions {
  /** Bulk messages are written only while the socket's buffered amount is at or below this. */
  lowWaterBytes: number;
  /** A stream with more than this many bytes waiting asks its source to pause. */
  maxQueuedBytes: number;
}

export const DEFAULT_AGENT_OUTBOUND: AgentOutboundOptions = { lowWaterBytes: 256 * 1024, maxQueuedBytes: 1 << 20 };

interface StreamQueue {
  items: (string | Uint8Array<ArrayBuffer>)[];
  bytes: number;
  writable: (() => void)[];
}

const size = (d: string | Uint8Array) => (typeof d === 'string' ? Buffer.byteLength(d) : d.byteLength);

export class AgentOutbound {
  /**
   * Messages of the session's ordered flow (control messages, yamux bytes, body frames) that the socket refused:
   * Bun's ServerWebSocket drops a message outright (send returns 0) once its buffer holds more than its
   * backpressure limit (16 MiB), and neither a byte stream nor a request may lose one. They go out, in order and
   * before any later message of that flow, when the socket drains.
   */
  readonly #ordered: (string | Uint8Array<ArrayBuffer>)[] = [];
  /** Streams with data waiting, in round-robin order (a stream that just sent moves to the back). */
  readonly #queues = new Map<string, StreamQueue>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Text messages of the ordered flow written at the next flush (one corked write; `sendOrdered`). */
  readonly #batch: string[] = [];
  #flushScheduled = false;
  readonly #flushNow = () => {
    this.#flushScheduled = false;
    this.flush();
  };

  constructor(
    private readonly ws: OutboundSocket,
    /** Counts bytes actually written (the session's bytesOut). */
    private readonly written: (bytes: number) => void,
    private readonly o: AgentOutboundOptions = DEFAULT_AGENT_OUTBOUND,
  ) {}

  /** Bytes waiting for stream `key`. */
  queuedBytes(key: string): number {
    return this.#queues.get(key)?.bytes ?? 0;
  }

  /**
   * Queue a bulk message of stream `key`. Returns false when the stream now has more than `maxQueuedBytes` waiting:
   * the caller should pause its source and resume when `whenWritable(key, …)` calls back.
   */
  sendBulk(key: string, data: string | Uint8Array<ArrayBuffer>): boolean {
    if (this.#closed) return false;
    let q = this.#queues.get(key);
    if (!q) {
      q = { items: [], bytes: 0, writable: [] };
      this.#queues.set(key, q);
    }
    q.items.push(data);
    q.bytes += size(data);
    this.#pump();
    return (this.#queues.get(key)?.bytes ?? 0) <= this.o.maxQueuedBytes;
  }

  /** Call `cb` once stream `key` has at most `maxQueuedBytes` waiting (at once if it already has). */
  whenWritable(key: string, cb: () => void): void {
    const q = this.#queues.get(key);
    if (!q || q.bytes <= this.o.maxQueuedBytes) cb();
    else q.writable.push(cb);
  }

  /**
   * A message of the ordered flow, written at once unless earlier ones wait. With `coalesce` (the kube gateway's
   * `proxy_request` texts) a text on a corking socket waits for the end of this event-loop turn, to leave with the
   * other requests of the turn, or for the next message that is not coalesced. A binary `data` is
   * copied when it has to wait (the caller may reuse its buffer). Bounded by what the protocols on top allow in
   * flight (yamux windows, request body windows).
   */
  sendOrdered(data: string | Uint8Array<ArrayBuffer>, coalesce = false): void {
    if (this.#closed) return;
    if (coalesce && typeof data === 'string' && this.ws.cork) {
      // Coalesced (issue 14): every kube request was one proxy_request and one send syscall of ~300 bytes to the
      // agent, while the agent's answers arrive many per read. Texts sent in one turn of the event loop (requests
      // of many clients parsed in one I/O round) leave together in one corked write at the end of it (setImmediate).
      this.#batch.push(data);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flushNow);
      }
      return;
    }
    // Anything else is written at once: a binary message (the caller may reuse its buffer), flow-control credit (a
    // download's window must not wait for the end of the turn: that cost bulk throughput), cancels and control
    // messages. Coalesced texts before it go first, in the same corked write (a proxy_request and its body frame stay
    // adjacent, a cancel never overtakes its request).
    if (this.#batch.length) return this.#corked(() => this.#send(data));
    this.#send(data);
  }

  /** Write the coalesced texts now (before the socket is closed; the scheduled flush). */
  flush(): void {
    if (this.#batch.length) this.#corked(() => {});
  }

  /** The coalesced texts, then `last`, in one corked write. */
  #corked(last: () => void): void {
    const batch = this.#batch.splice(0);
    const write = () => {
      for (const t of batch) this.#send(t);
      last();
    };
    if (this.ws.cork) this.ws.cork(write);
    else write();
    // Bulk messages wait while texts are coalesced (they must not overtake them).
    if (this.#queues.size) this.#pump();
  }

  #send(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.#closed) return;
    if (this.#ordered.length === 0 && this.ws.send(data) !== 0) {
      this.written(size(data));
      return;
    }
    this.#ordered.push(typeof data === 'string' ? data : data.slice());
    this.#flushOrdered();
  }

  /** Bytes of ordered messages waiting for the socket to drain. */
  get orderedBytes(): number {
    let n = 0;
    for (const d of this.#ordered) n += size(d);
    return n;
  }

  /** The socket drained (Bun's websocket `drain`): write what waits. */
  drain(): void {
    this.#flushOrdered();
    this.#pump();
  }

  #flushOrdered(): void {
    while (this.#ordered.length && !this.#closed) {
      const d = this.#ordered[0]!;
      // Dropped again (still over the limit): wait for the next drain (or the 1 ms look of #pump).
      if (this.ws.send(d) === 0) return this.#recheck();
      this.#ordered.shift();
      this.written(size(d));
    }
  }

  #recheck(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.drain();
    }, 1);
  }

  /** The socket is gone: drop what waits (its streams end with the session). Callbacks waiting for room are dropped. */
  close(): void {
    this.#closed = true;
    this.#queues.clear();
    this.#ordered.length = 0;
    this.#batch.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #pump(): void {
    while (this.#queues.size && !this.#closed) {
      // Coalesced texts are written first (their flush pumps again).
      if (this.#batch.length) return;
      // The socket refused ordered messages that still wait: the buffer is far above the low-water mark anyway.
      if (this.#ordered.length || (this.ws.getBufferedAmount?.() ?? 0) > this.o.lowWaterBytes) {
        // Bun calls `drain` only after a send reported backpressure; look again shortly as well.
        return this.#recheck();
      }
      const [key, q] = this.#queues.entries().next().value as [string, StreamQueue];
      const data = q.items.shift()!;
      const n = size(data);
      q.bytes -= n;
      this.#queues.delete(key);
      if (q.items.length) this.#queues.set(key, q); // to the back of the round
      this.ws.send(data);
      this.written(n);
      if (q.bytes <= this.o.maxQueuedBytes && q.writable.length) for (const cb of q.writable.splice(0)) cb();
    }
  }
}
