import { expect, test } from 'bun:test';
import { RecentIds } from '../../src/tunnel/recent-ids.ts';

test('recent ids are bounded: the oldest is forgotten first, a re-added id counts as new', () => {
  const r = new RecentIds(3);
  for (const id of ['a', 'b', 'c']) r.add(id);
  r.add('a'); // refreshed: now the newest
  r.add('d'); // evicts b, the oldest
  expect(['a', 'b', 'c', 'd'].map((id) => r.has(id))).toEqual([true, false, true, true]);
  for (let i = 0; i < 1000; i++) r.add(`x${i}`);
  expect(r.has('a') || r.has('c') || r.has('d')).toBe(false);
  expect(r.has('x999') && r.has('x997') && !r.has('x996')).toBe(true);
});
