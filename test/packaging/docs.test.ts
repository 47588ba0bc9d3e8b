// Generated docs are fresh: docs/metrics.md from METRICS (`npm run docs` regenerates it).
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { METRICS } from '../../src/agent/metrics.ts';
import { METRICS_DOC, renderMetricsDocs } from '../../scripts/gen-metrics-docs.ts';

test('docs/metrics.md equals the one generated from METRICS', () => {
  expect(readFileSync(METRICS_DOC, 'utf8')).toBe(renderMetricsDocs());
});

test('every metric appears once in docs/metrics.md', () => {
  const doc = readFileSync(METRICS_DOC, 'utf8');
  for (const m of METRICS) expect(doc.split(`| \`${m.name}\` |`).length - 1).toBe(1);
});
