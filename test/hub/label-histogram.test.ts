// LabelHistogram against prom-client's own Histogram: the same observations give the same scrape text (and the
// same JSON), whatever the label values (escaping), the values (bounds exactly, above every bound, zero) and order.
import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { LabelHistogram } from '../../src/hub/label-histogram.ts';

const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A registry with a counter around the histogram: the histogram's place in the text matters too. */
function pair() {
  const ref = new Registry();
  const ours = new Registry();
  for (const r of [ref, ours]) new Counter({ name: 'before_total', help: 'b', registers: [r] }).inc();
  const h = new Histogram({ name: 'd_seconds', help: 'Duration "quoted" \\ help', labelNames: ['cluster', 'verb'], buckets: BOUNDS, registers: [ref] });
  const l = new LabelHistogram('d_seconds', 'Duration "quoted" \\ help', ['cluster', 'verb'], BOUNDS, ours);
  for (const r of [ref, ours]) new Counter({ name: 'after_total', help: 'a', registers: [r] }).inc(2);
  return { ref, ours, h, l };
}

test('property: the same scrape text and JSON as prom-client Histogram for the same observations', async () => {
  const label = fc.oneof(fc.constantFrom('c-1', 'c-2', '', 'a"b', 'back\\slash', 'new\nline', 'GET', 'WATCH'), fc.string({ maxLength: 6 }));
  const value = fc.oneof(fc.constantFrom(0, ...BOUNDS, 31, 1e9, 0.0049999), fc.double({ min: 0, max: 60, noNaN: true }));
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(label, label, value), { maxLength: 40 }), async (obs) => {
      const { ref, ours, h, l } = pair();
      for (const [a, b, v] of obs) {
        h.observe({ cluster: a, verb: b }, v);
        l.observe(a, b, v);
      }
      expect(await ours.metrics()).toBe(await ref.metrics());
      expect(JSON.stringify(await ours.getMetricsAsJSON())).toBe(JSON.stringify(await ref.getMetricsAsJSON()));
    }),
    { numRuns: 300 },
  );
});

test('reset empties it, as the registry resets prom-client metrics', async () => {
  const { ref, ours, h, l } = pair();
  h.observe({ cluster: 'c', verb: 'GET' }, 0.2);
  l.observe('c', 'GET', 0.2);
  ref.resetMetrics();
  ours.resetMetrics();
  expect(await ours.metrics()).toBe(await ref.metrics());
  expect(await ours.metrics()).not.toContain('d_seconds_bucket');
});
