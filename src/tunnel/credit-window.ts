// Per-request flow control for negotiated binary chunks: the agent may have at most `window` bytes of a
// response in flight toward the control plane; `proxy_window` messages return credit as the receiver's
// client drains (like HTTP/2 WINDOW_UPDATE). One slow client then slows only its own response.
// 2 MiB: enough to keep the pipe full on loopback (the credit round trip is well under the time 2 MiB takes to
// cross), and it bounds what a small answer queues behind: measured with bench/tunnel.ts, the p99 of small
// requests during a 64 MiB transfer fell from 84–88 ms (8 MiB window) to 47–57 ms, throughput unchanged.
export const INITIAL_CHUNK_WINDOW = 2 << 20;

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

  /** Wait until there is credit for at least part of `n` bytes, then take `n` (the window may go negative once). */
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
