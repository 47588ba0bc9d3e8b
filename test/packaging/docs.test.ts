// Generated docs are fresh: docs/metrics.md from METRICS, docs/hub-metrics.md from HUB_METRICS (`npm run docs` regenerates them).
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { METRICS } from '../../src/agent/metrics.ts';
import { METRICS_DOC, renderMetricsDocs } from '../../scripts/gen-metrics-docs.ts';
import { HUB_METRICS } from '../../src/hub/hub-metrics.ts';
import { HUB_METRICS_DOC, renderHubMetricsDocs } from '../../scripts/gen-hub-metrics-docs.ts';

test('docs/metrics.md equals the one generated from METRICS', () => {
  expect(readFileSync(METRICS_DOC, 'utf8')).toBe(renderMetricsDocs());
});

test('every metric appears once in docs/metrics.md', () => {
  const doc = readFileSync(METRICS_DOC, 'utf8');
  for (const m of METRICS) expect(doc.split(`| \`${m.name}\` |`).length - 1).toBe(1);
});

test('docs/hub-metrics.md equals the one generated from HUB_METRICS', () => {
  expect(readFileSync(HUB_METRICS_DOC, 'utf8')).toBe(renderHubMetricsDocs());
});

test('every hub metric appears once in docs/hub-metrics.md', () => {
  const doc = readFileSync(HUB_METRICS_DOC, 'utf8');
  for (const m of HUB_METRICS) expect(doc.split(`| \`${m.name}\` |`).length - 1).toBe(1);
});
