import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { backoffBound, backoffDelay, type BackoffPolicy, firstRedialDelay } from '../../src/timing/backoff.ts';

const jitterSymmetric = (delayMs: number, fraction: number, random: () => number) =>
  backoffDelay({ baseMs: delayMs, maxMs: delayMs, jitter: { kind: 'symmetric', fraction } }, 0, random);

describe('backoff', () => {
  const p: BackoffPolicy = { baseMs: 500, maxMs: 60_000, jitter: { kind: 'within-cap', fraction: 0.25 } };
  test('doubles from the base, jitter additive in [0, 25 %) below the cap', () => {
    expect(backoffDelay(p, 0, () => 0)).toBe(500);
    expect(backoffDelay(p, 1, () => 0)).toBe(1000);
    expect(backoffDelay(p, 0, () => 0.999)).toBe(625);
    expect(backoffDelay(p, 5, () => 0.5)).toBe(18_000);
  });
  test('at the cap the jitter stays inside it: delays in [cap / 1.25, cap]', () => {
    expect(backoffDelay(p, 20, () => 0)).toBe(48_000);
    expect(backoffDelay(p, 20, () => 0.999_999)).toBe(60_000);
    // The sequence with websocket_reconnect_max 1m: 73.2 s was observed; now nothing passes 60 s.
    for (let a = 0; a < 12; a++) expect(backoffDelay(p, a, () => 0.999_999)).toBeLessThanOrEqual(60_000);
  });
  test('never exceeds the configured cap, never below the base, for any policy', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat(1000),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (baseMs, maxMs, jitter, attempt, r) => {
          const q: BackoffPolicy = { baseMs: Math.min(baseMs, maxMs), maxMs, jitter: { kind: 'within-cap', fraction: jitter } };
          const d = backoffDelay(q, attempt, () => r);
          expect(d).toBeLessThanOrEqual(maxMs);
          expect(d).toBeLessThanOrEqual(backoffBound(q));
          expect(d).toBeGreaterThanOrEqual(Math.floor(Math.min(q.baseMs, maxMs / (1 + jitter))));
        },
      ),
    );
  });
  test('symmetric jitter stays within ±fraction', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 0.9999, noNaN: true }), (r) => {
      const d = jitterSymmetric(1000, 0.25, () => r);
      expect(d).toBeGreaterThanOrEqual(750);
      expect(d).toBeLessThanOrEqual(1250);
    }));
  });
});

describe('backoff: the jitter kinds the other retry loops use', () => {
  test('none: doubling from the base, capped (heartbeat retries, route-sync repair)', () => {
    const p: BackoffPolicy = { baseMs: 5000, maxMs: 300_000, jitter: { kind: 'none' } };
    expect([0, 1, 2, 3, 6, 7, 100].map((a) => backoffDelay(p, a, () => 0.7))).toEqual([5000, 10_000, 20_000, 40_000, 300_000, 300_000, 300_000]);
  });
  test('equal: within [d/2, d] of the capped delay (watch relists)', () => {
    fc.assert(
      fc.property(fc.nat(200), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const p: BackoffPolicy = { baseMs: 500, maxMs: 30_000, jitter: { kind: 'equal' } };
        const d = backoffDelay(p, attempt, () => r);
        const cap = Math.min(30_000, 500 * 2 ** Math.min(attempt, 40));
        expect(d).toBeGreaterThanOrEqual(Math.floor(cap / 2));
        expect(d).toBeLessThanOrEqual(cap);
      }),
    );
  });
  test('symmetric may pass the cap by its fraction, and backoffBound says so', () => {
    const p: BackoffPolicy = { baseMs: 1000, maxMs: 5000, jitter: { kind: 'symmetric', fraction: 0.25 } };
    expect(backoffDelay(p, 10, () => 0.999_999)).toBe(6250);
    expect(backoffBound(p)).toBe(6250);
    expect(backoffDelay(p, 0, () => 0)).toBe(750);
  });
  test('a negative attempt is treated as the first', () => {
    expect(backoffDelay({ baseMs: 100, maxMs: 1000, jitter: { kind: 'none' } }, -3)).toBe(100);
  });
});

describe('backoff: the first redial after a lost session (full jitter over the first interval)', () => {
  const p: BackoffPolicy = { baseMs: 500, maxMs: 60_000, jitter: { kind: 'within-cap', fraction: 0.25 } };
  test('uniform over [0, base + 25 %): five times the spread of the additive jitter, same upper bound', () => {
    expect(firstRedialDelay(p, () => 0)).toBe(0);
    expect(firstRedialDelay(p, () => 0.5)).toBe(312);
    expect(firstRedialDelay(p, () => 0.999_999)).toBe(624);
    expect(backoffDelay(p, 0, () => 0.999_999)).toBe(625);
    // Later attempts keep their meaning: websocket_reconnect doubling, +0–25 %.
    expect(backoffDelay(p, 1, () => 0)).toBe(1000);
  });
  test('for any policy: in [0, the largest first wait], never above the cap, and monotone in the random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (baseMs, maxMs, fraction, r1, r2) => {
          const q: BackoffPolicy = { baseMs: Math.min(baseMs, maxMs), maxMs, jitter: { kind: 'within-cap', fraction } };
          const top = backoffDelay(q, 0, () => 1);
          const [lo, hi] = r1 <= r2 ? [r1, r2] : [r2, r1];
          const a = firstRedialDelay(q, () => lo);
          const b = firstRedialDelay(q, () => hi);
          expect(a).toBeGreaterThanOrEqual(0);
          expect(b).toBeLessThanOrEqual(top);
          expect(b).toBeLessThanOrEqual(maxMs);
          expect(a).toBeLessThanOrEqual(b);
        },
      ),
    );
  });
});
