import { describe, expect, test } from 'bun:test';
import type { WorkerPort } from '../../src/runtime/worker-port.ts';
import { collectWhenQuiet, QuietCollector } from '../../src/threads/quiet-collector.ts';

describe('QuietCollector', () => {
  const make = () => {
    const runs: [number, boolean][] = [];
    let now = 0;
    const c = new QuietCollector({ quietMs: 1000, shrinkMs: 30_000, collect: (o) => runs.push([now, o.shrink]) });
    return { c, runs, at: (t: number) => (now = t) };
  };
  /** Ticks every 500 ms from `from` to `to` (inclusive), as start() does. */
  const ticks = (c: QuietCollector, at: (t: number) => number, from: number, to: number) => {
    for (let t = from; t <= to; t += 500) c.tick(at(t));
  };

  test('never collects without activity', () => {
    const { c, runs, at } = make();
    ticks(c, at, 0, 100_000);
    expect(runs).toEqual([]);
  });

  test('the first quiet second (after start-up) shrinks; later bursts get a plain collection a quiet second after', () => {
    const { c, runs, at } = make();
    for (let t = 0; t <= 2000; t += 200) c.poke(t), c.tick(at(t));
    expect(runs).toEqual([]);
    ticks(c, at, 2500, 3000);
    expect(runs).toEqual([[3000, true]]);
    for (let t = 10_000; t <= 15_000; t += 200) c.poke(t), c.tick(at(t));
    expect(runs.length).toBe(1); // never during a burst
    ticks(c, at, 15_500, 16_000);
    expect(runs).toEqual([
      [3000, true],
      [16_000, false],
    ]);
  });

  test('a long quiet after a burst shrinks once; more quiet does nothing', () => {
    const { c, runs, at } = make();
    c.poke(0);
    ticks(c, at, 0, 1000); // start-up shrink
    c.poke(5000);
    ticks(c, at, 5000, 100_000);
    expect(runs).toEqual([
      [1000, true],
      [6000, false],
      [35_000, true],
    ]);
    expect(c.collections).toBe(3);
    expect(c.shrinks).toBe(2);
  });

  test('start() ticks on a timer until stopped', async () => {
    let collected = 0;
    const c = new QuietCollector({ quietMs: 50, shrinkMs: 60_000, collect: () => collected++ });
    c.poke(Date.now());
    const stop = c.start();
    const deadline = Date.now() + 5000;
    while (collected === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    stop();
    expect(collected).toBe(1);
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
