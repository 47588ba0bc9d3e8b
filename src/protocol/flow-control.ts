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
 * The agent's initial window per request. It bounds what a small answer queues behind on the socket (everything in
 * flight beyond the agent's own scheduler: kernel buffers and the hub's unread input), so it is sized to the
 * bandwidth-delay product of the tunnel rather than to the largest body: on loopback 1 MiB crosses in about 4 ms at
 * 250 MiB/s while the credit round trip (the hub reads a chunk, grants WINDOW_STEP, the agent reads the grant) is
 * about 1 ms, so 1 MiB keeps the pipe full. Measured with bench/tunnel.ts (issue 14): from 2 MiB with 1 MiB steps to
 * 1 MiB with 256 KiB steps, small requests during a full-speed 64 MiB transfer went from a p50 of 8.8–11.4 ms to
 * 5.5–10.0 ms and a p99 of 24–72 ms to 18–48 ms, throughput within the noise (8 MiB → 2 MiB, issue 4: p99
 * 84–88 → 47–57 ms). Not below 1 MiB: a hub from before issue 14 grants in 1 MiB steps and would never grant.
 */
export const INITIAL_CHUNK_WINDOW = 1 << 20;

/**
 * The hub returns credit in steps of at least this size, as chunks arrive while its client keeps up (at most
 * MAX_CLIENT_BUFFER unread). Small steps keep the agent's 1 MiB window from running dry (1 MiB before issue 14).
 */
export const WINDOW_STEP = 256 * 1024;

/** Above this many bytes unread by the hub's client, credit waits for its 'drain': a slow client slows only its own response. */
export const MAX_CLIENT_BUFFER = 1 << 20;

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

/** Hub side: owed credit for one request goes back in WINDOW_STEP steps while the client keeps up (sink at most MAX_CLIENT_BUFFER). */
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
    if (this.sink.writableLength > MAX_CLIENT_BUFFER) {
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
