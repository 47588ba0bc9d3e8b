// Per-request flow control of negotiated binary chunks (`binary_chunks`, proxy-messages.ts): the one home of
// `proxy_window`. Like HTTP/2 WINDOW_UPDATE: the agent (sender) may have at most a window of response bytes in
// flight toward the hub; the hub (receiver) returns credit with `proxy_window {increment}` as its client drains,
// so one slow client slows only its own response.
//
// Message: hub → agent `proxy_window`, top-level `request_id` = the request, payload `{increment: <bytes>}`,
// increment a positive number. The agent counts anything else as `invalid_window` and ignores it; credit for a
// request that is no longer in flight is ignored.
import type { HubToAgent } from './wire-messages.ts';

/**
 * The agent's initial window per request. 2 MiB: enough to keep the pipe full on loopback (the credit round trip
 * is well under the time 2 MiB takes to cross), and it bounds what a small answer queues behind: measured with
 * bench/tunnel.ts, the p99 of small requests during a 64 MiB transfer fell from 84–88 ms (8 MiB window) to
 * 47–57 ms, throughput unchanged.
 */
export const INITIAL_CHUNK_WINDOW = 2 << 20;

/** The hub returns credit in steps of at least this size, once its client has taken the bytes. */
export const WINDOW_STEP = 1 << 20;

/** `proxy_window` for `requestId`, granting `bytes`. */
export function windowMessage(requestId: string, bytes: number): HubToAgent {
  return { type: 'proxy_window', requestId, payload: { increment: bytes } };
}

/** The increment of a received `proxy_window` payload, or null when it is not a positive number. */
export function windowIncrement(payload: Record<string, unknown>): number | null {
  const inc = payload.increment;
  return typeof inc === 'number' && inc > 0 ? inc : null;
}

/** Agent side: the credit of one request's binary chunks. */
export class CreditWindow {
  #available: number;
  #waiters: (() => void)[] = [];

  constructor(initial = INITIAL_CHUNK_WINDOW) {
    this.#available = initial;
  }

  get available(): number {
    return this.#available;
  }

  grant(bytes: number): void {
    if (!(bytes > 0)) return;
    this.#available += bytes;
    for (const w of this.#waiters.splice(0)) w();
  }

  /**
   * Wait until there is credit for at least part of `n` bytes, then take `n` (the window may go negative once:
   * a chunk is never split for credit). Rejects with the signal's reason when aborted before or while waiting.
   */
  async take(n: number, signal: AbortSignal): Promise<void> {
    while (this.#available <= 0) {
      if (signal.aborted) throw signal.reason ?? new Error('cancelled');
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#waiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    this.#available -= n;
  }
}

/** What the hub writes received chunks to: node's ServerResponse satisfies it. */
export interface DrainingSink {
  readonly writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
}

/** Hub side: owed credit for one request goes back once the client drained the bytes (sink below WINDOW_STEP). */
export class ChunkCredit {
  #owed = 0;
  #waitingDrain = false;

  constructor(
    private readonly sink: DrainingSink,
    /** Send `proxy_window {increment}` for this request (windowMessage). */
    private readonly grant: (bytes: number) => void,
    /** False once the request is over (no credit for finished requests). */
    private readonly live: () => boolean,
  ) {}

  add(bytes: number): void {
    this.#owed += bytes;
    this.#flush();
  }

  #flush(): void {
    if (this.#owed < WINDOW_STEP || this.#waitingDrain) return;
    if (this.sink.writableLength > WINDOW_STEP) {
      this.#waitingDrain = true;
      this.sink.once('drain', () => {
        this.#waitingDrain = false;
        this.#flush();
      });
      return;
    }
    if (!this.live()) return;
    this.grant(this.#owed);
    this.#owed = 0;
  }
}
