// Waiting for the answer to a `register` (protocol.md §2.5): each pending registration times out after `waitMs`;
// `register_in_progress` extends every pending wait by up to `waitMs` again, never past `maxWaitMs` from its start.
// Timers and clock are injected so the extend-until-cap rule is testable without waiting.

export interface WaiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: WaiterClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

interface Pending<T> {
  resolve(r: T): void;
  reject(e: Error): void;
  extend(): void;
}

export class RegistrationWaiter<T> {
  readonly #pending = new Map<string, Pending<T>>();
  readonly #waitMs: number;
  readonly #maxWaitMs: number;
  readonly #clock: WaiterClock;

  constructor(o: { waitMs: number; maxWaitMs: number }, clock: WaiterClock = realClock) {
    this.#waitMs = o.waitMs;
    this.#maxWaitMs = o.maxWaitMs;
    this.#clock = clock;
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Wait for the answer to the registration sent with `requestId`. */
  wait(requestId: string): Promise<T> {
    const clock = this.#clock;
    const pending = this.#pending;
    return new Promise<T>((resolve, reject) => {
      const started = clock.now();
      let timer = clock.setTimeout(onTimeout, this.#waitMs);
      function onTimeout() {
        pending.delete(requestId);
        reject(new Error(`no register_success within ${Math.round((clock.now() - started) / 1000)}s`));
      }
      pending.set(requestId, {
        resolve: (r) => {
          clock.clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clock.clearTimeout(timer);
          reject(e);
        },
        extend: () => {
          clock.clearTimeout(timer);
          const left = this.#maxWaitMs - (clock.now() - started);
          timer = clock.setTimeout(onTimeout, Math.max(0, Math.min(this.#waitMs, left)));
        },
      });
    });
  }

  /** Settle the wait for `requestId` with an answer or an error. False if nothing waits under that id. */
  settle(requestId: string | undefined, result: T | Error): boolean {
    const p = requestId === undefined ? undefined : this.#pending.get(requestId);
    if (!p || requestId === undefined) return false;
    this.#pending.delete(requestId);
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
    return true;
  }

  /** `register_in_progress`: every pending wait gets up to `waitMs` more, capped at `maxWaitMs` from its start. */
  extendAll(): void {
    for (const p of this.#pending.values()) p.extend();
  }

  /** Fail every pending wait (socket closed, control plane refused). */
  rejectAll(e: Error): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.reject(e);
  }
}
