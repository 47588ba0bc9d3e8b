// When the hub's quiet collection may drop compiled code: never within keepMs of a gateway request.
import { expect, test } from 'bun:test';
import { ShrinkPolicy } from '../../src/hub/shrink-policy.ts';

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
