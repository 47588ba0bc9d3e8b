import { expect, test } from 'bun:test';
import { MetricBatch, sameLabels } from '../../src/threads/metric-batch.ts';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';

function flushed(updates: MetricUpdate[]): MetricUpdate[] {
  const out: MetricUpdate[] = [];
  const b = new MetricBatch((u) => out.push(...u), 60_000);
  for (const u of updates) b.add(u);
  b.flush();
  return out;
}

test('increments of one series are summed; different label sets stay apart, even ones a naive key would merge', () => {
  const out = flushed([
    { name: 'm', op: 'inc', labels: { a: 'x', b: 'y' } },
    { name: 'm', op: 'inc', value: 2, labels: { a: 'x', b: 'y' } },
    { name: 'm', op: 'inc', labels: { a: 'x|1:b1:y' } },
    { name: 'm', op: 'inc', labels: { a: 'x', b: 'y|' } },
    { name: 'm', op: 'inc' },
    { name: 'm', op: 'inc', labels: {} },
  ]);
  const total = (labels?: Record<string, string>) =>
    out.filter((u) => JSON.stringify(u.labels ?? {}) === JSON.stringify(labels ?? {})).reduce((a, u) => a + (u.value ?? 0), 0);
  expect(total({ a: 'x', b: 'y' })).toBe(3);
  expect(total({ a: 'x|1:b1:y' })).toBe(1);
  expect(total({ a: 'x', b: 'y|' })).toBe(1);
  expect(total()).toBe(2);
});

test('the same labels written in another order still add up to the same series total', () => {
  const out = flushed([
    { name: 'm', op: 'inc', labels: { a: '1', b: '2' } },
    { name: 'm', op: 'inc', labels: { b: '2', a: '1' } },
  ]);
  expect(out.reduce((a, u) => a + (u.labels?.a === '1' && u.labels?.b === '2' ? (u.value ?? 0) : 0), 0)).toBe(2);
});

test('observations of one series travel as one update with every value in order; other label sets stay apart', () => {
  const out = flushed([
    { name: 'h', op: 'observe', value: 0.1, labels: { target: 'kubernetes' } },
    { name: 'h', op: 'observe', value: 0.2, labels: { target: 'service' } },
    { name: 'h', op: 'observe', value: 0.3, labels: { target: 'kubernetes' } },
    { name: 'h', op: 'observe', values: [0.4, 0.5], labels: { target: 'kubernetes' } },
    { name: 'h2', op: 'observe', value: 1 },
  ]);
  expect(out).toEqual([
    { name: 'h', op: 'observe', values: [0.1, 0.3, 0.4, 0.5], labels: { target: 'kubernetes' } },
    { name: 'h', op: 'observe', values: [0.2], labels: { target: 'service' } },
    { name: 'h2', op: 'observe', values: [1] },
  ]);
});

test('a full batch of observations is posted at once, without waiting for the interval', () => {
  const posts: MetricUpdate[][] = [];
  const b = new MetricBatch((u) => posts.push(u), 60_000, 3);
  b.add({ name: 'h', op: 'observe', value: 1 });
  b.add({ name: 'c', op: 'inc' });
  b.add({ name: 'h', op: 'observe', value: 2 });
  expect(posts).toEqual([]);
  b.add({ name: 'h', op: 'observe', value: 3 });
  expect(posts).toEqual([[{ name: 'c', op: 'inc', value: 1 }, { name: 'h', op: 'observe', values: [1, 2, 3] }]]);
  b.flush();
  expect(posts.length).toBe(1);
});

test('sameLabels compares values in any order, and an absent label set equals an empty one', () => {
  expect(sameLabels({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
  expect(sameLabels(undefined, {})).toBe(true);
  expect(sameLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
  expect(sameLabels({ a: '1', b: '2' }, { a: '1' })).toBe(false);
  expect(sameLabels({ a: '1' }, { b: '1' })).toBe(false);
  expect(sameLabels({ a: '1' }, undefined)).toBe(false);
});
