// When a relaying thread's quiet collection may drop compiled code: never within keepMs of relayed traffic.
import { expect, test } from 'bun:test';
import { collectUnder } from '../../src/threads/quiet-collector.ts';
import { ShrinkPolicy } from '../../src/threads/shrink-policy.ts';

test('shrinks when no gateway request was ever seen (start-up, agent sessions only)', () => {
  const p = new ShrinkPolicy(60_000);
  expect(p.shrinkAt(1_000)).toBe(true);
  expect(p.shrinkAt(11_000)).toBe(true);
});

test('a gateway request keeps compiled code for keepMs after the collection that saw it, then shrinks again', () => {
  const p = new ShrinkPolicy(60_000);
  p.relayed();
  expect(p.shrinkAt(5_000)).toBe(false);
  expect(p.shrinkAt(30_000)).toBe(false); // agent activity only since: still within the minute
  expect(p.shrinkAt(64_999)).toBe(false);
  expect(p.shrinkAt(65_000)).toBe(true);
  p.relayed();
  expect(p.shrinkAt(70_000)).toBe(false);
});

test('collectUnder: the collection shrinks unless the thread relayed within the keep time, and says which it did', () => {
  const calls: boolean[] = [];
  let now = 0;
  const p = new ShrinkPolicy(60_000);
  const collect = collectUnder(p, () => now, (o) => calls.push(o.shrink));
  now = 1_000;
  expect(collect()).toBe(true); // nothing relayed yet: start-up garbage and code go
  p.relayed();
  now = 2_000;
  expect(collect()).toBe(false); // a quiet second after a burst: collect, keep the relay's code
  now = 61_999;
  expect(collect()).toBe(false);
  now = 62_000;
  expect(collect()).toBe(true);
  expect(calls).toEqual([true, false, false, true]);
});
