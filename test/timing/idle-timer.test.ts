// IdleTimer: touches push the deadline out without re-arming a timer each time; silence fires it once; stop cancels.
import { expect, test } from 'bun:test';
import { IdleTimer } from '../../src/timing/idle-timer.ts';

test('fires once after a quiet interval, not while touched', async () => {
  const started = Date.now();
  let touches = 0;
  const fired = await new Promise<number>((resolve) => {
    const t = new IdleTimer(40, () => resolve(Date.now()));
    // Touch for ~120 ms (three intervals), then go quiet.
    const iv = setInterval(() => {
      t.touch();
      if (++touches === 12) clearInterval(iv);
    }, 10);
  });
  // It cannot have fired before the last touch plus the interval.
  expect(touches).toBe(12);
  expect(fired - started).toBeGreaterThanOrEqual(40);
});

test('stop cancels the deadline', async () => {
  let fired = false;
  const t = new IdleTimer(10, () => (fired = true));
  t.stop();
  // A second timer with the same interval has fired by the time we look (ordered after the first).
  await new Promise<void>((resolve) => new IdleTimer(20, resolve));
  expect(fired).toBe(false);
});
