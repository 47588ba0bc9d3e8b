// The one abortable sleep: resolves after `ms`, or at once when `signal` aborts (never rejects), and leaves no
// timer or listener behind either way. Web-standard timers only, so it runs the same on Bun and Deno.

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
