// Exponential backoff, the one policy every retry loop of the agent uses: the delay doubles per failed attempt
// from `baseMs` up to `maxMs`, then `jitter` spreads it. Pure: the random source is an argument.
//
// The jitter kinds are the ones our retry loops need (each keeps the behaviour it had before this module):
// - `within-cap` (reconnect, protocol.md §2.8; worker restarts): uniform in [0, fraction) of the delay added on
//   top, kept inside the cap: once doubling reaches it, the delay is drawn from [cap / (1 + fraction), cap]
//   (upstream added the jitter on top and waited up to 125 % of the cap);
// - `equal` (Kubernetes watch relists): uniform in [d/2, d];
// - `symmetric` (route registry retries, protocol.md §1.1): uniform in [(1-f)·d, (1+f)·d), may pass the cap by f;
// - `none` (heartbeat retries, route-sync repair): exactly d.
//
// `firstRedialDelay` is the control-plane session's first wait after a session that was up ended: full jitter over
// the first interval, so that agents that lost their sessions at the same instant (a hub replica died) do not redial
// within the same 25 % of it.

export type Jitter = { kind: 'none' } | { kind: 'equal' } | { kind: 'within-cap'; fraction: number } | { kind: 'symmetric'; fraction: number };

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  jitter: Jitter;
}

export const NO_JITTER: Jitter = { kind: 'none' };

/** Delay before retry `attempt` (0-based: the first retry waits about `baseMs`). */
export function backoffDelay(p: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const doubled = p.baseMs * 2 ** Math.min(Math.max(attempt, 0), 40);
  const j = p.jitter;
  switch (j.kind) {
    case 'none':
      return Math.min(p.maxMs, doubled);
    case 'equal': {
      const cap = Math.min(p.maxMs, doubled);
      return Math.floor(cap / 2 + (random() * cap) / 2);
    }
    case 'symmetric':
      return Math.round(Math.min(doubled, p.maxMs) * (1 - j.fraction + random() * 2 * j.fraction));
    case 'within-cap': {
      // The un-jittered delay never exceeds cap / (1 + fraction), so delay + jitter never exceeds the cap.
      const exp = Math.min(p.maxMs / (1 + j.fraction), doubled);
      return Math.min(p.maxMs, Math.round(exp + random() * j.fraction * exp));
    }
  }
}

/** The largest delay the policy can produce: what an operator (or a test) may wait at most per attempt. */
export function backoffBound(p: BackoffPolicy): number {
  return p.jitter.kind === 'symmetric' ? Math.round(p.maxMs * (1 + p.jitter.fraction)) : p.maxMs;
}

/**
 * The first wait after an established session ended: uniform in [0, the largest first wait of `p`) ("full jitter").
 * Later waits (attempt 1, 2, …) are `backoffDelay`'s, unchanged.
 */
export function firstRedialDelay(p: BackoffPolicy, random: () => number = Math.random): number {
  return Math.floor(random() * backoffDelay(p, 0, () => 1));
}
