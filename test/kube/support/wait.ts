// Waiting on conditions in tests: re-check a predicate whenever `poke()` is called (from handlers), with a deadline.
export class Signal {
  #waiters = new Set<() => void>();
  poke(): void {
    for (const w of this.#waiters) w();
  }
  async until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (pred()) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pred()) {
          cleanup();
          resolve();
        }
      };
      // Also re-check on a coarse tick: some conditions (an RV from a bookmark) have no handler to poke.
      const tick = setInterval(check, 5);
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearInterval(tick);
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }
}
