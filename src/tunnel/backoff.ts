// Reconnect backoff (protocol.md §2.8): base doubles per failed attempt up to a cap, plus additive jitter
// uniform in [0, 25 %) of the delay. The jitter stays inside the cap: once doubling reaches it, the delay is
// drawn from [cap / (1 + jitter), cap) (upstream added the jitter on top and waited up to 125 % of the cap).
// Pure: the random source is an argument.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay added as uniform random jitter, upstream 0.25. */
  jitter: number;
}

/** Delay before reconnect attempt `attempt` (0-based: the first retry waits about `baseMs`). */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  // The un-jittered delay never exceeds cap / (1 + jitter), so delay + jitter never exceeds the cap.
  const exp = Math.min(p.maxMs / (1 + p.jitter), p.baseMs * 2 ** Math.min(attempt, 40));
  return Math.min(p.maxMs, Math.round(exp + random() * p.jitter * exp));
}

/** The largest delay the policy can produce: what an operator (or a test) may wait at most per attempt. */
export function backoffBound(p: BackoffPolicy): number {
  return p.maxMs;
}

/** Symmetric jitter into [(1-f)·d, (1+f)·d), as the route registry retries use (protocol.md §1.1). */
export function jitterSymmetric(delayMs: number, fraction: number, random: () => number = Math.random): number {
  return Math.round(delayMs * (1 - fraction + random() * 2 * fraction));
}
