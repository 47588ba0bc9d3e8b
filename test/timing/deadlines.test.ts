// DeadlineSweep (issues 14 and 19): many deadlines on one timer; one past setTimeout's 2^31-1 ms limit must not fire at once.
import { describe, expect, test } from 'bun:test';
import { DeadlineSweep, MAX_TIMER_DELAY_MS } from '../../src/timing/deadlines.ts';

describe('DeadlineSweep: deadlines on the caller’s records', () => {
  type Rec = { name: string; deadlineAt: number };

  test('expires due records in any order of watching, never a finished one, and not the far ones', async () => {
    const records = new Map<string, Rec>();
    const expired: string[] = [];
    let wake: () => void = () => {};
    const sweep = new DeadlineSweep<Rec>(
      () => records.values(),
      (r) => {
        expired.push(r.name);
        records.delete(r.name);
        if (records.size === 3) wake();
      },
    );
    const put = (name: string, at: number) => {
      records.set(name, { name, deadlineAt: at });
      sweep.watch(at);
    };
    const done = new Promise<void>((resolve) => (wake = resolve));
    put('600h', Date.now() + 600 * 3_600_000);
    put('2^31', Date.now() + MAX_TIMER_DELAY_MS + 1);
    put('9999', Date.parse('9999-12-31T00:00:00Z'));
    put('40ms', Date.now() + 40);
    // Watched after a later one: the timer must be brought forward for it.
    put('10ms', Date.now() + 10);
    // Finished first: it leaves the collection and is never expired, though the timer wakes for it.
    put('finished', Date.now() + 5);
    records.delete('finished');
    put('past', Date.now() - 10);
    await done;
    expect(expired).toEqual(['past', '10ms', '40ms']);
    expect([...records.keys()].sort()).toEqual(['2^31', '600h', '9999']);
    sweep.stop();
  });

  test('a record expires once: its deadline is cleared before expire runs', async () => {
    const r: Rec = { name: 'once', deadlineAt: Date.now() + 5 };
    let calls = 0;
    let seen = 0;
    await new Promise<void>((resolve) => {
      const sweep = new DeadlineSweep<Rec>(
        () => [r],
        (x) => {
          calls++;
          seen = x.deadlineAt;
          // Watching again from inside expire must not bring it back.
          sweep.watch(Date.now() + 5);
          setTimeout(resolve, 30);
        },
      );
      sweep.watch(r.deadlineAt);
    });
    expect(calls).toBe(1);
    expect(seen).toBe(Number.POSITIVE_INFINITY);
  });

  test('a timer that wakes before the deadline (the clock moved less than asked) re-arms instead of expiring', async () => {
    let clock = 0;
    const r: Rec = { name: 'r', deadlineAt: 20 };
    const at: number[] = [];
    await new Promise<void>((resolve) => {
      const sweep = new DeadlineSweep<Rec>(
        () => [r],
        () => (at.push(clock), resolve()),
        () => (clock += 3) - 3,
      );
      sweep.watch(r.deadlineAt);
    });
    expect(at.length).toBe(1);
    expect(at[0]).toBeGreaterThanOrEqual(20);
  });
});
