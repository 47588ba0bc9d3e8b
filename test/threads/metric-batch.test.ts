import { expect, test } from 'bun:test';
import { MetricBatch } from '../../src/threads/metric-batch.ts';
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
