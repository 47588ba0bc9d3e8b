import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { backoffBound, backoffDelay, jitterSymmetric } from '../../src/tunnel/backoff.ts';

describe('backoff', () => {
  const p = { baseMs: 500, maxMs: 60_000, jitter: 0.25 };
  test('doubles from the base, capped, jitter additive in [0, 25 %)', () => {
    expect(backoffDelay(p, 0, () => 0)).toBe(500);
    expect(backoffDelay(p, 1, () => 0)).toBe(1000);
    expect(backoffDelay(p, 20, () => 0)).toBe(60_000);
    expect(backoffDelay(p, 0, () => 0.999)).toBe(625);
  });
  test('never exceeds the bound, never below the base', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.double({ min: 0, max: 0.9999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(p, attempt, () => r);
        expect(d).toBeGreaterThanOrEqual(500);
        expect(d).toBeLessThanOrEqual(backoffBound(p));
      }),
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
