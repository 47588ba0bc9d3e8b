// src/agent/prom.ts loads prom-client's modules one by one instead of its index; they must be the very classes and
// function the index exports, so metrics, `instanceof` checks and the exposition are those of prom-client itself.
import { expect, test } from 'bun:test';
import * as index from 'prom-client';
import * as parts from '../../src/agent/prom.ts';

test('the parts are what prom-client exports', () => {
  expect(parts.Counter).toBe(index.Counter);
  expect(parts.Gauge).toBe(index.Gauge);
  expect(parts.Histogram).toBe(index.Histogram);
  expect(parts.Registry).toBe(index.Registry);
  expect(parts.collectDefaultMetrics).toBe(index.collectDefaultMetrics);
});

test('a registry built from the parts writes the default metrics and ours', async () => {
  const registry = new parts.Registry();
  parts.collectDefaultMetrics({ register: registry });
  new parts.Counter({ name: 'probe_total', help: 'probe', registers: [registry] }).inc();
  const text = await registry.metrics();
  expect(text).toContain('# TYPE process_cpu_seconds_total counter');
  expect(text).toContain('probe_total 1');
});
