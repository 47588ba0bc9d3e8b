// Per-request flow control for negotiated binary chunks: the agent may have at most `window` bytes of a
// response in flight toward the control plane; `proxy_window` messages return credit as the receiver's
// client drains (like HTTP/2 WINDOW_UPDATE). One slow client then slows only its own response.
// The window bounds what a small answer queues behind on the socket (everything in flight beyond the agent's own
// scheduler: kernel buffers and the hub's unread input), so it is sized to the bandwidth-delay product of the
// tunnel, not to the largest body: on loopback 1 MiB crosses in about 4 ms at 250 MiB/s while the credit round
// trip (hub reads a chunk, grants 256 KiB, agent reads the grant) is about 1 ms, so 1 MiB keeps the pipe full.
// Measured with bench/tunnel.ts (issue 14): from 2 MiB (with the hub granting in 1 MiB steps) to 1 MiB (hub granting
// in 256 KiB steps), small requests during a full-speed 64 MiB transfer went from a p50 of 8.8–11.4 ms to
// 5.9–10.0 ms and a p99 of 24–72 ms to 18–48 ms, throughput unchanged within the noise. (8 MiB → 2 MiB, issue 4:
// p99 84–88 → 47–57 ms.) Not below 1 MiB: a hub that grants in 1 MiB steps (before issue 14) would never grant.
export const INITIAL_CHUNK_WINDOW = 1 << 20;

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
