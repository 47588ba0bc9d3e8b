import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { backoffBound, backoffDelay, jitterSymmetric } from '../../src/tunnel/backoff.ts';

describe('backoff', () => {
  const p = { baseMs: 500, maxMs: 60_000, jitter: 0.25 };
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
          const q = { baseMs: Math.min(baseMs, maxMs), maxMs, jitter };
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
