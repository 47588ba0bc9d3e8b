// atDeadline (issue 19): a deadline past setTimeout's 2^31-1 ms limit must not fire at once.
import { describe, expect, test } from 'bun:test';
import { atDeadline, Deadlines, MAX_TIMER_DELAY_MS } from '../../src/tunnel/deadline-timer.ts';

test('far deadlines wait; near and past ones fire; cancel stops one', async () => {
  const fired: string[] = [];
  const cancels = [
    atDeadline(Date.now() + 600 * 3_600_000, () => fired.push('600h')),
    atDeadline(Date.now() + MAX_TIMER_DELAY_MS + 1, () => fired.push('2^31')),
    atDeadline(Date.parse('9999-12-31T00:00:00Z'), () => fired.push('9999')),
  ];
  const cancelled = atDeadline(Date.now() + 5, () => fired.push('cancelled'));
  cancelled();
  await new Promise<void>((resolve) => atDeadline(Date.now() - 10, () => (fired.push('past'), resolve())));
  await new Promise<void>((resolve) => atDeadline(Date.now() + 30, () => (fired.push('30ms'), resolve())));
  expect(fired).toEqual(['past', '30ms']);
  for (const c of cancels) c();
});

test('a timer that wakes before its deadline (the clock moved less than asked) re-arms instead of firing', async () => {
  let clock = 0;
  const fired: number[] = [];
  // The first wake-up sees only half the time passed; the second sees the deadline reached.
  const done = new Promise<void>((resolve) =>
    atDeadline(
      10,
      () => {
        fired.push(clock);
        resolve();
      },
      () => {
        const t = clock;
        clock += 5;
        return t;
      },
    ),
  );
  await done;
  expect(fired.length).toBe(1);
  expect(fired[0]).toBeGreaterThanOrEqual(10);
});

describe('Deadlines: many deadlines on one timer', () => {
  test('fires due entries in any order of adding, never a deleted one, and not the far ones', async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    const far = [d.add(Date.now() + 600 * 3_600_000, () => fired.push('600h')), d.add(Date.parse('9999-12-31T00:00:00Z'), () => fired.push('9999'))];
    const late = new Promise<void>((resolve) => d.add(Date.now() + 40, () => (fired.push('40ms'), resolve())));
    // Added after a later one: the timer must be brought forward for it.
    const early = new Promise<void>((resolve) => d.add(Date.now() + 10, () => (fired.push('10ms'), resolve())));
    d.delete(d.add(Date.now() + 5, () => fired.push('deleted')));
    const past = new Promise<void>((resolve) => d.add(Date.now() - 10, () => (fired.push('past'), resolve())));
    await Promise.all([past, early, late]);
    expect(fired).toEqual(['past', '10ms', '40ms']);
    expect(d.size).toBe(2);
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
