// Flow control of binary response chunks (src/protocol/flow-control.ts): the agent's credit window (taken whole,
// so it goes negative at most once; an abort while waiting ends the wait), the hub's credit returner (steps of
// WINDOW_STEP, only once its client drained), and the `proxy_window` message both ends agree on.
import { describe, expect, test } from 'bun:test';
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { ChunkCredit, CreditWindow, INITIAL_CHUNK_WINDOW, MAX_CLIENT_BUFFER, WINDOW_STEP, windowIncrement, windowMessage } from '../../src/protocol/flow-control.ts';

/** Resolves to 'pending' if `p` has not settled after the microtasks queued so far. */
async function state(p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  let s: 'resolved' | 'rejected' | 'pending' = 'pending';
  p.then(
    () => (s = 'resolved'),
    () => (s = 'rejected'),
  );
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return s;
}

describe('CreditWindow (agent)', () => {
  test('starts at INITIAL_CHUNK_WINDOW; a take larger than the credit left succeeds once and leaves it negative', async () => {
    const w = new CreditWindow();
    expect(w.available).toBe(INITIAL_CHUNK_WINDOW);
    const ac = new AbortController();
    await w.take(INITIAL_CHUNK_WINDOW - 10, ac.signal);
    await w.take(100, ac.signal);
    expect(w.available).toBe(-90);
    const next = w.take(1, ac.signal);
    expect(await state(next)).toBe('pending');
    w.grant(50);
    expect(await state(next)).toBe('pending');
    expect(w.available).toBe(-40);
    w.grant(41);
    expect(await state(next)).toBe('resolved');
    expect(w.available).toBe(0);
  });

  test('an abort while waiting rejects with the signal reason; an abort before a take with no credit too', async () => {
    const w = new CreditWindow(0);
    const ac = new AbortController();
    const waiting = w.take(10, ac.signal);
    expect(await state(waiting)).toBe('pending');
    const reason = new Error('client went away');
    ac.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(w.take(1, ac.signal)).rejects.toBe(reason);
    expect(w.available).toBe(0);
  });

  test('a grant wakes every waiter; each takes in turn while credit is positive', async () => {
    const w = new CreditWindow(0);
    const ac = new AbortController();
    const a = w.take(5, ac.signal);
    const b = w.take(5, ac.signal);
    w.grant(6);
    expect(await state(a)).toBe('resolved');
    expect(await state(b)).toBe('resolved');
    expect(w.available).toBe(-4);
  });

  test('zero, negative and NaN grants are ignored', () => {
    const w = new CreditWindow(10);
    for (const g of [0, -5, Number.NaN]) w.grant(g);
    expect(w.available).toBe(10);
  });

  test('property: after any sequence of takes and grants, the window went below zero only by the last take', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.record({ take: fc.integer({ min: 1, max: 5000 }) }), fc.record({ grant: fc.integer({ min: -10, max: 5000 }) })), { maxLength: 40 }), async (ops) => {
        const w = new CreditWindow(4096);
        const ac = new AbortController();
        for (const op of ops) {
          if ('grant' in op) {
            w.grant(op.grant);
            continue;
          }
          const before = w.available;
          const p = w.take(op.take, ac.signal);
          if (before > 0) {
            await p;
            expect(w.available).toBe(before - op.take);
            expect(w.available).toBeGreaterThan(-op.take);
          } else {
            expect(await state(p)).toBe('pending');
            ac.abort(new Error('stop'));
            await expect(p).rejects.toThrow('stop');
            return;
          }
        }
      }),
      { seed: 17, numRuns: 200 },
    );
  });
});

class Sink extends EventEmitter {
  writableLength = 0;
}

describe('ChunkCredit (hub)', () => {
  test('credit goes back in one grant once WINDOW_STEP bytes are owed, not before', () => {
    const grants: number[] = [];
    const c = new ChunkCredit(new Sink(), (n) => grants.push(n), () => true);
    c.add(WINDOW_STEP - 1);
    expect(grants).toEqual([]);
    c.add(2);
    expect(grants).toEqual([WINDOW_STEP + 1]);
    c.add(WINDOW_STEP);
    expect(grants).toEqual([WINDOW_STEP + 1, WINDOW_STEP]);
  });

  test('while the client has up to MAX_CLIENT_BUFFER unread, credit still goes back step by step', () => {
    const grants: number[] = [];
    const sink = new Sink();
    sink.writableLength = MAX_CLIENT_BUFFER;
    const c = new ChunkCredit(sink, (n) => grants.push(n), () => true);
    c.add(WINDOW_STEP);
    expect(grants).toEqual([WINDOW_STEP]);
  });

  test('the agent window holds several credit steps, and at least 1 MiB (a hub granting in 1 MiB steps still grants)', () => {
    expect(INITIAL_CHUNK_WINDOW).toBeGreaterThanOrEqual(1 << 20);
    expect(INITIAL_CHUNK_WINDOW).toBeGreaterThanOrEqual(2 * WINDOW_STEP);
  });

  test('while the client has more than MAX_CLIENT_BUFFER unread, credit waits for its drain event', () => {
    const grants: number[] = [];
    const sink = new Sink();
    sink.writableLength = MAX_CLIENT_BUFFER + 1;
    const c = new ChunkCredit(sink, (n) => grants.push(n), () => true);
    c.add(WINDOW_STEP);
    c.add(10);
    expect(grants).toEqual([]);
    expect(sink.listenerCount('drain')).toBe(1);
    sink.writableLength = 0;
    sink.emit('drain');
    expect(grants).toEqual([WINDOW_STEP + 10]);
  });

  test('no credit for a request that is over', () => {
    const grants: number[] = [];
    let live = true;
    const sink = new Sink();
    sink.writableLength = MAX_CLIENT_BUFFER * 2;
    const c = new ChunkCredit(sink, (n) => grants.push(n), () => live);
    c.add(WINDOW_STEP);
    live = false;
    sink.writableLength = 0;
    sink.emit('drain');
    expect(grants).toEqual([]);
  });
});

describe('proxy_window', () => {
  test('the message carries the request id at top level and the increment in the payload', () => {
    expect(windowMessage('r-1', 4096)).toEqual({ type: 'proxy_window', requestId: 'r-1', payload: { increment: 4096 } });
  });

  test('only a positive number is an increment', () => {
    expect(windowIncrement({ increment: 1 })).toBe(1);
    expect(windowIncrement({ increment: 0.5 })).toBe(0.5);
    for (const bad of [0, -1, Number.NaN, '5', null, undefined, [5], { n: 5 }]) expect(windowIncrement({ increment: bad }), String(bad)).toBeNull();
    expect(windowIncrement({})).toBeNull();
  });
});
