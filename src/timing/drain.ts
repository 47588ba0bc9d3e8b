// Waiting for a write buffer to drain: "resolve when bufferedAmount ≤ threshold, or the writer closed, or the wait was
// aborted". One primitive for every producer that pauses behind a socket (raw upgrade streams, response writers,
// the hub's upload relay) instead of each polling every 1–2 ms.
//
// Where the runtime gives a drain notification (node:net 'drain', Bun.serve's websocket `drain` handler), pass it as
// `onDrain` and the wait is purely event-driven. Bun's WebSocket *client* (the agent's tunnel socket) has none:
// no 'drain'/'bufferedamountlow'/'writable' event fires and there is no `ondrain` (Bun 1.4.5: 29 MiB buffered toward a
// peer that stopped reading, drained in ~135 ms after it resumed, no event). For such writers the wait is paced by the
// observed drain rate: the next check is scheduled for when the bytes above the threshold should have left at the
// rate seen since the last check (clamped to [MIN_CHECK_MS, MAX_CHECK_MS]); while nothing drains the gap doubles up
// to MAX_CHECK_MS.
// All waiters on one writer share one timer. Closing and aborting end a wait at once when the writer/signal says so.

/** Something that buffers writes. Pass the same object for the same socket so its waiters share one timer. */
export interface Drainable {
  readonly bufferedAmount: number;
  readonly open: boolean;
  /** The runtime's "buffer drained" notification, where it has one. Returns an unsubscribe function. */
  onDrain?(listener: () => void): () => void;
  /** The writer closed. Returns an unsubscribe function. Without it a close is noticed at the next check. */
  onClose?(listener: () => void): () => void;
}

export type DrainOutcome = 'drained' | 'closed' | 'aborted';

/** Shortest gap between checks of a writer without a drain notification. */
export const MIN_CHECK_MS = 1;
/** Longest gap between checks (also the safety re-check for writers with a drain notification). */
export const MAX_CHECK_MS = 50;

interface Waiter {
  threshold: number;
  resolve(o: DrainOutcome): void;
}

/** The waits on one writer. */
class DrainMonitor {
  readonly #src: Drainable;
  readonly #waiters = new Set<Waiter>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void)[] = [];
  #lastBytes = 0;
  #lastAt = 0;
  #idleGap = MIN_CHECK_MS;

  constructor(src: Drainable) {
    this.#src = src;
  }

  add(w: Waiter, bytes: number): void {
    if (this.#waiters.size === 0) this.#startWatching(bytes);
    this.#waiters.add(w);
    this.#schedule(bytes);
  }

  remove(w: Waiter): void {
    this.#waiters.delete(w);
    if (this.#waiters.size === 0) this.#stopWatching();
  }

  #startWatching(bytes: number): void {
    this.#lastBytes = bytes;
    this.#lastAt = performance.now();
    this.#idleGap = MIN_CHECK_MS;
    if (this.#src.onDrain) this.#unsubscribe.push(this.#src.onDrain(() => this.#check()));
    if (this.#src.onClose) this.#unsubscribe.push(this.#src.onClose(() => this.#check()));
  }

  #stopWatching(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const u of this.#unsubscribe.splice(0)) u();
    monitors.delete(this.#src);
  }

  #check(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const open = this.#src.open;
    const bytes = this.#src.bufferedAmount;
    for (const w of [...this.#waiters]) {
      if (!open) w.resolve('closed');
      else if (bytes <= w.threshold) w.resolve('drained');
    }
    if (this.#waiters.size) this.#schedule(bytes);
  }

  /** Arm the next check: by the drain rate seen since the last one, or backing off while nothing moves. */
  #schedule(bytes: number): void {
    if (this.#timer !== undefined) return;
    let gap = MAX_CHECK_MS;
    if (!this.#src.onDrain) {
      const now = performance.now();
      const rate = now > this.#lastAt ? (this.#lastBytes - bytes) / (now - this.#lastAt) : 0;
      let highest = 0;
      for (const w of this.#waiters) highest = Math.max(highest, w.threshold);
      if (rate > 0) {
        gap = (bytes - highest) / rate;
        this.#idleGap = MIN_CHECK_MS;
      } else {
        gap = this.#idleGap;
        this.#idleGap = Math.min(MAX_CHECK_MS, this.#idleGap * 2);
      }
      this.#lastBytes = bytes;
      this.#lastAt = now;
    }
    this.#timer = setTimeout(() => this.#check(), Math.min(MAX_CHECK_MS, Math.max(MIN_CHECK_MS, gap)));
  }
}

const monitors = new WeakMap<Drainable, DrainMonitor>();

/**
 * Resolves when `src.bufferedAmount ≤ threshold` ('drained'), when the writer is closed ('closed') or when `signal`
 * aborts ('aborted'); at once if one of these already holds. Never rejects.
 */
export function drained(src: Drainable, threshold: number, signal?: AbortSignal): Promise<DrainOutcome> {
  if (signal?.aborted) return Promise.resolve('aborted');
  if (!src.open) return Promise.resolve('closed');
  const bytes = src.bufferedAmount;
  if (bytes <= threshold) return Promise.resolve('drained');
  return new Promise((resolve) => {
    let monitor = monitors.get(src);
    if (!monitor) monitors.set(src, (monitor = new DrainMonitor(src)));
    const m = monitor;
    const onAbort = () => w.resolve('aborted');
    let settled = false;
    const w: Waiter = {
      threshold,
      resolve: (o) => {
        if (settled) return;
        settled = true;
        m.remove(w);
        signal?.removeEventListener('abort', onAbort);
        resolve(o);
      },
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    m.add(w, bytes);
  });
}

/** A WebSocket (Bun's client has no drain event, so only its close is an event here). */
export function webSocketDrainable(ws: WebSocket): Drainable {
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
    onClose(listener) {
      ws.addEventListener('close', listener);
      return () => ws.removeEventListener('close', listener);
    },
  };
}
