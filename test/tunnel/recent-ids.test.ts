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

test('ids re-added over and over stay known, and fall out once newer ids fill the capacity', () => {
  const r = new RecentIds(4);
  for (let i = 0; i < 10_000; i++) r.add(`id${i % 3}`);
  expect(['id0', 'id1', 'id2'].every((id) => r.has(id))).toBe(true);
  for (const id of ['p', 'q', 'r', 's']) r.add(id);
  // The four newest are kept; the three re-added ones were older.
  expect(['id0', 'id1', 'id2'].some((id) => r.has(id))).toBe(false);
  expect(['p', 'q', 'r', 's'].every((id) => r.has(id))).toBe(true);
});

test('recent ids match a reference model (insertion order with refresh) on random sequences', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let trial = 0; trial < 50; trial++) {
    const cap = 1 + Math.floor(rand() * 6);
    const r = new RecentIds(cap);
    const model: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = `i${Math.floor(rand() * 12)}`;
      r.add(id);
      const at = model.indexOf(id);
      if (at >= 0) model.splice(at, 1);
      model.push(id);
      if (model.length > cap) model.shift();
      for (let j = 0; j < 12; j++) expect(r.has(`i${j}`)).toBe(model.includes(`i${j}`));
    }
  }
});
