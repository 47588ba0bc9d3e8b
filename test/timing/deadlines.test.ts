// Deadlines (issues 14 and 19): many deadlines on one timer; one past setTimeout's 2^31-1 ms limit must not fire at once.
import { describe, expect, test } from 'bun:test';
import { Deadlines, MAX_TIMER_DELAY_MS } from '../../src/timing/deadlines.ts';

describe('Deadlines: many deadlines on one timer', () => {
  test('fires due entries in any order of adding, never a deleted one, and not the far ones', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    const far = [
      d.add(Date.now() + 600 * 3_600_000, () => fired.push('600h')),
      d.add(Date.now() + MAX_TIMER_DELAY_MS + 1, () => fired.push('2^31')),
      d.add(Date.parse('9999-12-31T00:00:00Z'), () => fired.push('9999')),
    ];
    const late = new Promise<void>((resolve) => d.add(Date.now() + 40, () => (fired.push('40ms'), resolve())));
    // Added after a later one: the timer must be brought forward for it.
    const early = new Promise<void>((resolve) => d.add(Date.now() + 10, () => (fired.push('10ms'), resolve())));
    d.delete(d.add(Date.now() + 5, () => fired.push('deleted')));
    const past = new Promise<void>((resolve) => d.add(Date.now() - 10, () => (fired.push('past'), resolve())));
    await Promise.all([past, early, late]);
    expect(fired).toEqual(['past', '10ms', '40ms']);
    expect(d.size).toBe(far.length);
    for (const e of far) d.delete(e);
    expect(d.size).toBe(0);
  });

  test('a timer that wakes before the deadline (the clock moved less than asked) re-arms instead of firing', async () => {
    let clock = 0;
    const d = new Deadlines(() => (clock += 3) - 3);
    const at: number[] = [];
    await new Promise<void>((resolve) => d.add(20, () => (at.push(clock), resolve())));
    expect(at.length).toBe(1);
    expect(at[0]).toBeGreaterThanOrEqual(20);
  });
});
