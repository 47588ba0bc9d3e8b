import { describe, expect, test } from 'bun:test';
import type { WorkerPort } from '../../src/runtime/worker-port.ts';
import { collectWhenQuiet, markThreadRelayed, QuietCollector } from '../../src/threads/quiet-collector.ts';
import { waitFor } from '../support/wait.ts';

describe('QuietCollector', () => {
  const make = () => {
    const runs: number[] = [];
    let now = 0;
    const c = new QuietCollector({ quietMs: 1000, collect: () => runs.push(now) });
    return { c, runs, at: (t: number) => (now = t) };
  };

  test('never collects without activity', () => {
    const { c, runs } = make();
    for (let t = 0; t <= 10_000; t += 500) c.tick(t);
    expect(runs).toEqual([]);
  });

  test('collects once, a quiet second after the last activity, not during a burst', () => {
    const { c, runs, at } = make();
    for (let t = 0; t <= 5000; t += 200) {
      c.poke(t);
      c.tick(at(t));
    }
    expect(runs).toEqual([]);
    expect(c.tick(at(5900))).toBe(false);
    expect(c.tick(at(6000))).toBe(true);
    for (let t = 6500; t <= 20_000; t += 500) c.tick(at(t));
    expect(runs).toEqual([6000]);
    expect(c.collections).toBe(1);
  });

  test('touch() (a socket frame, no clock read) keeps a busy thread from collecting; the quiet second counts from the tick that saw it', () => {
    const { c, runs, at } = make();
    // Busy for 5 s with frames between every tick, and nothing else (no poke): no collection meanwhile.
    for (let t = 0; t <= 5000; t += 500) {
      c.touch();
      c.tick(at(t));
    }
    expect(runs).toEqual([]);
    expect(c.tick(at(5500))).toBe(false);
    expect(c.tick(at(6000))).toBe(true);
    expect(runs).toEqual([6000]);
  });

  test('a later burst earns another collection', () => {
    const { c, runs, at } = make();
    c.poke(0);
    c.tick(at(1000));
    c.poke(30_000);
    c.tick(at(30_500));
    c.tick(at(31_000));
    expect(runs).toEqual([1000, 31_000]);
  });

  test('minIntervalMs: sparse activity collects at most once per interval, and the last activity is still collected', () => {
    const runs: number[] = [];
    let now = 0;
    const c = new QuietCollector({ quietMs: 1000, minIntervalMs: 10_000, collect: () => runs.push(now) });
    // One message every 2 s: without the interval each would earn a collection a second later.
    for (let t = 0; t <= 20_000; t += 100) {
      now = t;
      if (t % 2000 === 0) c.poke(t);
      c.tick(t);
    }
    expect(runs).toEqual([1000, 11_000]);
    // The activity after 11 s is still collected once the interval has passed and it is quiet.
    for (let t = 20_100; t <= 40_000; t += 100) {
      now = t;
      c.tick(t);
    }
    expect(runs).toEqual([1000, 11_000, 21_000]);
  });

  test('start() ticks on a timer until stopped', async () => {
    let collected = 0;
    const c = new QuietCollector({ quietMs: 50, collect: () => collected++ });
    c.poke(Date.now());
    const stop = c.start();
    const deadline = Date.now() + 5000;
    while (collected === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stop();
    expect(collected).toBe(1);
  });

  test('collectWhenQuiet: after relayed traffic the quiet collection keeps the code, and comes back to shrink once the keep time is over', async () => {
    const runs: boolean[] = [];
    const inner: WorkerPort<string, string> = { post: () => {}, onMessage: () => {} };
    const port = collectWhenQuiet(inner, { quietMs: 40, keepMs: 300, collect: (o) => runs.push(o.shrink) });
    port.post('start-up');
    await waitFor(() => runs.length === 1, { what: 'the start-up collection' });
    expect(runs).toEqual([true]); // nothing relayed yet: shrink
    markThreadRelayed();
    port.post('metrics of a relayed burst');
    await waitFor(() => runs.length === 2, { what: 'the collection after the burst' });
    expect(runs).toEqual([true, false]); // within the keep time: collect only
    // No activity at all afterwards: the collection comes back by itself once the keep time is over, and shrinks.
    await waitFor(() => runs.length === 3, { what: 'the shrink after the keep time', timeoutMs: 5000 });
    expect(runs).toEqual([true, false, true]);
  });

  test('collectWhenQuiet passes messages through both ways', () => {
    const posted: unknown[] = [];
    let handler: ((m: string) => void) | null = null;
    const inner: WorkerPort<string, string> = { post: (m) => posted.push(m), onMessage: (h) => (handler = h) };
    const port = collectWhenQuiet(inner);
    const got: string[] = [];
    port.onMessage((m) => got.push(m));
    port.post('metrics');
    handler!('init');
    expect(posted).toEqual(['metrics']);
    expect(got).toEqual(['init']);
  });
});
