// The in-thread channel the heartbeat speaks to the tunnel worker over (workers/tunnel.ts): in order, never inside
// the caller's post(), nothing lost when a side posts before the other listens, both directions independent.
import { expect, test } from 'bun:test';
import { inThreadChannel } from '../../src/threads/in-thread-port.ts';

test('delivers in order, asynchronously, and keeps what was posted before the other end listened', async () => {
  const ch = inThreadChannel<number, string>();
  const atB: number[] = [];
  const atA: string[] = [];
  ch.a.post(1);
  ch.a.post(2);
  ch.b.onMessage((m) => {
    atB.push(m);
    if (m === 3) ch.b.post('got 3');
  });
  ch.a.onMessage((m) => atA.push(m));
  ch.a.post(3);
  expect(atB).toEqual([]); // not inside post()
  await Promise.resolve();
  await Promise.resolve();
  expect(atB).toEqual([1, 2, 3]);
  await new Promise<void>((r) => queueMicrotask(r));
  expect(atA).toEqual(['got 3']);
});

test('a message posted from inside a handler is delivered after the current batch, not lost', async () => {
  const ch = inThreadChannel<string, never>();
  const seen: string[] = [];
  ch.b.onMessage((m) => {
    seen.push(m);
    if (m === 'first') ch.a.post('from handler');
  });
  ch.a.post('first');
  ch.a.post('second');
  for (let i = 0; i < 4; i++) await Promise.resolve();
  expect(seen).toEqual(['first', 'second', 'from handler']);
});
