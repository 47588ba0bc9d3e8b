// A timer for an absolute deadline of any distance. `setTimeout` clamps delays above 2^31-1 ms (24.8 days) to
// 1 ms, so a far deadline (a `timeout: "600h"` or `deadline: "9999-12-31T00:00:00Z"` from the control plane)
// would fire at once; this one waits in steps of at most that long and fires only when the deadline is reached.
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Calls `fire` once `deadlineMs` (epoch ms) has passed. Returns a cancel function. */
export function atDeadline(deadlineMs: number, fire: () => void, now: () => number = Date.now): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = () => {
    const left = deadlineMs - now();
    if (left <= 0) {
      fire();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_DELAY_MS));
  };
  timer = setTimeout(arm, Math.min(Math.max(0, deadlineMs - now()), MAX_TIMER_DELAY_MS));
  return () => clearTimeout(timer);
}
