// The registration waiter's extend-until-cap rule (protocol.md §2.5), on a hand-driven clock: no real waiting.
import { describe, expect, test } from 'bun:test';
import { RegistrationWaiter, type WaiterClock } from '../../src/tunnel/registration-waiter.ts';

/** A clock whose timers fire only when the test advances it. */
function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: WaiterClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = until;
  };
  return { clock, advance, pending: () => timers.size };
}

/** The promise's state after the microtasks queued so far have run. */
async function state<T>(p: Promise<T>): Promise<'pending' | { value: T } | { error: string }> {
  let s: 'pending' | { value: T } | { error: string } = 'pending';
  p.then(
    (value) => (s = { value }),
    (e: Error) => (s = { error: e.message }),
  );
  await Promise.resolve();
  await Promise.resolve();
  return s;
}

describe('RegistrationWaiter', () => {
  test('times out after waitMs without an answer, with the waited seconds in the message', async () => {
    const c = fakeClock();
    const w = new RegistrationWaiter<string>({ waitMs: 30_000, maxWaitMs: 120_000 }, c.clock);
    const p = w.wait('r1');
    c.advance(29_999);
    expect(await state(p)).toBe('pending');
    c.advance(1);
    expect(await state(p)).toEqual({ error: 'no register_success within 30s' });
    expect(w.size).toBe(0);
  });

  test('register_in_progress extends by up to waitMs each time, never past maxWaitMs from the start', async () => {
    const c = fakeClock();
    const w = new RegistrationWaiter<string>({ waitMs: 30_000, maxWaitMs: 70_000 }, c.clock);
    const p = w.wait('r1');
    c.advance(20_000);
    w.extendAll(); // now 20 s: next deadline 50 s
    c.advance(29_999);
    expect(await state(p)).toBe('pending');
    w.extendAll(); // now 49.999 s: 30 s more would be 79.999 s, capped at 70 s
    c.advance(20_000);
    expect(await state(p)).toBe('pending');
    c.advance(1);
    expect(await state(p)).toEqual({ error: 'no register_success within 70s' });
  });

  test('an extension at or past the cap times out at once', async () => {
    const c = fakeClock();
    const w = new RegistrationWaiter<string>({ waitMs: 30_000, maxWaitMs: 40_000 }, c.clock);
    const p = w.wait('r1');
    c.advance(25_000);
    w.extendAll(); // 15 s left to the cap
    c.advance(14_999);
    w.extendAll(); // 1 ms left
    c.advance(1);
    expect(await state(p)).toEqual({ error: 'no register_success within 40s' });
  });

  test('settle answers only the waiter with that id, once; timers are cleared', async () => {
    const c = fakeClock();
    const w = new RegistrationWaiter<string>({ waitMs: 30_000, maxWaitMs: 120_000 }, c.clock);
    const a = w.wait('a');
    const b = w.wait('b');
    expect(w.settle('nope', 'x')).toBe(false);
    expect(w.settle(undefined, 'x')).toBe(false);
    expect(w.settle('a', 'ok-a')).toBe(true);
    expect(w.settle('a', 'again')).toBe(false);
    expect(w.settle('b', new Error('refused'))).toBe(true);
    expect(await state(a)).toEqual({ value: 'ok-a' });
    expect(await state(b)).toEqual({ error: 'refused' });
    expect(c.pending()).toBe(0);
  });

  test('rejectAll fails every pending wait and leaves none behind', async () => {
    const c = fakeClock();
    const w = new RegistrationWaiter<string>({ waitMs: 30_000, maxWaitMs: 120_000 }, c.clock);
    const ps = [w.wait('a'), w.wait('b')];
    w.rejectAll(new Error('connection closed during registration (1006)'));
    expect(w.size).toBe(0);
    for (const p of ps) expect(await state(p)).toEqual({ error: 'connection closed during registration (1006)' });
    expect(c.pending()).toBe(0);
  });
});
