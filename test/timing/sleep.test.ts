import { expect, test } from 'bun:test';
import { sleep } from '../../src/timing/sleep.ts';

test('sleep resolves after its time when nothing aborts it', async () => {
  const t0 = performance.now();
  await sleep(20);
  expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
});

test('an abort ends the sleep at once and leaves no listener behind', async () => {
  const ac = new AbortController();
  let listeners = 0;
  const signal = ac.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = ((...a: Parameters<typeof add>) => (listeners++, add(...a))) as typeof add;
  signal.removeEventListener = ((...a: Parameters<typeof remove>) => (listeners--, remove(...a))) as typeof remove;
  let woke = false;
  const s = sleep(60_000, signal).then(() => (woke = true));
  expect(listeners).toBe(1);
  ac.abort();
  await s;
  expect(woke).toBe(true);
  expect(listeners).toBe(0);
});

test('an already aborted signal resolves without arming a timer', async () => {
  const ac = new AbortController();
  ac.abort();
  await sleep(60_000, ac.signal); // would time the test out if a timer were armed and awaited
});
